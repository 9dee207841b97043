"""Entry-point module of the template_formatter plugin (loaded at discovery: keep it light).

Registers the :class:`~gencomp_template_formatter.TemplateFormatter` as the default formatter and as
the formatter named ``template``, and adds ``gencomp templates which``. jinja2 is imported only
when a formatter is built or the command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from gencomp.model_ids import ModelIdentifier
from gencomp.plugins import hookimpl


def make_formatter(model_id: str | ModelIdentifier, **kwargs: Any) -> Any:
    """Build a ``TemplateFormatter(model_id, **kwargs)``."""
    from gencomp_template_formatter.formatter import TemplateFormatter

    return TemplateFormatter(model_id, **kwargs)


@hookimpl
def gencomp_default_formatter(model_id: str | ModelIdentifier) -> Any:
    return make_formatter(model_id)


@hookimpl
def gencomp_register_formatters(register: Callable[..., None]) -> None:
    register(
        "template",
        make_formatter,
        description="jinja2 prompt templates looked up by component and model family (prompts/<family>/<Name>.jinja2)",
    )


@hookimpl
def gencomp_register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("templates", help="inspect prompt template lookup")
    sub = p.add_subparsers(dest="templates_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    w = sub.add_parser(
        "which",
        help="show the template file a component resolves to for a model, and every folder searched",
        description=(
            "Resolve COMPONENT (a template name such as Instruction, or several names tried in order, "
            "comma-separated: ToolMessage,Message) for the model id and print the file found and every "
            "folder searched."
        ),
    )
    w.add_argument("component", metavar="COMPONENT", help="template name, e.g. Instruction (or A,B to try in order)")
    w.add_argument("--model", "-m", required=True, help="model id the lookup matches folder names against")
    w.add_argument("--template-path", default="", help="a user template folder, searched first")
    w.add_argument("--package", help="also search this package's templates folder (as for its components)")
    w.add_argument("--json", action="store_true", help="print JSON")
    w.set_defaults(func=cmd_templates_which)


def cmd_templates_which(args: argparse.Namespace) -> int:
    """``gencomp templates which``: prints the resolved file and the folders searched; exit code 1 if none."""
    from gencomp_template_formatter.formatter import TemplateFormatter

    names = [n.strip() for n in args.component.split(",") if n.strip()]
    if not names:
        print("gencomp: error: give a template name, e.g. Instruction")
        return 2
    formatter = TemplateFormatter(args.model, template_path=args.template_path, use_template_cache=False)
    result = formatter.find_template(names, package=args.package)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0 if result.path is not None else 1
    if result.path is not None:
        print(result.path)
        print(f"  (template {result.name} from {result.root.source if result.root else '?'})")
    else:
        print(f"no template found for {', '.join(result.names)}")
    print(f"model id: {result.model_id!r} (simplified: {result.as_dict()['simplified_model_id']!r})")
    print("searched, in order:")
    print(result.describe_search())
    return 0 if result.path is not None else 1
