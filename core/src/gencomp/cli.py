"""The ``gencomp`` command: plugins, backends, models, instruct and chat; plugins add more."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from gencomp import plugins
from gencomp.errors import GencompError

__all__ = ["DEBUG_VARIABLE", "ArgumentParser", "build_parser", "int_at_least", "main"]

DEBUG_VARIABLE = "GENCOMP_DEBUG"
"""Set to ``1`` for the traceback of an error (the same as ``--debug``)."""


class UsageError(Exception):
    """A command-line mistake found by the argument parser."""


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose mistakes become one ``gencomp: error:`` line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number that is at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}"
    return parse


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
    kwargs: dict[str, Any] = {}
    if getattr(args, "threads", None) is not None:
        kwargs["threads"] = args.threads
    return start_session(args.backend, args.model, model_options=options or None, **kwargs)


def _check_line(r: Any, v: Any) -> str:
    """One verdict: ``[pass]``, ``[FAIL]``, or ``[????]`` with the reason when the verdict is uncertain."""
    uncertain = v.uncertain_reason if v.state == "uncertain" else None
    mark = "????" if v.state == "uncertain" else "pass" if v.result else "FAIL"
    score = f" p(yes)={v.score:.2f}" if v.score is not None else ""
    stopped = f" stopped at token {v.stopped_at_token}" if v.stopped_at_token is not None else ""
    reason = f": {v.reason}" if v.thunk is None and v.reason else ""  # a model's reason is its raw answer
    doubt = f", uncertain: {uncertain}" if uncertain else ""
    validation = getattr(v.verdict, "validation", None)
    measured = f", {validation}" if validation else ""
    return f"  [{mark}] {r.description}  ({_check_path(v)}{score}{measured}{doubt}{stopped}{reason})"


def _streams(args: argparse.Namespace) -> bool:
    """Stream to a terminal unless told not to; piped output is printed once complete (same content)."""
    return not getattr(args, "json", False) and not args.no_stream and sys.stdout.isatty()


def cmd_instruct(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    session = _session(args)
    loaded = time.perf_counter()
    kwargs: dict[str, Any] = {"requirements": args.req or None, "loop_budget": args.loop_budget}
    headers = bool(args.req) and args.loop_budget > 1  # the same lines whether streamed or not
    result: Any
    if _streams(args):
        with session.instruct_stream(args.description, **kwargs) as stream:
            shown = 0
            for chunk in stream:
                if chunk.checks is not None:  # the attempt's answer is complete: its verdicts
                    print()
                    for r, v in chunk.checks:
                        print(_check_line(r, v))
                    continue
                if headers and chunk.attempt != shown:
                    shown = chunk.attempt
                    print(f"--- attempt {chunk.attempt}")
                print(chunk.text, end="", flush=True)
            result = stream.result
        if not args.req:
            print()
    else:
        result = session.instruct(args.description, return_sampling_results=True, **kwargs)
    done = time.perf_counter()
    if args.json:
        attempts = [
            {
                "attempt": n,
                "answer": out.value,
                "checks": [
                    {
                        "requirement": r.description,
                        "passed": v.result,
                        "p_yes": v.score,
                        "path": _check_path(v),
                        "validated": getattr(v.verdict, "validated", None),
                        "accuracy": getattr(v.verdict, "accuracy", None),
                        "validation": getattr(v.verdict, "validation", None),
                        "state": v.state,
                        "uncertain_reason": v.uncertain_reason,
                        "reason": v.reason,
                        "stopped_at_token": v.stopped_at_token,
                    }
                    for r, v in checks
                ],
            }
            for n, (out, checks) in enumerate(zip(result.sample_generations, result.sample_validations, strict=True), 1)
        ]
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
    if not _streams(args):
        for n, (out, checks) in enumerate(zip(result.sample_generations, result.sample_validations, strict=True), 1):
            if headers:
                print(f"--- attempt {n}")
            print(out.value)
            for r, v in checks:
                print(_check_line(r, v))
    status = "all requirements passed" if result.success else "requirements failed"
    if not args.req:
        status = "no requirements"
    print(f"\n{status}; model loaded in {loaded - start:.1f}s, answered in {done - loaded:.1f}s")
    return 0 if result.success else 1


def _check_path(v: Any) -> str:
    if getattr(v, "check_path", None):
        return str(v.check_path)
    thunk = getattr(v, "thunk", None)
    if thunk is None:
        return "validation function"
    return str(thunk.meta.get("check_path", "llm-as-a-judge"))


def _chat_turn(session: Any, text: str, quiet_warnings: bool, stream: bool) -> None:
    """One chat turn, its reply printed (streamed when ``stream``).

    When the conversation outgrows the model's context window, its oldest turns are dropped (before
    anything of the reply is printed: the window is checked before generating).
    """
    from gencomp.errors import ContextWindowError

    dropped = 0
    while True:
        try:
            with warnings.catch_warnings():
                if quiet_warnings:  # nothing between the prompt and the reply
                    warnings.simplefilter("ignore")
                if stream:
                    with session.chat_stream(text) as chunks:
                        for chunk in chunks:
                            print(chunk.text, end="", flush=True)
                    print()
                else:
                    print(session.chat(text).content)
            break
        except ContextWindowError:
            if len(session.ctx) < 2:
                raise
            session.ctx.drop_oldest(2)
            dropped += 1
    if dropped:
        print(
            f"gencomp: note: dropped the {dropped} oldest turn(s) to stay within the model's context window",
            file=sys.stderr,
        )


def cmd_chat(args: argparse.Namespace) -> int:
    session = _session(args)
    if args.message:
        for m in args.message:
            _chat_turn(session, m, quiet_warnings=False, stream=_streams(args))
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
        _chat_turn(session, line.strip(), quiet_warnings=interactive, stream=_streams(args))
        if interactive:
            print(f"({time.perf_counter() - start:.1f}s)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", "-b", help="backend name or alias (default: configuration, else 'hf')")
    p.add_argument("--model", "-m", help="model id, local folder or registered model name")
    p.add_argument("--max-new-tokens", type=int_at_least(1), default=None, help="cap on generated tokens")
    p.add_argument(
        "--threads",
        type=int_at_least(0),
        default=None,
        help="CPU threads per operation (default: $GENCOMP_THREADS, gencomp.toml, else the backend's: 1 for hf; "
        "0: the library's own)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with subcommands from every plugin's ``gencomp_register_commands``."""
    from gencomp import __version__

    parser = ArgumentParser(prog="gencomp", description="Generative programs on pluggable backends.")
    parser.add_argument("--version", action="version", version=f"gencomp {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an error (also: {DEBUG_VARIABLE}=1)"
    )
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
    p.add_argument("--loop-budget", type=int_at_least(1), default=2, help="attempts, first included (default 2)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--no-stream", action="store_true", help="print the answer once complete (default on a terminal: stream it)"
    )
    _add_model_args(p)
    p.set_defaults(func=cmd_instruct)

    p = sub.add_parser(
        "chat",
        help="chat with a model (reads lines from standard input); when the conversation outgrows the model's "
        "context window, its oldest turns are dropped",
    )
    p.add_argument("--message", "-M", action="append", help="send this message instead of reading input (repeatable)")
    p.add_argument(
        "--no-stream", action="store_true", help="print each reply once complete (default on a terminal: stream it)"
    )
    _add_model_args(p)
    p.set_defaults(func=cmd_chat)

    plugins.register_commands(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, (GencompError, UsageError)):
        return text
    if isinstance(exc, KeyError) and len(exc.args) == 1:  # str(KeyError) adds quotes
        text = " ".join(str(exc.args[0]).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    print(f"gencomp: warning: {' '.join(str(message).split())}", file=sys.stderr)


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """A user sees answers and gencomp's own warnings, one line each; no library deprecation notes or logs.

    Everything is put back afterwards (``main`` may run inside a longer-lived process).
    """
    saved = {name: os.environ.get(name) for name in _LIBRARY_VARIABLES}
    os.environ.update(_LIBRARY_VARIABLES)
    hf_logging: Any = None
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging
    verbosity = hf_logging.get_verbosity() if hf_logging is not None else None
    if hf_logging is not None:
        hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category)
            warnings.showwarning = _show_warning
            yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        if "transformers" in sys.modules:
            from transformers.utils import logging as hf_logging

            if verbosity is not None:
                hf_logging.set_verbosity(verbosity)
            else:
                hf_logging.set_verbosity_warning()  # its default


_LIBRARY_VARIABLES = {"TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
"""Read by transformers when it is imported: no log lines below errors, no advisory warnings."""


def _debug_requested(argv: Sequence[str]) -> bool:
    if os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    options = list(argv[: list(argv).index("--")] if "--" in argv else argv)
    return "--debug" in options


def _close_stdout_quietly() -> None:
    """After a broken pipe (``gencomp ... | head``): stop writing, so nothing is reported at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Every error is one ``gencomp: error:`` line and exit code 2; ``--debug`` (or ``GENCOMP_DEBUG=1``)
    prints the traceback too.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args_list)
    if "--debug" in args_list:
        cut = args_list.index("--") if "--" in args_list else len(args_list)
        args_list = [a for a in args_list[:cut] if a != "--debug"] + args_list[cut:]
    with contextlib.nullcontext() if debug else _quiet_libraries():
        try:
            parser = build_parser()
            try:
                args = parser.parse_args(args_list)
            except SystemExit as exc:  # --help, --version
                return int(exc.code or 0) if not isinstance(exc.code, str) else 2
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            if args.func is not cmd_plugins:
                for record in plugins.plugin_records():
                    if record.status == "missing":
                        print(f"gencomp: warning: {record.error}", file=sys.stderr)
            code = int(args.func(args) or 0)
            sys.stdout.flush()
            return code
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            _close_stdout_quietly()
            return 1
        except Exception as exc:
            if debug:
                traceback.print_exc()
            hint = "" if debug or isinstance(exc, (GencompError, UsageError)) else " (details: --debug)"
            print(f"gencomp: error: {_one_line(exc)}{hint}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
