"""Async and streaming on the remote backend (``gencomp-openai``) against a real ``llama-server``.

On the embedded SmolLM2-135M GGUF, greedy, every answer exactly ``--tokens`` long (``ignore_eos``):

1. 16 ``ainstruct`` calls gathered on one event loop against ``llama-server --parallel 8`` vs the same
   16 awaited one after another (the same backend object, interleaved repetitions);
2. throughput against concurrency: 1, 2, 4, ... 16 calls gathered, through gencomp and through a bare
   ``httpx2.AsyncClient`` with the same connection bound, beside the server's own decode rate (from
   the ``timings`` it returns): the most any client could get from its batching;
3. time to the first streamed chunk vs time to the whole answer of ``instruct_stream`` (128 tokens),
   and a plain ``instruct`` of the same answer;
4. gencomp's streaming overhead per chunk vs a bare ``httpx2`` SSE stream of the same request
   (the same messages and fields, read and JSON-decoded line by line): paired, interleaved.

Prints tables, writes them into ``benchmarks/RESULTS.md`` between the ``remote-async`` markers (leaving
the rest of the file as it is) and plots throughput against concurrency in
``benchmarks/remote-concurrency.svg``.

    .venv/bin/python benchmarks/remote_async.py [--repeat N] [--calls N] [--parallel N] [--tokens N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import line_chart_svg, streaming_table, write_section

HERE = Path(__file__).resolve().parent
START, END = "<!-- remote-async:start -->", "<!-- remote-async:end -->"
PROMPT = "Write a long story about a lighthouse keeper."


def _options(tokens: int) -> dict[str, Any]:
    from gencomp import ModelOption

    return {ModelOption.MAX_NEW_TOKENS: tokens, "extra_body": {"ignore_eos": True}}


async def _gathered(backend: Any, calls: int, tokens: int) -> float:
    from gencomp import Session

    start = time.perf_counter()
    outs = await asyncio.gather(
        *(Session(backend).ainstruct(f"{PROMPT} Story {i}.", model_options=_options(tokens)) for i in range(calls))
    )
    assert all(o.value for o in outs)
    return time.perf_counter() - start


async def _one_by_one(backend: Any, calls: int, tokens: int) -> float:
    from gencomp import Session

    start = time.perf_counter()
    for i in range(calls):
        out = await Session(backend).ainstruct(f"{PROMPT} Story {i}.", model_options=_options(tokens))
        assert out.value
    return time.perf_counter() - start


async def _bare_gathered(client: Any, model: str, calls: int, tokens: int) -> tuple[float, list[float]]:
    """Wall time of ``calls`` requests gathered, and each answer's decode time per token as the server timed it."""
    payloads = [
        {
            "model": model,
            "messages": [{"role": "user", "content": f"{PROMPT} Story {i}."}],
            "max_tokens": tokens,
            "temperature": 0.0,
            "ignore_eos": True,
        }
        for i in range(calls)
    ]
    start = time.perf_counter()
    answers = await asyncio.gather(*(client.post("/v1/chat/completions", json=p) for p in payloads))
    wall = time.perf_counter() - start
    assert all(a.status_code == 200 for a in answers)
    return wall, [float(a.json()["timings"]["predicted_per_token_ms"]) for a in answers]


def _gencomp_stream(backend: Any, tokens: int, stream: bool) -> tuple[float, float, int, str, Any]:
    from gencomp import Session

    session = Session(backend)
    start = time.perf_counter()
    if not stream:
        out = session.instruct(PROMPT, model_options=_options(tokens))
        total = time.perf_counter() - start
        return total, total, 1, str(out.value), session.last_logs[-1].prompt
    first, chunks, text = None, 0, []
    for chunk in session.instruct_stream(PROMPT, model_options=_options(tokens)):
        if first is None:
            first = time.perf_counter() - start
        chunks += 1
        text.append(chunk.text)
    return first or 0.0, time.perf_counter() - start, chunks, "".join(text), session.last_logs[-1].prompt


def _bare_stream(client: Any, url: str, payload: dict[str, Any]) -> tuple[float, float, int, str, Any]:
    start = time.perf_counter()
    first, chunks, text = None, 0, []
    with client.stream("POST", url, json=payload) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            if line == "data: [DONE]":
                break
            event = json.loads(line[6:])
            choices = event.get("choices") or [{}]
            piece = (choices[0].get("delta") or {}).get("content")
            if piece:
                if first is None:
                    first = time.perf_counter() - start
                chunks += 1
                text.append(piece)
    return first or 0.0, time.perf_counter() - start, chunks, "".join(text), None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions of each measurement")
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64, help="answer length of the concurrency measurement")
    parser.add_argument("--stream-tokens", type=int, default=128)
    parser.add_argument("--server-threads", type=int, default=1, help="llama-server's --threads")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file to serve (default: the embedded one)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    import httpx2

    from gencomp import ModelOption
    from gencomp_hf_backend.default_model import gguf_path
    from gencomp_openai import OpenAIBackend
    from gencomp_openai.llama_cpp import LlamaServer

    load_before = os.getloadavg()
    context = 1024 * args.parallel
    model = args.model or Path(gguf_path())
    with LlamaServer(model, context=context, parallel=args.parallel, threads=args.server_threads) as server:
        backend = OpenAIBackend(base_url=server.base_url, model_options={"temperature": 0.0, ModelOption.SEED: 0})
        asyncio.run(_gathered(backend, 2, 8))  # warm-up

        url = server.base_url.removesuffix("/v1") + "/v1/chat/completions"
        levels = sorted({k for k in (1, 2, 4, 8, 16, 32) if k < args.calls} | {args.calls})
        serial: list[float] = []
        ours: dict[int, list[float]] = {k: [] for k in levels}
        bare: dict[int, list[float]] = {k: [] for k in levels}
        server_ms: dict[int, list[float]] = {k: [] for k in levels}
        limit = backend.http.max_connections  # the bare client gets the same bound (see the plugin's README)

        async def concurrency() -> None:
            limits = httpx2.Limits(max_connections=limit, max_keepalive_connections=limit)
            async with httpx2.AsyncClient(
                base_url=url.removesuffix("/v1/chat/completions"), timeout=600, limits=limits
            ) as client:
                await _bare_gathered(client, backend.model_id_str, 2, 8)  # warm-up
                for r in range(args.repeat):
                    for k in levels if r % 2 == 0 else reversed(levels):
                        for side in ("gencomp", "bare") if r % 2 == 0 else ("bare", "gencomp"):
                            if side == "gencomp":
                                ours[k].append(await _gathered(backend, k, args.tokens))
                            else:
                                wall, per_token = await _bare_gathered(client, backend.model_id_str, k, args.tokens)
                                bare[k].append(wall)
                                server_ms[k].append(statistics.median(per_token))
                    serial.append(await _one_by_one(backend, args.calls, args.tokens))
                    print(
                        f"concurrency repetition {r + 1}/{args.repeat}: {args.calls} gathered "
                        f"{ours[args.calls][-1]:.2f} s vs one by one {serial[-1]:.2f} s",
                        file=sys.stderr,
                    )

        asyncio.run(concurrency())

        runs: dict[str, list[tuple[float, float, int, str, Any]]] = {
            "gencomp instruct_stream": [],
            "bare httpx2 SSE stream": [],
            "gencomp instruct (not streamed)": [],
        }
        variants = list(runs)
        prompt = _gencomp_stream(backend, 8, False)[4]  # the messages gencomp sends for PROMPT
        payload = {
            "model": backend.model_id_str,
            "messages": prompt,
            "max_tokens": args.stream_tokens,
            "temperature": 0.0,
            "seed": 0,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with httpx2.Client(timeout=600) as client:
            reps = max(5, args.repeat)
            for r in range(reps):
                for name in variants[r % 3 :] + variants[: r % 3]:
                    if name == "gencomp instruct_stream":
                        runs[name].append(_gencomp_stream(backend, args.stream_tokens, True))
                    elif name == "bare httpx2 SSE stream":
                        runs[name].append(_bare_stream(client, url, payload))
                    else:
                        runs[name].append(_gencomp_stream(backend, args.stream_tokens, False))
                print(f"streaming repetition {r + 1}/{reps} done", file=sys.stderr)
        backend.close()
    load_after = os.getloadavg()

    rows, overhead, same = streaming_table(runs, "gencomp instruct_stream", "bare httpx2 SSE stream")
    gathered = ours[args.calls]
    ratio = statistics.median(serial) / statistics.median(gathered)

    def rate(k: int, walls: list[float]) -> float:
        return k * args.tokens / statistics.median(walls)

    def server_rate(k: int) -> float:
        return min(k, args.parallel) * 1000 / statistics.median(server_ms[k])

    top = max(k for k in levels if k <= args.parallel)
    ceiling = server_rate(top) / server_rate(1)
    sweep = [
        f"| {k} | {rate(k, ours[k]):.0f} | {rate(k, bare[k]):.0f} | "
        f"{statistics.median(bare[k]) / statistics.median(ours[k]):.2f} | {server_rate(k):.0f} |"
        for k in levels
    ]
    series = {
        "gencomp, gathered ainstruct": [(float(k), rate(k, ours[k])) for k in levels],
        "bare httpx2, gathered": [(float(k), rate(k, bare[k])) for k in levels],
        "server decode rate (its timings)": [(float(k), server_rate(k)) for k in levels],
    }
    colors = dict(zip(series, ("#1f77b4", "#ff7f0e", "#2ca02c"), strict=True))
    (args.output.parent / "remote-concurrency.svg").write_text(
        line_chart_svg(
            series,
            colors,
            title=f"Answer tokens per second vs calls at once (llama-server --parallel {args.parallel})",
            x_label="calls gathered on one event loop",
            note=f"{model.name}, {args.tokens}-token answers, --threads {args.server_threads}; "
            f"{time.strftime('%Y-%m-%d', time.gmtime())}",
            y_log=False,
            y_format=lambda y: f"{y:g}",
        ),
        encoding="utf-8",
    )
    cores = os.cpu_count()
    table = "\n".join(
        [
            START,
            f"### Async and streaming on the remote backend (llama-server, `{model.name}`, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {cores} cores shared with other work; load average (1 min) {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after.",
            "",
            f"{args.calls} `ainstruct` calls of {args.tokens} tokens each against `llama-server --parallel "
            f"{args.parallel} --threads {args.server_threads}` ({args.repeat} interleaved repetitions, median):",
            "",
            "| variant | wall time | per call |",
            "|---|---:|---:|",
            f"| `asyncio.gather` of {args.calls} | {statistics.median(gathered):.2f} s | "
            f"{statistics.median(gathered) / args.calls * 1000:.0f} ms |",
            f"| the same {args.calls} one after another | {statistics.median(serial):.2f} s | "
            f"{statistics.median(serial) / args.calls * 1000:.0f} ms |",
            f"| bare `httpx2.AsyncClient`, {args.calls} requests gathered (no gencomp) | "
            f"{statistics.median(bare[args.calls]):.2f} s | "
            f"{statistics.median(bare[args.calls]) / args.calls * 1000:.0f} ms |",
            "",
            f"Concurrent vs sequential: **{ratio:.2f}x** faster (all runs: gathered "
            f"{', '.join(f'{g:.2f}' for g in gathered)} s; sequential {', '.join(f'{s:.2f}' for s in serial)} s). "
            f"gencomp's gathered calls take {statistics.median(gathered) / statistics.median(bare[args.calls]):.2f}x "
            f"the time of the bare client's (the same connection bound, {limit}). The server itself decodes "
            f"{top} answers at once **{ceiling:.2f}x** as fast as one (its own `timings`): that is the most "
            f"any client can gain from its batching here.",
            "",
            "Answer tokens per second against the calls gathered at once (plot: `remote-concurrency.svg`):",
            "",
            "| calls at once | gencomp | bare httpx2 | gencomp / bare | server decode rate |",
            "|---:|---:|---:|---:|---:|",
            *sweep,
            "",
            f"Streaming a {args.stream_tokens}-token answer ({max(5, args.repeat)} interleaved repetitions, median):",
            "",
            *rows,
            "",
            f"gencomp's streaming overhead per chunk over a bare `httpx2` SSE stream of the same request (median of "
            f"paired differences): {overhead * 1000:.3f} ms; streamed texts identical on both sides: {same}.",
            END,
        ]
    )
    print(table)
    write_section(args.output, START, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
