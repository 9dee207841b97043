"""How many torch threads `instruct` should use: idle and busy machine, 1 and 2 threads.

Each measurement is a fresh worker process that starts a session on the embedded default model
with ``start_session(threads=N)`` (the setting users get), runs one unmeasured ``instruct``, then
``--repeat`` measured ones (one requirement, checked by the shipped aLoRA, at most 32 new tokens).
"Busy" runs one CPU-bound process (a Python busy loop) beside the worker for the whole
measurement, so that it competes for one of the cores. The variants are interleaved round by
round. Prints a table and writes it into ``benchmarks/RESULTS.md`` as the section "Threads"
(replacing only that section).

    .venv/bin/python benchmarks/threads.py [--repeat 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Threads: `instruct` idle and busy, 1 and 2 torch threads"
PROMPT = "Write one sentence about the moon."
REQUIREMENT = "The answer contains a number."


def split_section(text: str) -> tuple[str, str, str]:
    """``(before, the threads section, after)`` of a RESULTS.md text (the section is empty when absent)."""
    if SECTION not in text:
        return text, "", ""
    head, _, rest = text.partition(SECTION)
    nxt = rest.find("\n## ")
    body, tail = (rest[: nxt + 1], rest[nxt + 1 :]) if nxt >= 0 else (rest, "")
    return head, SECTION + body, tail


def with_section(text: str, section: str) -> str:
    """``text`` with its threads section replaced by ``section`` (appended when it has none)."""
    head, old, tail = split_section(text)
    if not old:
        return text.rstrip("\n") + "\n\n" + section
    return head + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")


def worker(threads: int, repeat: int) -> None:
    """Load a session with ``threads`` and print the load and per-call times as JSON."""
    import gencomp

    t0 = time.perf_counter()
    session = gencomp.start_session(threads=threads)
    load = time.perf_counter() - t0
    options = {gencomp.ModelOption.MAX_NEW_TOKENS: 32}

    def once() -> float:
        session.reset()
        start = time.perf_counter()
        session.instruct(PROMPT, requirements=[REQUIREMENT], loop_budget=1, model_options=options)
        return time.perf_counter() - start

    once()
    import torch

    calls = [once() for _ in range(repeat)]
    print(json.dumps({"threads": torch.get_num_threads(), "load": load, "calls": calls}))


def busy_process() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(threads: int, busy: bool, repeat: int) -> dict[str, float | list[float]]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "GENCOMP_THREADS", "MKL_NUM_THREADS")}
    hog = busy_process() if busy else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(threads), "--repeat", str(repeat)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    data: dict[str, float | list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    if data["threads"] != threads:
        raise SystemExit(f"worker ran {data['threads']} threads, asked for {threads}")
    return data


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=5, help="measured calls per worker")
    ap.add_argument("--rounds", type=int, default=2, help="workers per variant (interleaved)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    if args.worker is not None:
        worker(args.worker, args.repeat)
        return
    variants = [(busy, n) for busy in (False, True) for n in (1, 2)]
    calls: dict[tuple[bool, int], list[float]] = {v: [] for v in variants}
    loads: dict[tuple[bool, int], list[float]] = {v: [] for v in variants}
    load_before = load_average()
    start = time.perf_counter()
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for busy, n in order:
            data = measure(n, busy, args.repeat)
            calls[(busy, n)] += data["calls"]  # type: ignore[arg-type]
            loads[(busy, n)].append(data["load"])  # type: ignore[arg-type]
            print(f"round {r + 1}: {'busy' if busy else 'idle'} {n} thread(s): {data['calls']}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    rows = [
        "| machine | threads | instruct median | min .. max | n | vs 1 thread | session start (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for busy, n in variants:
        c = calls[(busy, n)]
        med = statistics.median(c)
        ratio = med / statistics.median(calls[(busy, 1)])
        rows.append(
            f"| {'busy' if busy else 'idle'} | {n} | {fmt(med)} | {fmt(min(c))} .. {fmt(max(c))} | {len(c)} "
            f"| {ratio:.2f}x | {fmt(statistics.median(loads[(busy, n)]))} |"
        )
    table = "\n".join(rows)
    print(table)
    if args.no_write:
        return
    import torch

    text = "\n".join(
        [
            SECTION,
            "",
            f"Generated by `benchmarks/threads.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}; "
            f"load average before {load_before}, after {load_average()}; whole run {elapsed / 60:.1f} min.",
            "",
            f"`instruct({PROMPT!r}, requirements=[{REQUIREMENT!r}], loop_budget=1)`, at most 32 new tokens, on "
            f"the embedded model, in a worker started with `start_session(threads=N)`; {args.repeat} measured "
            f"calls after one warm-up per worker, {args.rounds} workers per variant, interleaved. Busy: one "
            "CPU-bound process (a Python busy loop) runs beside the worker. The machine is shared with other "
            'work, so "idle" means no extra load from this script.',
            "",
            table,
            "",
        ]
    )
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else ""
    RESULTS.write_text(with_section(old, text), encoding="utf-8")
    print(f"wrote the section to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
