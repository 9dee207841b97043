"""The ``gencomp`` command: plugins, backends, models, instruct and chat; plugins add more."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from gencomp import plugins
from gencomp.errors import GencompError

__all__ = ["build_parser", "main"]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_plugins(args: argparse.Namespace) -> int:
    records = plugins.plugin_records()
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    if not records:
        print("no plugins installed (entry-point group 'gencomp')")
        return 0
    rows = [
        [
            r.name,
            r.distribution or "-",
            r.version or "-",
            r.status,
            ", ".join(h.removeprefix("gencomp_") for h in r.hooks),
        ]
        for r in records
    ]
    print(_table(rows, ["name", "distribution", "version", "status", "hooks"]))
    for r in records:
        if r.error:
            print(f"\n{r.name}: {r.status}: {r.error}")
        for conflict in r.conflicts:
            print(f"\n{r.name}: {conflict}")
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    reg = plugins.registry()
    items: list[dict[str, Any]] = [
        {
            "name": s.name,
            "aliases": list(s.aliases),
            "plugin": s.plugin,
            "default_model": s.default_model,
            "description": s.description,
        }
        for s in reg.backends.values()
    ]
    models: list[dict[str, Any]] = [
        {
            "name": m.name,
            "aliases": list(m.aliases),
            "backend": m.backend,
            "plugin": m.plugin,
            "description": m.description,
        }
        for m in reg.models.values()
    ]
    if args.json:
        print(json.dumps({"backends": items, "models": models}, indent=2))
        return 0
    rows = [
        [i["name"], ", ".join(i["aliases"]), i["plugin"], i["default_model"] or "-", i["description"]] for i in items
    ]
    print(
        _table(rows, ["backend", "aliases", "plugin", "default model", "description"])
        if rows
        else "no backends installed"
    )
    if models:
        print()
        rows = [[m["name"], m["backend"], m["plugin"], m["description"]] for m in models]
        print(_table(rows, ["model", "backend", "plugin", "description"]))
    return 0


def _session(args: argparse.Namespace) -> Any:
    from gencomp.session import start_session

    options: dict[str, Any] = {}
    if getattr(args, "max_new_tokens", None) is not None:
        from gencomp.model_options import ModelOption

        options[ModelOption.MAX_NEW_TOKENS] = args.max_new_tokens
    return start_session(args.backend, args.model, model_options=options or None)


def cmd_instruct(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    session = _session(args)
    loaded = time.perf_counter()
    result = session.instruct(
        args.description, requirements=args.req or None, loop_budget=args.loop_budget, return_sampling_results=True
    )
    done = time.perf_counter()
    attempts = []
    for n, (out, checks) in enumerate(zip(result.sample_generations, result.sample_validations, strict=True), 1):
        attempts.append(
            {
                "attempt": n,
                "answer": out.value,
                "checks": [
                    {"requirement": r.description, "passed": v.result, "p_yes": v.score, "path": _check_path(v)}
                    for r, v in checks
                ],
            }
        )
    if args.json:
        print(
            json.dumps(
                {
                    "answer": result.result.value,
                    "success": result.success,
                    "attempts": attempts,
                    "load_seconds": loaded - start,
                    "run_seconds": done - loaded,
                },
                indent=2,
            )
        )
        return 0 if result.success else 1
    for a in attempts:
        if len(attempts) > 1:
            print(f"--- attempt {a['attempt']}")
        print(a["answer"])
        for c in a["checks"]:
            score = f" p(yes)={c['p_yes']:.2f}" if c["p_yes"] is not None else ""
            print(f"  [{'pass' if c['passed'] else 'FAIL'}] {c['requirement']}  ({c['path']}{score})")
    status = "all requirements passed" if result.success else "requirements failed"
    if not args.req:
        status = "no requirements"
    print(f"\n{status}; model loaded in {loaded - start:.1f}s, answered in {done - loaded:.1f}s")
    return 0 if result.success else 1


def _check_path(v: Any) -> str:
    thunk = getattr(v, "thunk", None)
    if thunk is None:
        return "validation function"
    return str(thunk.meta.get("check_path", "llm-as-a-judge"))


def cmd_chat(args: argparse.Namespace) -> int:
    session = _session(args)
    if args.message:
        for m in args.message:
            print(session.chat(m).content)
        return 0
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or line.strip() in {"/exit", "/quit"}:
            return 0
        if not line.strip():
            continue
        start = time.perf_counter()
        reply = session.chat(line.strip())
        print(reply.content)
        if interactive:
            print(f"({time.perf_counter() - start:.1f}s)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", "-b", help="backend name or alias (default: configuration, else 'hf')")
    p.add_argument("--model", "-m", help="model id, local folder or registered model name")
    p.add_argument("--max-new-tokens", type=int, default=None, help="cap on generated tokens")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with subcommands from every plugin's ``gencomp_register_commands``."""
    parser = argparse.ArgumentParser(prog="gencomp", description="Generative programs on pluggable backends.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list installed plugins, their hooks and load errors")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("backends", help="list registered backends and models")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("instruct", help="run an instruction, validate it against requirements, print verdicts")
    p.add_argument("description", help="what the model should do")
    p.add_argument("--req", "-r", action="append", help="a requirement (repeatable)")
    p.add_argument("--loop-budget", type=int, default=2, help="attempts, first included (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_model_args(p)
    p.set_defaults(func=cmd_instruct)

    p = sub.add_parser("chat", help="chat with a model (reads lines from standard input)")
    p.add_argument("--message", "-M", action="append", help="send this message instead of reading input (repeatable)")
    _add_model_args(p)
    p.set_defaults(func=cmd_chat)

    plugins.register_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except GencompError as exc:
        print(f"gencomp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
