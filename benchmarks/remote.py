"""The remote backend on a real llama-server, measured side by side; prints tables and writes RESULTS-remote.md.

    .venv/bin/python benchmarks/remote.py [--quick] [--output PATH]

Cases (each in one run, on this machine, the server and the HF backend on the same SmolLM2 GGUF):

1. aLoRA check on the server with the prompt cache reused vs disabled, after conversations of about 512 and
   2,048 tokens (``llama-server --parallel 1``); the server's counters say how many tokens each computed.
2. gencomp's per-request overhead over a bare HTTP call of the same payload (paired, interleaved).
3. Throughput: 8 sessions doing ``instruct`` + 2 checks at once against ``llama-server --parallel 8`` vs the
   same work on the in-process HF backend (the GGUF dequantized to float32, its shipped aLoRA).

Needs scripts/build-llama-server.sh and scripts/convert-alora-gguf.sh to have run (they are idempotent).
Both sides use one thread (``--threads 1``, ``OMP_NUM_THREADS=1``): compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import write_section

os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx2

from gencomp import LinearContext, Message, ModelOption, Session
from gencomp_openai import OpenAIBackend
from gencomp_openai.llama_cpp import LlamaServer, convert_alora

HERE = Path(__file__).resolve().parent
START, END = "<!-- remote:start -->", "<!-- remote:end -->"
GREEDY = {"temperature": 0.0, ModelOption.SEED: 0}
REQUIREMENT = "The answer mentions a river."


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float], scale: float = 1.0) -> str:
    return f"{min(xs) * scale:.3g}-{max(xs) * scale:.3g}"


def ms(xs: list[float]) -> str:
    """Median and range in milliseconds."""
    return f"{med(xs) * 1000:.0f} ms ({spread(xs, 1000)})"


def assets() -> tuple[Path, Path]:
    from gencomp_alora.training.hooks import shipped_adapter_dir
    from gencomp_hf_backend.default_model import ensure_default_model, gguf_path

    return Path(gguf_path()), convert_alora(shipped_adapter_dir(), ensure_default_model())


def long_conversation(backend: OpenAIBackend, n_tokens: int, tag: int) -> tuple[LinearContext, int]:
    """A conversation of about ``n_tokens`` (a long user turn, then a 16-token answer the server generated)."""
    sentences = []
    text = ""
    while True:
        i = len(sentences)
        sentences.append(f"Note {tag}.{i}: the river passes the mill at mile {i * 7 + tag} and turns north.")
        text = " ".join(sentences)
        # the chat template, the question and the 16-token answer add about 60 tokens
        n = len(backend.http.post("/tokenize", {"content": text})["tokens"])
        if n >= n_tokens - 60:
            break
    ctx = LinearContext()
    msg = Message("user", text + "\nSummarize these notes in one sentence.")
    out = backend.generate_from_context(msg, ctx, model_options={ModelOption.MAX_NEW_TOKENS: 16})
    ctx.insert_turn(msg, out)
    total = out.meta["timings"]["prompt_n"] + out.meta["timings"].get("cache_n", 0) + 16
    return ctx, total


def case_checks(gguf: Path, alora: Path, sizes: list[int], reps: int) -> list[str]:
    rows = [
        "| conversation | check, cache reused | tokens computed | check, cache off | tokens computed | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    with LlamaServer(gguf, loras=[alora], context=8192, parallel=1) as server:
        backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
        for size in sizes:
            cached_s, uncached_s, cached_n, uncached_n, lengths = [], [], [], [], []
            for rep in range(reps):
                ctx, length = long_conversation(backend, size, tag=rep + 100 * size)
                lengths.append(length)
                # the cached check comes right after the generation: it reuses what the slot holds
                for cache_prompt, times, counts in ((True, cached_s, cached_n), (False, uncached_s, uncached_n)):
                    t0 = time.perf_counter()
                    out = backend.check_with_alora(REQUIREMENT, ctx, cache_prompt=cache_prompt)
                    times.append(time.perf_counter() - t0)
                    counts.append(out.meta["timings"]["prompt_n"])
            ratio = med(uncached_s) / med(cached_s)
            rows.append(
                f"| ~{int(med(lengths))} tokens | {ms(cached_s)} | {int(med(cached_n))} | {ms(uncached_s)} "
                f"| {int(med(uncached_n))} | **{ratio:.1f}x** (n={reps}) |"
            )
            print(rows[-1], flush=True)
        backend.close()
    return rows


def case_overhead(gguf: Path, reps: int) -> list[str]:
    with LlamaServer(gguf, context=2048, parallel=1) as server:
        backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
        logs: list[Any] = []
        action = Message("user", "Hi")
        options = {ModelOption.MAX_NEW_TOKENS: 1}
        backend.generate_from_context(action, LinearContext(), model_options=options, generate_logs=logs)
        payload = {
            "model": backend.model_id_str,
            "messages": logs[-1].prompt,
            "temperature": 0.0,
            "seed": 0,
            "max_tokens": 1,
        }
        bare = httpx2.Client(base_url=server.root, timeout=60)
        bare.post("/v1/chat/completions", json=payload).json()
        inside: list[float] = []
        post = backend.http.post

        def timed_post(path: str, body: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return post(path, body)
            finally:
                inside.append(time.perf_counter() - t0)

        backend.http.post = timed_post  # type: ignore[method-assign]
        diffs, g_times, b_times, own = [], [], [], []
        for rep in range(reps):
            order = [0, 1] if rep % 2 == 0 else [1, 0]
            t = [0.0, 0.0]
            for which in order:
                t0 = time.perf_counter()
                if which == 0:
                    backend.generate_from_context(action, LinearContext(), model_options=options)
                else:
                    r = bare.post("/v1/chat/completions", json=payload)
                    r.json()
                t[which] = time.perf_counter() - t0
            g_times.append(t[0])
            b_times.append(t[1])
            diffs.append(t[0] - t[1])
            own.append(t[0] - inside[-1])
        bare.close()
        backend.close()
    return [
        "| request (1 new token) | median | min-max |",
        "|---|---|---|",
        f"| gencomp `generate_from_context` | {med(g_times) * 1000:.2f} ms | {spread(g_times, 1000)} |",
        f"| bare `httpx2` POST of the same payload | {med(b_times) * 1000:.2f} ms | {spread(b_times, 1000)} |",
        f"| paired difference (n={reps}) | {med(diffs) * 1000:.2f} ms | {spread(diffs, 1000)} |",
        f"| **gencomp's own time outside the HTTP call** (hooks, options, rendering, parsing, logs) "
        f"| **{med(own) * 1000:.2f} ms** | {spread(own, 1000)} |",
    ]


def run_sessions(make_session: Callable[[], Session], n: int) -> tuple[float, list[str]]:
    paths: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        try:
            session = make_session()
            out = session.instruct(
                f"Write one sentence about river number {i}.",
                requirements=["The answer mentions a river.", "The answer is one sentence."],
                loop_budget=1,
                model_options={ModelOption.MAX_NEW_TOKENS: 32},
            )
            assert out.value
            with lock:
                paths.extend(str(log.extra.get("check_path")) for log in session.last_logs[1:])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0, paths


def case_throughput(gguf: Path, alora: Path, reps: int) -> list[str]:
    import torch

    from gencomp_hf_backend import LocalHFBackend

    torch.set_num_threads(1)
    hf = LocalHFBackend("smollm2-135m-instruct", model_options=GREEDY)
    server_s, hf_s = [], []
    with LlamaServer(gguf, loras=[alora], context=8 * 1024, parallel=8) as server:
        remote = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
        run_sessions(lambda: Session(remote), 2)  # warm-up
        run_sessions(lambda: Session(hf), 1)
        for rep in range(reps):
            sides = [("server", remote), ("hf", hf)] if rep % 2 == 0 else [("hf", hf), ("server", remote)]
            for name, backend in sides:
                seconds, paths = run_sessions(lambda b=backend: Session(b), 8)  # type: ignore[misc]
                (server_s if name == "server" else hf_s).append(seconds)
                print(f"  {name}: {seconds:.2f} s, check paths {sorted(set(paths))}", flush=True)
        remote.close()
    return [
        "| 8 sessions, each `instruct` (32 tokens) + 2 checks | wall time | min-max |",
        "|---|---|---|",
        f"| gencomp-openai on `llama-server --parallel 8` (Q4_1 GGUF, aLoRA on the server) "
        f"| {med(server_s):.2f} s | {spread(server_s)} |",
        f"| gencomp-hf-backend in-process (same GGUF dequantized, float32, shipped aLoRA) "
        f"| {med(hf_s):.2f} s | {spread(hf_s)} |",
        f"| **ratio** (n={reps}) | **{med(hf_s) / med(server_s):.1f}x** faster on the server | |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--cases", default="checks,overhead,throughput")
    parser.add_argument("--output", default=str(HERE / "RESULTS-remote.md"))
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    gguf, alora = assets()
    started = time.time()
    load = os.getloadavg()[0]
    sections: list[str] = []
    if "checks" in cases:
        print("aLoRA checks, cache reused vs off", flush=True)
        sections += [
            "## aLoRA check on the server: prompt cache reused vs disabled\n",
            "\n".join(case_checks(gguf, alora, [512, 2048], 2 if args.quick else 5)) + "\n",
        ]
    if "overhead" in cases:
        print("per-request overhead", flush=True)
        sections += [
            "## Per-request overhead over a bare HTTP call\n",
            "\n".join(case_overhead(gguf, 10 if args.quick else 40)) + "\n",
        ]
    if "throughput" in cases:
        print("throughput", flush=True)
        sections += [
            "## Throughput: 8 concurrent sessions\n",
            "\n".join(case_throughput(gguf, alora, 1 if args.quick else 3)) + "\n",
        ]
    header = (
        f"Written by `benchmarks/remote.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on a shared 2-core machine, one thread per side "
        f"(load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end). "
        "Ratios within one run; absolute times move between runs and with the load.\n"
    )
    sections.append(f"Total run time: {time.time() - started:.0f} s.\n")
    text = "\n".join([START, header, *sections]) + END
    print(text)
    output = Path(args.output)
    if not output.exists():
        output.write_text("# The remote backend on llama-server, measured\n\n", encoding="utf-8")
    write_section(output, START, END, text)  # the other scripts' sections of this file stay
    return 0


if __name__ == "__main__":
    sys.exit(main())
