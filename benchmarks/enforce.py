"""The cost of enforcement, per kind: decoding speed with the constraint against without, and compile times.

For each enforceable kind (the requirements of ``datasets/enforce_prompts/build.py``, one prompt each), on
the embedded model, side by side in one run (interleaved, repeated, medians):

- in-process (HF backend, 1 torch thread, greedy): decoding tokens per second without and with the kind's
  constraint. A call's time less the time of the same call cut to one token (the prompt and the first
  step) is its decoding time; tokens per second is the tokens after the first over that time;
- on llama-server (1 thread, one slot, its default sampling): the server's own decoding rate
  (``timings.predicted_per_second``), plain and with the kind's GBNF grammar;
- compile times: gencomp's grammar (``constraint_of``, the Lark text; the GBNF text), and llguidance's
  compile of the Lark grammar for the model's tokenizer (``LLMatcher``; the backend keeps it per constraint).

Prints the table and writes it into ``benchmarks/RESULTS.md`` between the ``enforce`` markers.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/enforce.py [--repeat 3] [--tokens 48] [--no-server]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import write_section

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START, END = "<!-- enforce:start -->", "<!-- enforce:end -->"
COMBINED = "no_comma + all_lowercase + number_words + quotation"


def _kinds() -> dict[str, tuple[dict[str, Any], str]]:
    spec = importlib.util.spec_from_file_location("enforce_prompts", ROOT / "datasets" / "enforce_prompts" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.KINDS)


def _requirements(kind: str, params: dict[str, Any], task: str) -> list[Any]:
    from gencomp import checks

    if kind == COMBINED:
        return [checks.no_comma(), checks.all_lowercase(english=False), checks.max_words(40), checks.quotation()]
    if kind == "repeat_prompt":
        params = {"prompt_to_repeat": task}
    return [checks.make(kind, **params)]


def _constraint(reqs: list[Any]) -> Any:
    from gencomp.constraints import plan

    return plan(reqs, syntaxes={"lark", "gbnf"}).constraint


def _hf_call(backend: Any, task: str, reqs: list[Any], constraint: Any, tokens: int) -> tuple[float, int]:
    from gencomp import Instruction, LinearContext, ModelOption

    options: dict[str, Any] = {ModelOption.MAX_NEW_TOKENS: tokens}
    if constraint is not None:
        options[ModelOption.CONSTRAINT] = constraint
    logs: list[Any] = []
    start = time.perf_counter()
    backend.generate_from_context(
        Instruction(task, requirements=reqs), LinearContext(), model_options=options, generate_logs=logs
    )
    return time.perf_counter() - start, int(logs[-1].extra["new_tokens"])


def _hf_rate(backend: Any, task: str, reqs: list[Any], constraint: Any, tokens: int) -> float:
    one, _ = _hf_call(backend, task, reqs, constraint, 1)
    whole, n = _hf_call(backend, task, reqs, constraint, tokens)
    return (n - 1) / max(whole - one, 1e-6) if n > 1 else float("nan")


def _compile_times(backend: Any, constraint: Any) -> tuple[float, float, float, int]:
    from llguidance import LLMatcher

    from gencomp.constraints import Constraint

    fresh = Constraint(constraint._node, constraint.sources)  # no cached automaton
    start = time.perf_counter()
    lark = fresh.lark()
    t_lark = time.perf_counter() - start
    start = time.perf_counter()
    gbnf = fresh.gbnf()
    t_gbnf = time.perf_counter() - start
    ll = backend.generator._ll_tokenizer()
    start = time.perf_counter()
    LLMatcher(ll, lark, log_level=0)
    return t_lark, t_gbnf, time.perf_counter() - start, len(gbnf)


async def _server_rate(backend: Any, task: str, reqs: list[Any], constraint: Any, tokens: int) -> float:
    from gencomp import Instruction, LinearContext, ModelOption

    options: dict[str, Any] = {ModelOption.MAX_NEW_TOKENS: tokens}
    if constraint is not None:
        options[ModelOption.CONSTRAINT] = constraint
    out = await backend.agenerate_from_context(
        Instruction(task, requirements=reqs), LinearContext(), model_options=options
    )
    timings = out.meta.get("timings") or {}
    return float(timings.get("predicted_per_second", float("nan")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()

    import gencomp

    kinds = _kinds()
    names = args.only or [*kinds, COMBINED]
    session = gencomp.start_session(threads=1)
    backend = session.backend
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        params, template = kinds.get(name, ({}, "Describe {t}."))
        task = template.format(t="a river town")
        reqs = _requirements(name, params, task)
        constraint = _constraint(reqs)
        t_core_start = time.perf_counter()
        _constraint(_requirements(name, params, task))
        t_core = time.perf_counter() - t_core_start
        t_lark, t_gbnf, t_ll, gbnf_size = _compile_times(backend, constraint)
        plain, enforced = [], []
        for _ in range(args.repeat):  # interleaved: the machine's load hits both alike
            plain.append(_hf_rate(backend, task, reqs, None, args.tokens))
            enforced.append(_hf_rate(backend, task, reqs, constraint, args.tokens))
        rows[name] = {
            "reqs": reqs, "task": task, "constraint": constraint, "hf_plain": statistics.median(plain),
            "hf_enforced": statistics.median(enforced), "core_ms": t_core * 1e3, "lark_ms": t_lark * 1e3,
            "gbnf_ms": t_gbnf * 1e3, "llg_ms": t_ll * 1e3, "gbnf_kb": gbnf_size / 1024,
        }  # fmt: skip
        print(f"{name}: hf {rows[name]['hf_plain']:.1f} -> {rows[name]['hf_enforced']:.1f} tok/s", flush=True)
    if not args.no_server:
        from gencomp_hf_backend.default_model import gguf_path
        from gencomp_openai import OpenAIBackend
        from gencomp_openai.llama_cpp import LlamaServer

        with LlamaServer(Path(gguf_path()), context=4096, parallel=1, extra_args=["--no-repack"]) as server:
            remote = OpenAIBackend(base_url=server.base_url)
            try:
                for name, row in rows.items():
                    plain, enforced = [], []
                    for _ in range(args.repeat):
                        plain.append(asyncio.run(_server_rate(remote, row["task"], row["reqs"], None, args.tokens)))
                        enforced.append(
                            asyncio.run(_server_rate(remote, row["task"], row["reqs"], row["constraint"], args.tokens))
                        )
                    row["srv_plain"], row["srv_enforced"] = statistics.median(plain), statistics.median(enforced)
                    print(f"{name}: server {row['srv_plain']:.1f} -> {row['srv_enforced']:.1f} tok/s", flush=True)
            finally:
                remote.close()
    lines = [
        "| kind | in-process tok/s plain | enforced | slower by | llama-server tok/s plain | enforced | slower by "
        "| gencomp grammar ms | Lark ms | llguidance compile ms | GBNF ms (KiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        srv = (
            f"{r['srv_plain']:.1f} | {r['srv_enforced']:.1f} | {r['srv_plain'] / r['srv_enforced']:.2f}x"
            if "srv_plain" in r
            else "- | - | -"
        )
        lines.append(
            f"| `{name}` | {r['hf_plain']:.1f} | {r['hf_enforced']:.1f} | {r['hf_plain'] / r['hf_enforced']:.2f}x "
            f"| {srv} | {r['core_ms']:.1f} | {r['lark_ms']:.1f} | {r['llg_ms']:.1f} | {r['gbnf_ms']:.1f} "
            f"({r['gbnf_kb']:.1f}) |"
        )
    ratios = [r["hf_plain"] / r["hf_enforced"] for r in rows.values()]
    srv_ratios = [r["srv_plain"] / r["srv_enforced"] for r in rows.values() if "srv_plain" in r]
    summary = (
        f"In-process: enforced decoding is {statistics.median(ratios):.2f}x slower (median; worst {max(ratios):.2f}x)"
    )
    if srv_ratios:
        summary += f"; llama-server: {statistics.median(srv_ratios):.2f}x (worst {max(srv_ratios):.2f}x)"
    section = "\n".join(
        [
            START,
            "## Enforcement: decoding speed with and without the constraint, and compile times",
            "",
            f"`benchmarks/enforce.py --repeat {args.repeat} --tokens {args.tokens}`: embedded SmolLM2-135M-Instruct, "
            "one thread, one prompt per kind (in-process greedy; llama-server at its default sampling); medians of "
            "interleaved runs. Slower by = plain / enforced tokens per second (decoding only: the prompt and the "
            "first step are left out). `constrained_response`'s enforced answer is one of three short options, so "
            "its rate is not of the same work.",
            "",
            *lines,
            "",
            summary + ".",
            END,
        ]
    )
    print("\n".join(lines) + "\n" + summary)
    write_section(HERE / "RESULTS.md", START, END, section)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
