"""best-of-n (N = 4) side by side: its wall time against the backend's own time for the same 4 answers, 4 attempts
one after another, and one plain attempt (issue 20's first speed bullet).

On IFEval prompts (``--data``) whose requirements (their official descriptions) cannot stop an answer
early, so that every variant generates the same number of tokens: every answer is exactly
``--tokens`` long (llama-server: ``ignore_eos``; HF: ``min_new_tokens``), sampled at temperature 0.7
with seeds 0-3. Variants, interleaved in an order that rotates every repetition:

- ``best-of-4``: ``Session.instruct(strategy="best-of-n", loop_budget=4)``: the 4 candidates at
  once (llama-server: 4 parallel requests to ``--parallel 4``; HF: one batched ``generate`` whose rows
  share the prompt's KV cache), each checked, the best kept;
- the backend's own time for those same 4 answers, read in the same call: llama-server's
  ``timings`` (prompt + decode, the longest of the 4 requests); HF: the time spent inside
  ``model.generate`` and the prompt's prefill;
- ``4 batched, no gencomp``: llama-server: 4 bare ``httpx2`` requests of the same messages at once;
  HF: one ``model.generate`` of the 4 rows on the same prompt ids;
- ``4 one after another``: 4 ``instruct(loop_budget=1)`` calls with seeds 0-3 (how mellea and DSPy
  run N attempts);
- ``one plain attempt``: one generation, nothing checked.

Prints a table and writes it into ``benchmarks/RESULTS.md`` between the ``bestofn-speed`` markers.

    .venv/bin/python benchmarks/bestofn_speed.py --data ../shared/ifeval [--sides llama,hf] [--repeat 3]
        [--tokens 64] [--prompts 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ifeval_data  # noqa: E402
from _common import write_section  # noqa: E402

START, END = "<!-- bestofn-speed:start -->", "<!-- bestofn-speed:end -->"
N = 4
TEMPERATURE = 0.7


def log(msg: str) -> None:
    print(f"[bestofn {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def unstoppable(prompts: list[ifeval_data.Prompt], count: int) -> list[ifeval_data.Prompt]:
    """The first ``count`` prompts whose requirement texts are all checked by code on whole answers only.

    A requirement with a ``prefix_fn`` may stop a candidate early, which would make the variants
    generate different numbers of tokens; a model-checked one would put the aLoRA's time in.
    """
    from gencomp import checks

    chosen = []
    for p in prompts:
        reqs = [checks.recognise(t) for t in ifeval_data.requirement_texts(p)]
        if reqs and all(r is not None and r.prefix_fn is None for r in reqs):
            chosen.append(p)
        if len(chosen) == count:
            break
    return chosen


class Side:
    """One backend and the variants measured on it."""

    name = ""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def options(self, seed: int) -> dict[str, Any]:
        raise NotImplementedError

    def best_of_4(self, p: ifeval_data.Prompt) -> tuple[float, float, int]:
        """Wall time of a best-of-4 call, the backend's own time for its 4 answers, and its tokens."""
        raise NotImplementedError

    def batched(self, p: ifeval_data.Prompt) -> float:
        raise NotImplementedError

    def one_by_one(self, p: ifeval_data.Prompt) -> float:
        from gencomp import Session

        start = time.perf_counter()
        for i in range(N):
            out = Session(self.backend).instruct(
                p.prompt, requirements=ifeval_data.requirement_texts(p), loop_budget=1, model_options=self.options(i)
            )
            assert out.value
        return time.perf_counter() - start

    def plain(self, p: ifeval_data.Prompt) -> float:
        from gencomp import Instruction, Session

        start = time.perf_counter()
        out = Session(self.backend).act(
            Instruction(p.prompt, requirements=ifeval_data.requirement_texts(p)), model_options=self.options(0)
        )
        assert out.value
        return time.perf_counter() - start

    backend: Any = None

    def close(self) -> None:
        pass


class Llama(Side):
    name = "llama-server"

    def __init__(self, tokens: int) -> None:
        super().__init__(tokens)
        from gencomp import ModelOption
        from gencomp_alora.training.hooks import shipped_adapter_dir
        from gencomp_hf_backend.default_model import ensure_default_model, gguf_path
        from gencomp_openai import OpenAIBackend
        from gencomp_openai.llama_cpp import LlamaServer, convert_alora

        alora = convert_alora(shipped_adapter_dir(), ensure_default_model(), name="constraint")
        self.server = LlamaServer(Path(gguf_path()), loras=[alora], context=2048 * N, parallel=N, threads=1).start()
        self.backend = OpenAIBackend(
            base_url=self.server.base_url, model_options={ModelOption.MAX_NEW_TOKENS: tokens, ModelOption.SEED: 0}
        )
        self.messages: dict[int, Any] = {}

    def options(self, seed: int) -> dict[str, Any]:
        from gencomp import ModelOption

        return {ModelOption.SEED: seed, ModelOption.TEMPERATURE: TEMPERATURE, "extra_body": {"ignore_eos": True}}

    def best_of_4(self, p: ifeval_data.Prompt) -> tuple[float, float, int]:
        from gencomp import Session

        session = Session(self.backend)
        start = time.perf_counter()
        result = session.instruct(
            p.prompt, requirements=ifeval_data.requirement_texts(p), strategy="best-of-n", loop_budget=N,
            model_options=self.options(0), return_sampling_results=True,
        )  # fmt: skip
        wall = time.perf_counter() - start
        timings = [a.output.meta["timings"] for a in result.attempts]
        own = max(float(t["prompt_ms"]) + float(t["predicted_ms"]) for t in timings) / 1000
        self.messages[p.key] = session.last_logs[0].prompt
        return wall, own, result.cost.generated_tokens or 0

    def batched(self, p: ifeval_data.Prompt) -> float:
        import httpx2

        async def go() -> float:
            async with httpx2.AsyncClient(base_url=self.server.root, timeout=600) as client:
                payloads = [
                    {"messages": self.messages[p.key], "max_tokens": self.tokens, "temperature": TEMPERATURE,
                     "seed": i, "ignore_eos": True, "lora": [{"id": 0, "scale": 0.0}]}
                    for i in range(N)
                ]  # fmt: skip
                start = time.perf_counter()
                answers = await asyncio.gather(*(client.post("/v1/chat/completions", json=x) for x in payloads))
                wall = time.perf_counter() - start
                assert all(a.status_code == 200 for a in answers)
                return wall

        return asyncio.run(go())

    def close(self) -> None:
        self.backend.close()
        self.server.stop()


class HF(Side):
    name = "in-process HF"

    def __init__(self, tokens: int) -> None:
        super().__init__(tokens)
        import gencomp
        from gencomp import ModelOption

        self.backend = gencomp.start_session(
            "hf", threads=1, model_options={ModelOption.MAX_NEW_TOKENS: tokens}
        ).backend
        self.inside = 0.0
        model = self.backend.model
        generate, forward = model.generate, model.forward

        def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if self.timing_forward and fn is forward and self.depth == 0:
                    start = time.perf_counter()
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        self.inside += time.perf_counter() - start
                if fn is generate:
                    self.depth += 1
                    start = time.perf_counter()
                    try:
                        return fn(*args, **kwargs)
                    finally:
                        self.depth -= 1
                        self.inside += time.perf_counter() - start
                return fn(*args, **kwargs)

            return wrapper

        self.depth = 0
        self.timing_forward = False
        model.generate = timed(generate)
        model.forward = timed(forward)

    def options(self, seed: int) -> dict[str, Any]:
        from gencomp import ModelOption

        return {ModelOption.SEED: seed, ModelOption.TEMPERATURE: TEMPERATURE, "min_new_tokens": self.tokens}

    def best_of_4(self, p: ifeval_data.Prompt) -> tuple[float, float, int]:
        from gencomp import Session

        self.inside, self.timing_forward = 0.0, True
        start = time.perf_counter()
        result = Session(self.backend).instruct(
            p.prompt, requirements=ifeval_data.requirement_texts(p), strategy="best-of-n", loop_budget=N,
            model_options=self.options(0), return_sampling_results=True,
        )  # fmt: skip
        wall = time.perf_counter() - start
        self.timing_forward = False
        return wall, self.inside, result.cost.generated_tokens or 0

    def batched(self, p: ifeval_data.Prompt) -> float:
        import torch

        from gencomp import Instruction

        prompt_text = self.backend.render(Instruction(p.prompt, requirements=ifeval_data.requirement_texts(p)))
        ids = self.backend.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt_text}], add_generation_prompt=True, return_tensors="pt",
            return_dict=True,
        )["input_ids"]  # fmt: skip
        torch.manual_seed(0)
        start = time.perf_counter()
        with torch.no_grad(), self.backend.base_only():
            out = self.backend.model.generate(
                input_ids=ids.expand(N, -1).contiguous(), do_sample=True, temperature=TEMPERATURE,
                max_new_tokens=self.tokens, min_new_tokens=self.tokens,
                pad_token_id=self.backend.tokenizer.eos_token_id,
            )  # fmt: skip
        wall = time.perf_counter() - start
        assert out.shape[1] == ids.shape[1] + self.tokens
        return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sides", default="llama,hf")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    prompts = unstoppable(ifeval_data.load(args.data), args.prompts)
    load_before = os.getloadavg()[0]
    rows = []
    for side_name in [s.strip() for s in args.sides.split(",") if s.strip()]:
        side: Side = Llama(args.tokens) if side_name == "llama" else HF(args.tokens)
        try:
            for p in prompts:  # warm-up, untimed; fills the bare variant's messages
                side.best_of_4(p)
            runs: dict[str, list[float]] = {k: [] for k in ("bo4", "own", "batched", "serial", "plain")}
            tokens: list[int] = []
            variants = ["bo4", "batched", "serial", "plain"]
            for r in range(args.repeat):
                for p in prompts:
                    for v in variants[r % 4 :] + variants[: r % 4]:
                        if v == "bo4":
                            wall, own, n = side.best_of_4(p)
                            runs["bo4"].append(wall)
                            runs["own"].append(own)
                            tokens.append(n)
                        elif v == "batched":
                            runs["batched"].append(side.batched(p))
                        elif v == "serial":
                            runs["serial"].append(side.one_by_one(p))
                        else:
                            runs["plain"].append(side.plain(p))
                log(f"{side.name}: repetition {r + 1}/{args.repeat}: best-of-4 {runs['bo4'][-1]:.2f} s, "
                    f"backend's own {runs['own'][-1]:.2f} s, one after another {runs['serial'][-1]:.2f} s")  # fmt: skip
        finally:
            side.close()
        med = {k: statistics.median(v) for k, v in runs.items()}
        over = statistics.median(b / o for b, o in zip(runs["bo4"], runs["own"], strict=True))
        rows.append(
            f"| {side.name} | {med['bo4']:.2f} s | {med['own']:.2f} s | **{over:.2f}** | {med['batched']:.2f} s | "
            f"{med['serial']:.2f} s | **{med['serial'] / med['bo4']:.2f}x** | {med['plain']:.2f} s | "
            f"**{med['bo4'] / med['plain']:.2f}** | {statistics.median(tokens):.0f} |"
        )
    load_after = os.getloadavg()[0]
    table = "\n".join(
        [
            START,
            f"### best-of-n (N = 4) side by side ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Written by `benchmarks/bestofn_speed.py`: {len(prompts)} IFEval prompts (keys "
            f"{', '.join(str(p.key) for p in prompts)}) with their official requirement texts, every answer "
            f"exactly {args.tokens} tokens, temperature {TEMPERATURE}, seeds 0-3; {args.repeat} interleaved "
            f"repetitions, medians. 2-core machine shared with other work: load average {load_before:.1f} before, "
            f"{load_after:.1f} after. \"Backend's own\" is read in the same best-of-4 call: llama-server's timings "
            "(prompt + decode of the slowest of the 4 requests), or the time inside the HF model's `generate` "
            "and the prompt's prefill. Bar: best-of-4 within 1.10x of it.",
            "",
            "| side | best-of-4 (gencomp) | backend's own time, same call | best-of-4 / own | 4 batched, no gencomp "
            "| 4 one after another | speed-up over one after another | one plain attempt | best-of-4 / plain | "
            "tokens of the 4 answers |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            END,
        ]
    )
    print(table)
    write_section(args.output, START, END, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
