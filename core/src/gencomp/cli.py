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

__all__ = ["DEBUG_VARIABLE", "ArgumentParser", "build_parser", "check_text", "int_at_least", "main", "text_argument"]

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


def check_text(text: str) -> str:
    """``text`` if it is valid Unicode; else ``ValueError`` naming the first character that is not.

    Python hands on bytes of an argument or input line that are not UTF-8 as lone surrogates
    (``U+DC80``-``U+DCFF``); a tokenizer cannot encode those, and guessing another encoding could
    change the text, so it is refused.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # only surrogates fail to encode
        code = ord(text[exc.start])
        if 0xDC80 <= code <= 0xDCFF:
            what = f"byte 0x{code - 0xDC00:02x}, at character {exc.start + 1}, is not valid UTF-8"
        else:
            what = f"character {exc.start + 1} is a lone surrogate (U+{code:04X}), which is not text"
        raise ValueError(f"{what} in {_shown(text)}: give the text in UTF-8") from None
    return text


def _shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message: undecodable bytes as ``\\xNN``, cut after ``limit`` characters."""

    def one(c: str) -> str:
        if 0xDC80 <= ord(c) <= 0xDCFF:
            return f"\\x{ord(c) - 0xDC00:02x}"
        return c if c.isprintable() else repr(c)[1:-1]

    return "'" + "".join(map(one, text[:limit])) + ("...'" if len(text) > limit else "'")


def text_argument(what: str) -> Callable[[str], str]:
    """An argparse ``type`` for text that goes to a model: valid UTF-8 (:func:`check_text`) and not blank."""

    def parse(text: str) -> str:
        try:
            check_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{what} is empty")
        return text

    parse.__name__ = what
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
            "free_form_model_ids": s.free_form_model_ids,
        }
        for s in reg.backends.values()
    ]
    conflicts = list(dict.fromkeys(m for (kind, _), m in reg.conflicts.items() if kind in ("backend", "model")))
    models: list[dict[str, Any]] = []
    for spec in reg.models.values():
        unusable = reg.conflicts.get(("backend", spec.backend))
        if unusable is None and not any(spec.backend in (b.name, *b.aliases) for b in reg.backends.values()):
            unusable = f"no installed plugin registers backend {spec.backend!r}"
        models.append(
            {
                "name": spec.name,
                "aliases": list(spec.aliases),
                "backend": spec.backend,
                "plugin": spec.plugin,
                "description": spec.description,
                "available": unusable is None,
                "unavailable_because": unusable,
            }
        )
    problems = [r for r in plugins.plugin_records() if r.status not in ("loaded", "disabled", "conflict")]
    if args.json:
        print(
            json.dumps(
                {
                    "backends": items,
                    "models": models,
                    "conflicts": conflicts,
                    "plugin_problems": [{"name": r.name, "status": r.status, "error": r.error} for r in problems],
                },
                indent=2,
            )
        )
        return 0
    rows = [
        [i["name"], ", ".join(i["aliases"]), i["plugin"], i["default_model"] or "-", _ids(i), i["description"]]
        for i in items
    ]
    if rows:
        print(_table(rows, ["backend", "aliases", "plugin", "default model", "model ids", "description"]))
    elif conflicts:
        print("no usable backend: every registered backend is disabled by a conflict (below)")
    else:
        print("no backends installed")
    if models:
        print()
        rows = [
            [m["name"], m["backend"], m["plugin"], "yes" if m["available"] else "NO (below)", m["description"]]
            for m in models
        ]
        print(_table(rows, ["model", "backend", "plugin", "usable", "description"]))
        for model in models:
            if not model["available"] and model["unavailable_because"] not in conflicts:
                print(f"\nmodel {model['name']!r}: {model['unavailable_because']}")
    for conflict in conflicts:
        print(f"\nconflict: {conflict}")
    if problems:
        print("\nplugins that registered nothing or not all (details: `gencomp plugins`):")
        for r in problems:
            print(f"  {r.name}: {r.status}")
    return 0


def _ids(backend: dict[str, Any]) -> str:
    return "any" if backend["free_form_model_ids"] else "typo-checked"


def _session(args: argparse.Namespace) -> Any:
    from gencomp.model_options import ModelOption
    from gencomp.session import start_session

    options: dict[str, Any] = {}
    for arg, key in (
        ("max_new_tokens", ModelOption.MAX_NEW_TOKENS),
        ("seed", ModelOption.SEED),
        ("temperature", ModelOption.TEMPERATURE),
    ):
        if getattr(args, arg, None) is not None:
            options[key] = getattr(args, arg)
    kwargs: dict[str, Any] = {}
    if getattr(args, "threads", None) is not None:
        kwargs["threads"] = args.threads
    if getattr(args, "strategy", None) is not None:
        kwargs["strategy"] = args.strategy
    if getattr(args, "check_backend", None) is not None:
        kwargs["check_backend"] = args.check_backend
        kwargs["check_model_id"] = args.check_model
    elif getattr(args, "check_model", None) is not None:
        raise UsageError("--check-model needs --check-backend (the backend that decides model-judged checks)")
    return start_session(args.backend, args.model, model_options=options or None, **kwargs)


def _check_line(r: Any, v: Any) -> str:
    from gencomp.strategies import verdict_state

    state = verdict_state(v)
    mark = {"passed": "pass", "failed": "FAIL", "uncertain": "????", "not run": "----"}[state]
    score = f" p(yes)={v.score:.2f}" if v.score is not None else ""
    stopped = f" stopped at token {v.stopped_at_token}" if v.stopped_at_token is not None else ""
    reason = f": {v.reason}" if v.thunk is None and v.reason else ""  # a model's reason is its raw answer
    uncertain = getattr(v.verdict, "uncertain_reason", None) if state == "uncertain" else None
    doubt = f", uncertain: {uncertain}" if uncertain else ""
    validation = getattr(v.verdict, "validation", None)
    measured = f", {validation}" if validation else ""
    fallback = getattr(v.verdict, "fallback_reason", None)
    why = f", judged by the model because {fallback}" if fallback else ""
    path = _check_path(v) if v.ran else "not run"
    return f"  [{mark}] {r.description}  ({path}{score}{measured}{doubt}{why}{stopped}{reason})"


def _streams(args: argparse.Namespace) -> bool:
    """Stream to a terminal unless told not to; piped output is printed once complete (same content)."""
    return not getattr(args, "json", False) and not args.no_stream and sys.stdout.isatty()


def _attempt_block(attempt: Any, header: bool) -> str:
    """An attempt as the CLI shows it: its header, answer (or error) and verdicts."""
    lines = [f"--- attempt {attempt.number}"] if header else []
    if attempt.varied:
        lines.append(f"(changed: {attempt.varied})")
    lines.append(attempt.text if attempt.text is not None else f"(no answer: {attempt.summary()})")
    lines.extend(_check_line(r, v) for r, v in attempt.verdicts or [])
    return "\n".join(lines)


def _attempt_line(attempt: Any, kept: Any) -> str:
    """One line per attempt for the summary: what it met, its tokens and time."""
    tokens = f", {attempt.generated_tokens} tokens" if attempt.generated_tokens is not None else ""
    mark = "*" if attempt is kept else " "
    return f" {mark} attempt {attempt.number}: {attempt.summary()}{tokens}"


def _cost_line(cost: Any) -> str:
    parts = [f"{cost.attempts} attempt{'s' if cost.attempts != 1 else ''}"]
    if cost.generated_tokens is not None:
        parts.append(f"{cost.generated_tokens} tokens generated")
    if cost.stopped_early:
        saved = f", {cost.saved_tokens} tokens saved" if cost.saved_tokens else ""
        parts.append(f"{cost.stopped_early} stopped early{saved}")
    if cost.model_checks:
        tokens = (
            f" ({cost.check_tokens_computed} tokens computed, {cost.check_tokens_reused} reused)"
            if cost.check_tokens_computed is not None and cost.check_tokens_reused is not None
            else ""
        )
        parts.append(f"{cost.model_checks} model checks{tokens}")
    return "; ".join(parts)


def _json_check(r: Any, v: Any) -> dict[str, Any]:
    from gencomp.strategies import verdict_state

    return {
        "requirement": r.description,
        "passed": v.result if v.ran else None,
        "state": verdict_state(v),
        "p_yes": v.score,
        "path": _check_path(v) if v.ran else None,
        "validated": getattr(v.verdict, "validated", None),
        "accuracy": getattr(v.verdict, "accuracy", None),
        "validation": getattr(v.verdict, "validation", None),
        "uncertain_reason": getattr(v.verdict, "uncertain_reason", None),
        "decided_by": getattr(v.verdict, "decided_by", None),
        "reason": v.reason,
        "stopped_at_token": v.stopped_at_token,
        "reused_tokens": getattr(v.verdict, "reused_tokens", None),
        "computed_tokens": getattr(v.verdict, "computed_tokens", None),
    }


def _json_attempt(a: Any, kept: Any) -> dict[str, Any]:
    return {
        "attempt": a.number,
        "kept": a is kept,
        "answer": a.text,
        "passed": a.passed,
        "met": a.met_count,
        "seed": a.seed,
        "temperature": a.temperature,
        "varied": a.varied,
        "stopped_early": a.early_stop is not None,
        "error": None if a.error is None else f"{type(a.error).__name__}: {a.error}",
        "generated_tokens": a.generated_tokens,
        "seconds": a.seconds,
        "checks": [_json_check(r, v) for r, v in a.verdicts or []],
    }


def _stream_instruct(stream: Any, headers: bool) -> Any:
    """Print a streamed call: one attempt's answer live, the others' (candidates generated at once) when checked."""
    live: int | None = None
    waiting: dict[int, list[str]] = {}
    for chunk in stream:
        if live is None:
            live = chunk.attempt
            if headers:
                print(f"--- attempt {live}")
        if chunk.attempt == live:
            if chunk.checks is not None:  # the live attempt's answer is complete: its verdicts
                print()
                for r, v in chunk.checks:
                    print(_check_line(r, v))
                live = None
            else:
                print(chunk.text, end="", flush=True)
            continue
        text = waiting.setdefault(chunk.attempt, [])
        if chunk.checks is None:
            text.append(chunk.text)
            continue
        del waiting[chunk.attempt]
        if headers:
            print(f"--- attempt {chunk.attempt}")
        print("".join(text))
        for r, v in chunk.checks:
            print(_check_line(r, v))
    return stream.result


def cmd_instruct(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    session = _session(args)
    loaded = time.perf_counter()
    kwargs: dict[str, Any] = {
        "requirements": args.req or None,
        "loop_budget": args.loop_budget,
        "uncertain": args.uncertain,
    }
    result: Any
    if _streams(args):
        with session.instruct_stream(args.description, **kwargs) as stream:
            result = _stream_instruct(stream, headers=bool(args.req))
        if not args.req:
            print()
    else:
        result = session.instruct(args.description, return_sampling_results=True, **kwargs)
    done = time.perf_counter()
    kept = result.selected
    if args.json:
        print(
            json.dumps(
                {
                    "answer": result.result.value,
                    "success": result.success,
                    "strategy": result.strategy,
                    "selected": kept.number if kept is not None else None,
                    "selection": result.selection,
                    "attempts": [_json_attempt(a, kept) for a in result.attempts],
                    "cost": result.cost.as_dict() if result.cost is not None else None,
                    "load_seconds": loaded - start,
                    "run_seconds": done - loaded,
                },
                indent=2,
            )
        )
        return 0 if result.success else 1
    if not _streams(args):
        for a in result.attempts:
            print(_attempt_block(a, header=bool(args.req)))
    if args.req:
        print()
        for a in result.attempts:
            print(_attempt_line(a, kept))
        print(f"{result.strategy}: {result.selection}")
        if result.cost is not None:
            print(_cost_line(result.cost))
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


class _Refused(GencompError):
    """A chat message that gets no answer; the conversation stays as it was before it."""


class _Cancelled(Exception):
    """An answer cancelled with Ctrl-C; the conversation stays as it was before its message."""


def _answer(session: Any, text: str, window: int | None, quiet_warnings: bool, stream: bool) -> None:
    """Send ``text`` and print the reply (streamed when ``stream``); ``window`` lowers the context window.

    Ctrl-C while the answer is generated closes its stream (the generation stops at its next token)
    and raises :class:`_Cancelled`; a second Ctrl-C meanwhile propagates.
    """
    from gencomp.components import Message
    from gencomp.model_options import ModelOption

    options = {ModelOption.CONTEXT_WINDOW: window} if window is not None else None
    with warnings.catch_warnings():
        if quiet_warnings:  # nothing between the prompt and the reply
            warnings.simplefilter("ignore")
        reply = session.chat_stream(text, model_options=options)
        try:
            for chunk in reply:
                if stream:
                    print(chunk.text, end="", flush=True)
            out = reply.result.result
        except KeyboardInterrupt:
            try:
                print("\ngencomp: note: cancelling the answer (Ctrl-C again quits)", file=sys.stderr, flush=True)
            finally:
                reply.close()
            raise _Cancelled("answer cancelled; the conversation is as it was before this message") from None
        except BaseException:
            reply.close()
            raise
    if stream:
        print()
    else:
        parsed = out.parsed_repr
        print(parsed.content if isinstance(parsed, Message) else out.value or "")


def _chat_turn(session: Any, text: str, quiet_warnings: bool, stream: bool) -> None:
    """One chat turn, its reply printed (streamed when ``stream``); raises :class:`_Refused` when not answered.

    When the conversation outgrows the model's context window, its oldest turns are dropped in one
    block, until the prompt and the answer's budget take at most half of the window beyond that
    budget, so that the next turns extend the same prompt and reuse its KV cache until the window
    is full again (dropping one turn per message would change the prompt's start every turn, and
    every turn would compute the whole prompt again). The window is checked before generating, so
    nothing is printed before. A message that does not fit even alone is refused; whatever happens,
    a message that gets no answer leaves the conversation as it was.
    """
    from gencomp.errors import ContextWindowError

    original = session.ctx
    session.ctx = original.copy()  # a failed or cancelled turn puts the original back
    dropped = 0
    try:
        try:
            _answer(session, text, None, quiet_warnings, stream)
            return
        except ContextWindowError as exc:
            error = exc
        half = (error.window + error.max_new_tokens) // 2
        for window in (half, None):  # None: the message alone needs more than half: keep what fits
            session.ctx, dropped = original.copy(), 0
            while len(session.ctx) >= 2:
                session.ctx.drop_oldest(2)
                dropped += 1
                try:
                    _answer(session, text, window, quiet_warnings, stream)
                    return
                except ContextWindowError as exc:
                    error = exc
        raise _Refused(
            f"this message does not fit the model's context window even on its own: the prompt would be "
            f"{error.prompt_tokens} tokens and the answer up to {error.max_new_tokens}, over the window of "
            f"{error.window}; send a shorter message (or lower --max-new-tokens). The conversation is unchanged."
        ) from None
    except BaseException:
        session.ctx = original
        dropped = 0
        raise
    finally:
        if dropped:
            print(
                f"gencomp: note: dropped the {dropped} oldest turn(s) to stay within the model's context window",
                file=sys.stderr,
            )


def _stdin_lines() -> Iterator[str]:
    """Lines of standard input; bytes that are not UTF-8 arrive as lone surrogates (refused per line).

    Under a locale whose standard input decodes strictly, one such line would end the chat with a
    ``UnicodeDecodeError``; the decoding is put back when the lines end.
    """
    stdin = sys.stdin
    errors = getattr(stdin, "errors", None)
    reconfigure = getattr(stdin, "reconfigure", None)
    if reconfigure is not None and errors != "surrogateescape":
        reconfigure(errors="surrogateescape")
    try:
        while line := stdin.readline():
            yield line
    finally:
        if reconfigure is not None and errors is not None:
            with contextlib.suppress(ValueError, OSError):  # closed meanwhile
                reconfigure(errors=errors)


def cmd_chat(args: argparse.Namespace) -> int:
    session = _session(args)
    stream = _streams(args)
    interactive = not args.message and sys.stdin.isatty()
    lines = iter(args.message) if args.message else _stdin_lines()
    refused = False
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = next(lines, None)
        if line is None or (not args.message and line.strip() in {"/exit", "/quit"}):
            return 1 if refused else 0
        text = line if args.message else line.strip()
        if not text:
            continue
        start = time.perf_counter()
        try:
            try:
                check_text(text)
            except ValueError as exc:
                raise _Refused(f"this line was not sent: {exc}") from None
            _chat_turn(session, text, quiet_warnings=interactive, stream=stream)
        except _Cancelled as exc:
            print(f"gencomp: note: {exc}", file=sys.stderr)
            continue
        except GencompError as exc:  # a failed call leaves the conversation as it was
            refused = True
            unchanged = "" if isinstance(exc, _Refused) else "; the conversation is unchanged"
            print(f"gencomp: error: {_one_line(exc)}{unchanged}", file=sys.stderr)
            continue
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
    p.add_argument("description", type=text_argument("the instruction"), help="what the model should do")
    p.add_argument(
        "--req", "-r", action="append", type=text_argument("the requirement"), help="a requirement (repeatable)"
    )
    p.add_argument(
        "--strategy",
        "-s",
        help="how the attempts are spent: repair (default), rejection, best-of-n, majority, or a plugin's "
        "(default: $GENCOMP_STRATEGY, gencomp.toml)",
    )
    p.add_argument(
        "--loop-budget",
        type=int_at_least(1),
        default=None,
        help="generations the strategy may spend, first included (default: the strategy's: 2 for repair and "
        "rejection, 4 for best-of-n, 5 for majority)",
    )
    p.add_argument(
        "--uncertain",
        choices=["unmet", "trust"],
        default="unmet",
        help="an uncertain model verdict counts as unmet and is repaired (default), or is trusted",
    )
    p.add_argument("--seed", type=int, default=None, help="sampling seed (sampling strategies default to 0)")
    p.add_argument("--check-backend", help="the backend that decides model-judged checks (default: the generating one)")
    p.add_argument("--check-model", help="its model id (with --check-backend)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature")
    p.add_argument("--json", action="store_true", help="print JSON: every attempt, its verdicts, the cost")
    p.add_argument(
        "--no-stream", action="store_true", help="print the answer once complete (default on a terminal: stream it)"
    )
    _add_model_args(p)
    p.set_defaults(func=cmd_instruct)

    p = sub.add_parser(
        "chat",
        help="chat with a model (reads lines from standard input); when the conversation outgrows the model's "
        "context window, its oldest turns are dropped. A message that cannot be answered (too long, not UTF-8) "
        "is refused and the chat goes on (exit code 1 at the end); Ctrl-C cancels the answer being written, "
        "Ctrl-C at the prompt quits",
    )
    p.add_argument(
        "--message", "-M", action="append", type=text_argument("the message"),
        help="send this message instead of reading input (repeatable)",
    )  # fmt: skip
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
