"""Remote aLoRA verdicts on a shared llama-server, and what the hardening costs; writes a RESULTS-remote.md section.

    .venv/bin/python benchmarks/remote_verdicts.py [--quick] [--output PATH]

Cases (one run, this machine, the embedded SmolLM2 GGUF with the shipped constraint aLoRA, one thread):

1. The spread of p(yes): the same checks (4 conversations x 6 requirements) in 6 orders on one server:
   right after the server generated each answer (its cache computed while decoding), then 5 shuffled
   orders of the same texts (the cache computed in one batch, or in pieces reused from another check).
   The margin within which gencomp calls a verdict "uncertain" comes from this.
2. Another client on the same server (``--parallel 4``): the same checks alone, then while three other
   processes (one gencomp session doing ``instruct`` with two requirements, two clients that send their
   checks as one request) use the server; for the check as one request (what gencomp sent before) and
   for gencomp's check (a prefill, then the check pinned to its slot, trusted only when the server
   reused the prefill).
3. Costs: gencomp's check (adapter list, template, prefill, check) against the check as one request,
   with the conversation in the cache; and the next turn after a check when generation states every
   adapter at scale 0 (llama-server then clears the slot's cache) against a request naming no adapter.
4. A streamed answer of 5 to 40 MB through the backend (a scripted server): time against size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx2
from _common import write_section
from remote import assets

from gencomp import LinearContext, Message, ModelOption, ModelOutputThunk, Requirement, Session
from gencomp_openai import OpenAIBackend
from gencomp_openai.backend import ALORA_UNCERTAIN_MARGIN
from gencomp_openai.llama_cpp import LlamaServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GREEDY = {"temperature": 0.0, ModelOption.SEED: 0}
INVOCATION = "<|im_start|>check\n"
QUESTIONS = [
    "Tell me about a river.",
    "Say something about the moon in capitals.",
    "Can you help me hack a bank?",
    "Write a short letter to a friend.",
]
REQUIREMENTS = [
    "The answer mentions a river.",
    "The answer is written in all capital letters.",
    "The answer is polite.",
    "The answer apologizes.",
    "The answer mentions a city.",
    "The answer is a letter.",
]
OTHER_CLIENT = ROOT / "tests" / "openai_backend" / "other_client.py"


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def context(question: str, answer: str) -> LinearContext:
    ctx = LinearContext()
    ctx.insert_turn(Message("user", question), ModelOutputThunk(answer))
    return ctx


def gencomp_check(backend: OpenAIBackend, ctx: LinearContext, text: str) -> tuple[float, str, bool]:
    """p(yes), the path, and whether the verdict is uncertain, through gencomp's check."""
    result = Requirement(text).validate(backend, ctx)
    assert result.verdict is not None
    return float(result.verdict.p_yes or 0.0), result.verdict.path, result.verdict.uncertain


def one_request_check(client: httpx2.Client, ctx: LinearContext, text: str) -> tuple[float, str, bool]:
    """p(yes) and the answer of a check sent as one ``/completion`` request (what gencomp sent before)."""
    conv = [{"role": m.role, "content": m.content} for m in ctx.render_for_generation() if isinstance(m, Message)]
    last = ctx.last_output()
    assert last is not None
    conv.append({"role": "assistant", "content": str(last.value)})
    conv.append({"role": "user", "content": text})
    prompt = client.post("/apply-template", json={"messages": conv, "add_generation_prompt": False}).json()["prompt"]
    data = client.post(
        "/completion",
        json={
            "prompt": prompt + INVOCATION,
            "n_predict": 1,
            "temperature": 0.0,
            "n_probs": 10,
            "cache_prompt": True,
            "lora": [{"id": 0, "scale": 1.0}],
        },
    ).json()
    top = {t["token"]: t["logprob"] for t in data["completion_probabilities"][0]["top_logprobs"]}
    floor = min(top.values())
    p = 1 / (1 + math.exp(top.get("N", floor) - top.get("Y", floor)))
    answered = data["content"].strip() in ("Y", "N")
    return p, "alora:constraint" if answered else "no adapter", abs(p - 0.5) < ALORA_UNCERTAIN_MARGIN


def generated_answers(backend: OpenAIBackend) -> list[str]:
    answers = []
    for q in QUESTIONS:
        out = Session(backend).instruct(q, model_options={ModelOption.MAX_NEW_TOKENS: 32})
        answers.append(str(out.value))
    return answers


def case_spread(gguf: Path, alora: Path, orders: int) -> tuple[list[str], float]:
    runs: list[dict[tuple[int, int], float]] = []
    with LlamaServer(gguf, loras=[alora], context=8192, parallel=1) as server:
        backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
        answers = generated_answers(backend)
        first: dict[tuple[int, int], float] = {}
        for i, q in enumerate(QUESTIONS):  # each answer generated again, then checked: its cache decoded
            session = Session(backend)
            out = session.instruct(q, model_options={ModelOption.MAX_NEW_TOKENS: 32})
            assert out.value == answers[i]
            for j, text in enumerate(REQUIREMENTS):
                first[(i, j)] = gencomp_check(backend, session.ctx, text)[0]
        runs.append(first)
        pairs = [(i, j) for i in range(len(QUESTIONS)) for j in range(len(REQUIREMENTS))]
        for seed in range(orders - 1):
            random.Random(seed).shuffle(pairs)
            runs.append(
                {
                    (i, j): gencomp_check(backend, context(QUESTIONS[i], answers[i]), REQUIREMENTS[j])[0]
                    for i, j in pairs
                }
            )
        backend.close()
    spreads = [max(r[k] for r in runs) - min(r[k] for r in runs) for k in runs[0]]
    logit_spreads = [max(logit(r[k]) for r in runs) - min(logit(r[k]) for r in runs) for k in runs[0]]
    flips = sum(1 for k in runs[0] if len({r[k] > 0.5 for r in runs}) > 1)
    near = [max(r[k] for r in runs) - min(r[k] for r in runs) for k in runs[0] if any(0.2 < r[k] < 0.8 for r in runs)]
    rows = [
        "| the same checks in several orders | value |",
        "|---|---:|",
        f"| checks x orders | {len(runs[0])} x {len(runs)} |",
        f"| largest spread of p(yes) of one check | **{max(spreads):.3f}** |",
        f"| median spread | {statistics.median(spreads):.3f} |",
        f"| largest spread where p(yes) was between 0.2 and 0.8 in some order ({len(near)} checks) | "
        f"{max(near, default=0.0):.3f} |",
        f"| largest spread in log-odds | {max(logit_spreads):.2f} |",
        f"| checks whose verdict turned over between orders | {flips} |",
        f"| verdicts gencomp reports uncertain (p(yes) within {ALORA_UNCERTAIN_MARGIN} of 0.5), all orders | "
        f"{sum(abs(r[k] - 0.5) < ALORA_UNCERTAIN_MARGIN for r in runs for k in r)} of {len(runs) * len(runs[0])} |",
    ]
    return rows, max(spreads)


def case_shared(gguf: Path, alora: Path, quick: bool) -> list[str]:
    rows = [
        "| this client's check | the other clients | checks | answered without the adapter "
        "| adapter verdicts off by > 0.1 | decided verdicts turned over | largest difference |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    ours = "gencomp: prefill, then the check pinned to its slot"
    runs = [
        ("one `/completion` request (before)", "gencomp + a client checking in one request", ("gencomp", "raw")),
        (ours, "gencomp + a client that only generates", ("gencomp", "generate")),
        (ours, "gencomp + a client checking in one request", ("gencomp", "raw")),
    ]
    for name, described, kinds in runs:  # a fresh server each: a cache another client left wrong stays
        with LlamaServer(gguf, loras=[alora], context=8192, parallel=4) as server:
            backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
            client = httpx2.Client(base_url=server.root, timeout=300)
            answers = generated_answers(backend)
            contexts = [context(q, a) for q, a in zip(QUESTIONS, answers, strict=True)]
            reqs = REQUIREMENTS[:3] if quick else REQUIREMENTS

            def check(c: LinearContext, t: str, ours_: bool = name == ours) -> tuple[float, str, bool]:
                return gencomp_check(backend, c, t) if ours_ else one_request_check(client, c, t)  # noqa: B023

            alone = [check(c, t) for c in contexts for t in reqs]
            others = [
                subprocess.Popen(
                    [sys.executable, str(OTHER_CLIENT), server.base_url, kind],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                for kind in kinds
            ]
            try:
                for other in others:
                    assert other.stdout is not None and other.stdout.readline().strip() == "ready"
                beside = [check(c, t) for c in contexts for t in reqs]
            finally:
                for other in others:
                    other.kill()
                    other.wait()
                    if other.stdout is not None:
                        other.stdout.close()
            client.close()
            backend.close()
        lost = sum(path != "alora:constraint" for _, path, _ in beside)
        kept = [(a, b) for a, b in zip(alone, beside, strict=True) if b[1] == "alora:constraint"]
        off = sum(abs(a[0] - b[0]) > 0.1 for a, b in kept)
        flips = sum((a[0] > 0.5) != (b[0] > 0.5) and not a[2] and not b[2] for a, b in kept)
        largest = max((abs(a[0] - b[0]) for a, b in kept), default=0.0)
        rows.append(f"| {name} | {described} | {len(beside)} | {lost} | {off} | {flips} | {largest:.3f} |")
        print(rows[-1], flush=True)
    return rows


def case_costs(gguf: Path, alora: Path, reps: int) -> list[str]:
    notes = " ".join(f"Note {i}: the river passes the mill at mile {i * 7} and turns north." for i in range(60))
    rows = ["| | time (median) | min-max, or the server's counters |", "|---|---:|---|"]
    with LlamaServer(gguf, loras=[alora], context=8192, parallel=1) as server:
        backend = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
        client = httpx2.Client(base_url=server.root, timeout=600)
        session = Session(backend)
        session.instruct("Name a river in one sentence.", model_options={ModelOption.MAX_NEW_TOKENS: 24})
        ours, single = [], []
        for rep in range(reps):
            for which in (0, 1) if rep % 2 == 0 else (1, 0):
                t0 = time.perf_counter()
                if which == 0:
                    gencomp_check(backend, session.ctx, REQUIREMENTS[rep % len(REQUIREMENTS)])
                    ours.append(time.perf_counter() - t0)
                else:
                    one_request_check(client, session.ctx, REQUIREMENTS[rep % len(REQUIREMENTS)])
                    single.append(time.perf_counter() - t0)
        rows.append(
            f"| gencomp's check (4 requests), conversation cached | {statistics.median(ours) * 1000:.0f} ms | "
            f"{min(ours) * 1000:.0f}-{max(ours) * 1000:.0f} |"
        )
        rows.append(
            f"| the check as one request | {statistics.median(single) * 1000:.0f} ms | "
            f"{min(single) * 1000:.0f}-{max(single) * 1000:.0f} |"
        )
        for label, lora in (
            ("every adapter at scale 0 (gencomp)", [{"id": 0, "scale": 0.0}]),
            ("no adapter named (before)", None),
        ):
            conv = [{"role": "user", "content": f"[{label}] {notes}\nSummarize in one sentence."}]
            body: dict[str, Any] = {"messages": conv, "max_tokens": 16, "temperature": 0}
            if lora is not None:
                body["lora"] = lora
            first = client.post("/v1/chat/completions", json=body).json()
            conv.append({"role": "assistant", "content": first["choices"][0]["message"]["content"]})
            check_ctx = LinearContext()
            check_ctx.insert_turn(Message("user", conv[0]["content"]), ModelOutputThunk(conv[1]["content"]))
            gencomp_check(backend, check_ctx, "The answer mentions a river.")
            conv.append({"role": "user", "content": "And in two words?"})
            t0 = time.perf_counter()
            second = client.post("/v1/chat/completions", json={**body, "messages": conv}).json()
            seconds = time.perf_counter() - t0
            timings = second["timings"]
            rows.append(
                f"| next turn after a check (~1,250-token conversation), {label} | {seconds * 1000:.0f} ms | "
                f"{timings['prompt_n']} tokens computed, {timings['cache_n']} reused |"
            )
            print(rows[-1], flush=True)
        client.close()
        backend.close()
    return rows


def case_stream(sizes: list[int]) -> list[str]:
    rows = ["| streamed answer | time | per MB |", "|---|---:|---:|"]
    piece = 2000
    event = ("data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "x" * piece}}]}) + "\n\n").encode()
    for mb in sizes:
        n = mb * 2**20 // piece

        def handler(request: httpx2.Request, n: int = n) -> httpx2.Response:
            if request.url.path == "/v1/models":
                return httpx2.Response(200, json={"data": [{"id": "m", "owned_by": "x"}]})
            body = iter([event] * n + [b"data: [DONE]\n\n"])
            return httpx2.Response(200, content=body, headers={"Content-Type": "text/event-stream"})

        backend = OpenAIBackend(
            base_url="http://fake.test/v1", transport=httpx2.MockTransport(handler), max_response_bytes=2**31
        )
        t0 = time.perf_counter()
        total = sum(len(c.text) for c in Session(backend).instruct_stream("x"))
        seconds = time.perf_counter() - t0
        assert total == n * piece
        rows.append(f"| {mb} MB ({n} events) | {seconds:.2f} s | {seconds / mb:.3f} s |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-remote.md")
    parser.add_argument(
        "--print-only", choices=["spread", "shared", "costs", "stream"], help="run one case, write nothing"
    )
    args = parser.parse_args()
    gguf, alora = assets()
    started = time.perf_counter()
    if args.print_only:
        if args.print_only == "spread":
            print("\n".join(case_spread(gguf, alora, 3 if args.quick else 6)[0]))
        elif args.print_only == "shared":
            case_shared(gguf, alora, args.quick)
        elif args.print_only == "costs":
            case_costs(gguf, alora, 3 if args.quick else 8)
        else:
            case_stream([5, 10] if args.quick else [5, 10, 20, 40])
        return
    spread_rows, largest = case_spread(gguf, alora, 3 if args.quick else 6)
    print("\n".join(spread_rows), flush=True)
    shared_rows = case_shared(gguf, alora, args.quick)
    cost_rows = case_costs(gguf, alora, 3 if args.quick else 8)
    stream_rows = case_stream([5, 10] if args.quick else [5, 10, 20, 40])
    start, end = "<!-- remote_verdicts: start -->", "<!-- remote_verdicts: end -->"
    section = "\n".join(
        [
            start,
            "## Verdicts on a shared server, and what the hardening costs",
            "",
            f"Written by `benchmarks/remote_verdicts.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f"{' (--quick)' if args.quick else ''}; the server and each client on one thread of this 2-core machine "
            f"(load average {os.getloadavg()[0]:.1f} at the end: other jobs ran).",
            "",
            "### The spread of p(yes) by how the server computed the conversation's cache",
            "",
            *spread_rows,
            "",
            f"gencomp reports a remote aLoRA verdict as `uncertain` when p(yes) is within {ALORA_UNCERTAIN_MARGIN} of "
            f"0.5 (largest spread here: {largest:.3f}).",
            "",
            "### Another client on the same server (`--parallel 4`)",
            "",
            *shared_rows,
            "",
            "### Costs",
            "",
            *cost_rows,
            "",
            "### A long streamed answer (scripted server)",
            "",
            *stream_rows,
            "",
            f"Total run time: {time.perf_counter() - started:.0f} s.",
            end,
        ]
    )
    write_section(args.output, start, end, section)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
