"""`gencomp chat` once its context window is full: turn times when old turns are dropped in a block vs one by one.

On the embedded model (torch pinned to one thread), with the context window lowered by
``ModelOption.CONTEXT_WINDOW`` (``--window``, default 2048 tokens: the model's own 8,192 would take an
hour of CPU to fill and compare), the same scripted conversation (``--turns`` user messages of about
``--message-tokens`` tokens, answers of at most ``--tokens`` new tokens) runs on two sides, turn by
turn, interleaved (the side that goes first alternates):

- **block**: the real ``gencomp chat`` in a child process (``gencomp.cli.main``, the messages written
  to its standard input one at a time), which drops the oldest turns in one block down to half of
  the window, so the next turns extend the same prompt;
- **one by one**: what ``gencomp chat`` did before, on ``Session.chat`` in this process: on a
  ``ContextWindowError`` drop the oldest turn and retry, so every turn once the window is full.

For every turn it records the wall time (from sending the message to the end of its answer: what a
user waits) and, from the generation's log, the prompt's tokens and those reused from the KV cache.
Prints a table and writes it into ``benchmarks/RESULTS.md`` between the ``chat_window`` markers.

    .venv/bin/python benchmarks/chat_window.py [--window 2048] [--turns 30] [--message-tokens 120] [--tokens 32]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import FILLER, write_section

from gencomp import hookimpl

HERE = Path(__file__).resolve().parent
START, END = "<!-- chat_window:start -->", "<!-- chat_window:end -->"


class Recorder:
    """The extra fields (prompt and reused tokens) of every generation's log; ``echo`` prints each as JSON."""

    def __init__(self, echo: bool = False) -> None:
        self.extras: list[dict[str, Any]] = []
        self.echo = echo

    @hookimpl
    def gencomp_after_generate(self, backend: Any, action: Any, result: Any, log: Any) -> None:
        extra = {k: log.extra.get(k) for k in ("prompt_tokens", "reused_tokens", "new_tokens")}
        self.extras.append(extra)
        if self.echo:
            print(MARK + json.dumps(extra), file=sys.__stderr__, flush=True)


MARK = "chat-window-log "


def messages(tokenizer: Any, turns: int, n_tokens: int) -> list[str]:
    words = (FILLER * (n_tokens // 10 + 4)).split()
    out = []
    for i in range(turns):
        text = f"Note {i + 1} about the town: " + " ".join(words[i % 7 :])
        ids = tokenizer.encode(text, add_special_tokens=False)[:n_tokens]
        out.append(tokenizer.decode(ids).rsplit(" ", 1)[0] + " Add one short remark about it.")
    return out


def cli_child(tokens: int) -> int:
    """In the child process: ``gencomp chat`` on standard input, each generation's log echoed to stderr."""
    from gencomp import plugins
    from gencomp.cli import main as gencomp_main

    plugins.register_plugin(Recorder(echo=True), name="chat-window-recorder")
    return gencomp_main(["chat", "--max-new-tokens", str(tokens), "--threads", "1"])


class BlockSide:
    """The real ``gencomp chat`` in a child process, one message at a time."""

    def __init__(self, window: int, tokens: int, folder: Path) -> None:
        config = folder / "gencomp.toml"
        config.write_text(f'[model_options]\n"@@@context_window@@@" = {window}\n')
        env = {**os.environ, "GENCOMP_CONFIG": str(config), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--cli-child", "--tokens", str(tokens)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.extras: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def turn(self, text: str) -> float:
        assert self.proc.stdin is not None and self.proc.stderr is not None
        start = time.perf_counter()
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise SystemExit(f"gencomp chat ended early: {self.notes[-5:]}")
            if line.startswith(MARK):
                self.extras.append(json.loads(line[len(MARK) :]))
                return time.perf_counter() - start
            self.notes.append(line.rstrip())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        if self.proc.wait(timeout=120) != 0:
            raise SystemExit(f"gencomp chat exited with {self.proc.returncode}: {self.notes[-5:]}")


class OneByOneSide:
    """The policy ``gencomp chat`` had before: drop one turn per ``ContextWindowError``, every turn."""

    def __init__(self, window: int, tokens: int) -> None:
        from gencomp import ModelOption, start_session

        options = {ModelOption.CONTEXT_WINDOW: window, ModelOption.MAX_NEW_TOKENS: tokens}
        self.session = start_session("hf", model_options=options, threads=1)

    def turn(self, text: str) -> float:
        from gencomp import ContextWindowError

        start = time.perf_counter()
        while True:
            try:
                self.session.chat(text)
                return time.perf_counter() - start
            except ContextWindowError:
                self.session.ctx.drop_oldest(2)


def summary(name: str, times: list[float], extras: list[dict[str, Any]], window: int, tokens: int) -> list[str]:
    prompt = [e["prompt_tokens"] for e in extras]
    reused = [e["reused_tokens"] for e in extras]
    cut = [i for i in range(1, len(prompt)) if reused[i] < prompt[i] // 2]  # the prompt's start changed
    if not cut:
        raise SystemExit(f"{name}: the window never filled; give more --turns or a smaller --window")
    full = cut[0]
    before, after = times[:full], times[full:]
    recomputed = len(cut)
    computed = [p - r for p, r in zip(prompt[full:], reused[full:], strict=True)]
    return [
        f"| {name} | {full} | {statistics.median(before):.1f} s | {len(after)} | "
        f"**{statistics.median(after):.1f} s** | {max(after):.1f} s | {sum(after):.0f} s | {recomputed} | "
        f"{statistics.median(computed):.0f} | {max(prompt) + tokens} / {window} |"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=int, default=2048, help="context window in tokens (the model's: 8192)")
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--message-tokens", type=int, default=120)
    parser.add_argument("--tokens", type=int, default=32, help="max new tokens per answer")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--cli-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.cli_child:
        return cli_child(args.tokens)
    import torch

    torch.set_num_threads(1)
    from transformers import AutoTokenizer

    from gencomp import plugins
    from gencomp_hf_backend.default_model import ensure_default_model

    script = messages(AutoTokenizer.from_pretrained(ensure_default_model()), args.turns, args.message_tokens)
    recorder = Recorder()
    plugins.register_plugin(recorder, name="chat-window-recorder")
    started = time.time()
    times: dict[str, list[float]] = {"block": [], "single": []}
    with tempfile.TemporaryDirectory() as tmp:
        block = BlockSide(args.window, args.tokens, Path(tmp))
        single = OneByOneSide(args.window, args.tokens)
        for i, text in enumerate(script):
            order = [("block", block), ("single", single)]
            for name, side in order if i % 2 == 0 else order[::-1]:
                times[name].append(side.turn(text))
            print(f"turn {i + 1}/{args.turns}: block {times['block'][-1]:.1f} s, one by one "
                  f"{times['single'][-1]:.1f} s", file=sys.stderr)  # fmt: skip
        block.close()
    block_times, block_extras = times["block"], block.extras
    single_times, single_extras = times["single"], recorder.extras
    if len(block_extras) != args.turns or len(single_extras) != args.turns:
        raise SystemExit("not every turn was answered")
    rows = [
        "| old turns dropped | turns until the window is full | median turn before | turns after | median turn "
        "after | slowest after | all turns after | turns after that computed their whole prompt | prompt tokens "
        "computed per turn after (median) | largest prompt + answer / window |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *summary("one by one (before)", single_times, single_extras, args.window, args.tokens),
        *summary(
            "in a block, to half the window (`gencomp chat`)", block_times, block_extras, args.window, args.tokens
        ),
    ]
    load = os.getloadavg()
    section = "\n".join(
        [
            START,
            f"### `gencomp chat` with a full context window ({args.window}-token window, {args.turns} turns of "
            f"about {args.message_tokens}-token messages and answers of at most {args.tokens} tokens, embedded model, "
            "1 thread, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at the end {load[0]:.1f})",
            "",
            *rows,
            "",
            "A turn is what a user waits, from sending a message to the end of its answer. Dropping one turn "
            "per message changes the start of the prompt every turn, so every turn after the window fills "
            "computes the whole prompt again; dropping a block down to half of the window keeps the prompt's "
            "start for the next turns, which reuse its KV cache until the window is full again. The two sides ran "
            "turn by turn, interleaved "
            f"({time.time() - started:.0f} s in all); the median turn before the window is full is the control.",
            END,
        ]
    )
    print(section)
    write_section(args.output, START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
