"""Requirement-check speed on the embedded model with the shipped ``constraint`` aLoRA (issue 20's check bars).

Two measurements, each side by side in one run, variants interleaved (their order rotates every
repetition), torch pinned to ``--threads`` threads:

1. **A single cached check against its physical floor**, after conversations of about 128, 512 and
   2,048 tokens (an ``instruct`` with a grounding document; its KV cache stays in the backend):
   - *floor*: one raw forward pass of the base model over only the check's own new tokens, against
     a view of the cached prefix (``DynamicCache`` layers pointing at the stored tensors), keeping
     the last logits; the tokens are the check's, computed once beforehand (untimed);
   - *check*: ``gencomp_alora.check_requirement`` (the plugin's whole check: prompt ids, forward, verdict);
   - *validate*: ``Requirement(...).validate(backend, ctx)`` (the public path: core, hook, logs);
   - *PEFT forward*: the same tokens through PEFT's own aLoRA forward (``model(..., alora_offsets=[k])``),
     what the check ran before this script's change.
2. **The checks of 4 best-of-n candidates against checking one**: the 4 candidates of one
   ``best-of-n`` call (one batched generation on the same grounded prompt, sampled), then
   ``gencomp.verdicts.check_candidates`` over all 4 (the strategies' check step, through the
   ``gencomp_check_candidates`` hook) vs ``gencomp.check_requirements`` on one candidate, and the
   4 checked one after another; with 1 and with 3 requirements. The verdicts of the batch are
   compared with the one-by-one checks (largest ``p(yes)`` difference).

``--profile`` adds where the time of one check goes at the longest conversation (torch.profiler,
op self times by kind, and the time outside torch ops), for the check, the floor and PEFT's forward,
and the time of tokenizing the conversation as the check did before. Prints the tables and writes
them into ``benchmarks/RESULTS.md`` between the ``checkspeed`` markers.

    .venv/bin/python benchmarks/checkspeed.py [--repeat N] [--lengths 128,512,2048] [--threads N] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import filler_text, write_section

HERE = Path(__file__).resolve().parent
START, END = "<!-- checkspeed:start -->", "<!-- checkspeed:end -->"
QUESTION = "Summarize the document in one sentence."
REQS = [
    "The answer mentions the stone bridge.",
    "The answer names the town's market day.",
    "The answer is polite and friendly.",
]
ANSWER_TOKENS = 16
BAR_SINGLE, BAR_CANDIDATES = 1.10, 2.0


def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], statistics.median(xs), q[2]


def paired(times: dict[str, list[float]], name: str, base: str) -> float:
    """The median over repetitions of ``name``'s time over ``base``'s (both ran back to back in each repetition)."""
    return statistics.median(a / b for a, b in zip(times[name], times[base], strict=True))


def _met(value: float, bar: float) -> str:
    return "met" if value <= bar else "NOT met"


def _ms(s: float) -> str:
    return f"{s * 1000:.1f} ms"


def interleave(repeat: int, variants: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Run every variant once per repetition, in an order that rotates; returns each one's seconds."""
    names = list(variants)
    times: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up, untimed
        variants[name]()
    for r in range(repeat):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t0 = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - t0)
    return times


class Setup:
    """The embedded model with its shipped aLoRA, the conversations and the candidates."""

    def __init__(self, lengths: list[int]) -> None:
        from gencomp import LinearContext, LRUCache, ModelOption, Session, start_session
        from gencomp_alora.registry import registry

        self.session = start_session("hf", cache=LRUCache(4 * len(lengths)))  # nothing evicted during the run
        self.backend: Any = self.session.backend
        self.adapter = registry(self.backend).get("constraint")
        if self.adapter is None:
            raise SystemExit("the shipped constraint aLoRA is not loaded on the embedded model")
        self.model = registry(self.backend).model
        self.ctx: dict[int, Any] = {}
        self.candidates: dict[int, list[Any]] = {}
        self.tokens: dict[int, int] = {}
        tokenizer = self.backend.tokenizer
        for length in lengths:
            grounding = {"document": filler_text(tokenizer, max(length - 60 - ANSWER_TOKENS, 8))}
            s = Session(self.backend, LinearContext())
            s.instruct(
                QUESTION,
                grounding_context=grounding,
                loop_budget=1,
                model_options={ModelOption.MAX_NEW_TOKENS: ANSWER_TOKENS},
            )
            self.ctx[length] = s.ctx
            entry = self.backend.cache_entry(s.ctx.last_output())
            self.tokens[length] = int(entry.merged_token_ids.shape[1])
            best = Session(self.backend, LinearContext(), strategy="best-of-n")
            result = best.instruct(
                QUESTION,
                grounding_context=grounding,
                loop_budget=4,
                model_options={ModelOption.MAX_NEW_TOKENS: ANSWER_TOKENS, ModelOption.SEED: 1, "temperature": 0.8},
                return_sampling_results=True,
            )
            ctxs = []
            for attempt in result.attempts:
                checked = LinearContext()
                checked.insert_turn(attempt.action, attempt.output)
                ctxs.append(checked)
            self.candidates[length] = ctxs

    # -- single check ---------------------------------------------------------------------------

    def single_variants(self, length: int) -> dict[str, Callable[[], Any]]:
        import torch

        from gencomp import Requirement
        from gencomp_alora import check_requirement
        from gencomp_alora.kv import prefix_view
        from gencomp_hf_backend.compat import with_cache

        b, ctx, model, name = self.backend, self.ctx[length], self.model, self.adapter.name
        first = check_requirement(b, REQS[0], ctx)
        ids, reused, start = first.prompt_ids, first.reused_tokens, first.invocation_start
        assert reused > 0, "the check must reuse the conversation's cache"
        entry = b.cache_entry(ctx.last_output())
        new = torch.tensor([ids[reused:]])
        config = b.model.config

        def floor() -> Any:
            with b.lock, torch.inference_mode(), b.base_only():
                past = prefix_view(entry.kv_cache, reused, config)
                return b.model(input_ids=new, **with_cache(past), use_cache=True, logits_to_keep=1)

        def peft() -> Any:
            with b.lock, torch.inference_mode():
                if model.active_adapter != name:
                    model.set_adapter(name)
                past = prefix_view(entry.kv_cache, reused, config)
                return model(
                    input_ids=new,
                    **with_cache(past),
                    use_cache=True,
                    alora_offsets=[len(ids) - start],
                    logits_to_keep=1,
                )

        requirement = Requirement(REQS[0])
        self.new_tokens = len(ids) - reused
        return {
            "floor": floor,
            "check": lambda: check_requirement(b, REQS[0], ctx),
            "validate": lambda: requirement.validate(b, ctx),
            "PEFT forward": peft,
        }

    # -- candidates -------------------------------------------------------------------------------

    def candidate_variants(self, length: int, n_reqs: int) -> dict[str, Callable[[], Any]]:
        """The checks of one candidate, of the 4 batched and one after another; and the raw floor for each size."""
        import torch

        from gencomp import Requirement, check_requirements
        from gencomp.verdicts import check_candidates
        from gencomp_alora.kv import prefix_view
        from gencomp_hf_backend.compat import with_cache

        b, ctxs = self.backend, self.candidates[length]
        reqs = [Requirement(r) for r in REQS[:n_reqs]]
        one, batched = (
            self._computed(check_requirements(reqs, b, ctxs[0])),
            self._computed(check_candidates(reqs, b, ctxs)[0]),
        )
        entry = b.cache_entry(ctxs[0].last_output())
        cached = entry.kv_cache.get_seq_length()
        ids = entry.merged_token_ids[0, -1:].repeat(batched)  # the floor's tokens: how many matters, not which

        def floor(q: int) -> Callable[[], Any]:
            def run() -> Any:
                with b.lock, torch.inference_mode(), b.base_only():
                    past = prefix_view(entry.kv_cache, cached, b.model.config)
                    return b.model(input_ids=ids[None, :q], **with_cache(past), use_cache=True, logits_to_keep=1)

            return run

        self.computed = (one, batched)
        return {
            "1 candidate": lambda: check_requirements(reqs, b, ctxs[0]),
            "4 candidates, batched": lambda: check_candidates(reqs, b, ctxs),
            "4 candidates, one after another": lambda: [check_requirements(reqs, b, c) for c in ctxs],
            "floor, 1 candidate's new tokens": floor(one),
            "floor, the batch's new tokens": floor(batched),
        }

    @staticmethod
    def _computed(results: list[Any]) -> int:
        """The positions a check call computed (all of its batch), from its first verdict's log."""
        log = results[0].thunk.generate_log
        extra = log.extra if log is not None else {}
        return int(extra.get("batch_computed_tokens") or extra["computed_tokens"])

    def candidate_agreement(self, length: int, n_reqs: int) -> tuple[float, int, str]:
        """Largest |p_yes| difference between the batch and one-by-one checks, the batch size, the path."""
        from gencomp import Requirement, check_requirements
        from gencomp.verdicts import check_candidates

        b, ctxs = self.backend, self.candidates[length]
        reqs = [Requirement(r) for r in REQS[:n_reqs]]
        batched = check_candidates(reqs, b, ctxs)
        alone = [check_requirements(reqs, b, c) for c in ctxs]
        pairs = [(x, y) for xs, ys in zip(batched, alone, strict=True) for x, y in zip(xs, ys, strict=True)]
        assert all((x.verdict.reused_tokens or 0) > 0 for x, _ in pairs), "the candidates' caches must be reused"
        diff = max(abs((x.score or 0.0) - (y.score or 0.0)) for x, y in pairs)
        meta = batched[0][0].thunk.meta if batched[0][0].thunk is not None else {}
        return diff, int(meta.get("batch_size", 1)), str(meta.get("check_path"))


# -- profile ------------------------------------------------------------------------------------------


def _kind(op: str) -> str:
    if op in ("aten::mm", "aten::addmm", "aten::bmm"):
        return "matmul"
    if "scaled_dot_product" in op:
        return "attention"
    if op == "aten::cat":
        return "cat (cache copy)"
    return "other ops"


def _where_it_goes(summary: dict[str, dict[str, float]], name: str, label: str) -> str:
    """One sentence: how much longer ``name`` took than the floor, and the kinds of time that grew most."""
    extra = summary[name]["wall"] - summary["floor"]["wall"]
    grew = sorted(
        ((kind, summary[name][kind] - summary["floor"][kind]) for kind in summary[name] if kind != "wall"),
        key=lambda kv: -kv[1],
    )
    parts = ", ".join(f"{kind} +{_ms(d)}" for kind, d in grew if d > 0.0005)
    return f"- *{name}* ({label}): {_ms(extra)} over the floor; what grew: {parts or 'nothing measurable'}."


def profile(setup: Setup, length: int, runs: int) -> list[str]:
    """Where one check's time goes at ``length`` tokens: op self times by kind, and time outside torch ops."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from gencomp_alora.prompt import check_suffix_ids, text_ids

    variants = setup.single_variants(length)
    names = ["floor", "check", "PEFT forward"]
    kinds = ["matmul", "attention", "cat (cache copy)", "other ops"]
    walls: dict[str, list[float]] = {name: [] for name in names}
    spent: dict[str, dict[str, list[float]]] = {name: {kind: [] for kind in kinds} for name in names}
    for r in range(runs + 1):  # interleaved like the timings; the first round warms up
        for name in names[r % 3 :] + names[: r % 3]:
            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                t0 = time.perf_counter()
                variants[name]()
                wall = time.perf_counter() - t0
            if r == 0:
                continue
            walls[name].append(wall)
            per_kind = dict.fromkeys(kinds, 0.0)
            for event in prof.key_averages():
                per_kind[_kind(event.key)] += event.self_cpu_time_total / 1e6
            for kind in kinds:
                spent[name][kind].append(per_kind[kind])
    rows = [
        f"Where one check's time goes after {setup.tokens[length]} tokens (medians of {runs} interleaved runs under "
        "torch.profiler, which slows small ops; self time of the torch ops by kind, and the rest of the wall time):",
        "",
        "| variant | wall | " + " | ".join(kinds) + " | outside torch ops |",
        "|---|---:|" + "---:|" * (len(kinds) + 1),
    ]
    summary: dict[str, dict[str, float]] = {}
    for name in names:
        med = {kind: statistics.median(spent[name][kind]) for kind in kinds}
        wall = statistics.median(walls[name])
        outside = statistics.median(w - sum(spent[name][k][i] for k in kinds) for i, w in enumerate(walls[name]))
        rows.append(f"| {name} | {_ms(wall)} | " + " | ".join(_ms(med[k]) for k in kinds) + f" | {_ms(outside)} |")
        summary[name] = {**med, "wall": wall, "outside torch ops": outside}
    rows += [
        "",
        "Where the extra time went, from the table: PEFT's aLoRA forward installs and removes its hooks on every "
        "adapted layer at each call and runs each adapted linear as two extra linears, a multiply and a slice add "
        "(the growth in small ops and in Python outside torch ops); the check also tokenized the whole "
        "conversation twice to find its own ids (below). The check now runs the adapter through a stand-in "
        "module (one `addmm_` on the adapted rows, `gencomp_alora.forward`) and builds only its suffix ids, "
        "which leaves it within a few percent of the floor at every length; its output layer computes only the "
        "logits of the answer's two tokens, where the floor's computes all 49,152 (about 8 ms for one row, "
        "20 ms for a batch's four: the matmul the check saves):",
        "",
        _where_it_goes(summary, "PEFT forward", "the check before this work"),
        _where_it_goes(summary, "check", "the check now"),
    ]
    # the check's prompt ids: what the check tokenizes now, and the two whole-conversation tokenizations it did before
    from gencomp_alora.generate import _conversation

    b, ctx = setup.backend, setup.ctx[length]
    conv = _conversation(b, ctx, None)
    entry = b.cache_entry(ctx.last_output())
    merged = entry.merged_token_ids[0].tolist()
    tok = b.tokenizer
    head = tok.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True) + conv[-1]["content"]
    full = tok.apply_chat_template([*conv, {"role": "user", "content": REQS[0]}], tokenize=False)
    prompt = setup.adapter.generation_prompt
    times = interleave(
        9,
        {
            "suffix ids now": lambda: check_suffix_ids(tok, conv, REQS[0], prompt, merged[entry.q_end :]),
            "whole conversation tokenized twice (before)": lambda: (text_ids(tok, head), text_ids(tok, full)),
        },
    )
    rows += [
        "",
        "Building the check's prompt ids after the same conversation (9 interleaved runs, medians): "
        + "; ".join(f"{name} {_ms(statistics.median(ts))}" for name, ts in times.items())
        + ".",
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--lengths", default="128,512,2048")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    lengths = [int(x) for x in args.lengths.split(",")]
    began = time.time()
    loads = [os.getloadavg()[0]]
    setup = Setup(lengths)
    print(f"set up in {time.time() - began:.0f} s", file=sys.stderr)

    single = [
        "| conversation | new tokens | floor | check | validate | PEFT forward | check / floor | validate / floor "
        "| PEFT forward / floor |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    worst_single = 0.0
    for length in lengths:
        variants = setup.single_variants(length)
        times = interleave(args.repeat, variants)
        med = {name: _quantiles(ts) for name, ts in times.items()}
        ratios = {name: paired(times, name, "floor") for name in ("check", "validate", "PEFT forward")}
        worst_single = max(worst_single, ratios["check"])
        single.append(
            f"| {setup.tokens[length]} | {setup.new_tokens} | "
            + " | ".join(
                f"{_ms(med[n][1])} ({_ms(med[n][0])}..{_ms(med[n][2])})"
                for n in ("floor", "check", "validate", "PEFT forward")
            )
            + " | "
            + " | ".join(f"{ratios[n]:.2f}x" for n in ("check", "validate", "PEFT forward"))
            + " |"
        )
        loads.append(os.getloadavg()[0])
        print(single[-1], file=sys.stderr)

    candidates = [
        "| conversation | requirements | new tokens: 1 candidate / batch | 1 candidate | 4 candidates, batched "
        "| 4 one after another | batched / 1 | one after another / 1 | raw floor, batch's tokens / 1's "
        "| max p(yes) difference vs one by one |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    worst_candidates = 0.0
    names = ("1 candidate", "4 candidates, batched", "4 candidates, one after another")
    for length in lengths:
        for n_reqs in (1, 3):
            times = interleave(args.repeat, setup.candidate_variants(length, n_reqs))
            med = {name: _quantiles(ts) for name, ts in times.items()}
            batched = paired(times, "4 candidates, batched", "1 candidate")
            seq = paired(times, "4 candidates, one after another", "1 candidate")
            floor = paired(times, "floor, the batch's new tokens", "floor, 1 candidate's new tokens")
            if n_reqs == 1:
                worst_candidates = max(worst_candidates, batched)
            diff, batch, path = setup.candidate_agreement(length, n_reqs)
            candidates.append(
                f"| {setup.tokens[length]} | {n_reqs} | {setup.computed[0]} / {setup.computed[1]} | "
                + " | ".join(f"{_ms(med[n][1])} ({_ms(med[n][0])}..{_ms(med[n][2])})" for n in names)
                + f" | {batched:.2f}x | {seq:.2f}x | {floor:.2f}x | {diff:.1e} ({batch} checks, {path}) |"
            )
            loads.append(os.getloadavg()[0])
            print(candidates[-1], file=sys.stderr)

    profile_rows = profile(setup, lengths[-1], args.profile_runs) if args.profile else []
    loads.append(os.getloadavg()[0])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = "\n".join(
        [
            START,
            f"### Requirement-check speed: one cached check vs its floor, 4 candidates vs one ({when})",
            "",
            f"`benchmarks/checkspeed.py`: embedded model (SmolLM2-135M-Instruct, fp32) with the shipped `constraint` "
            f"aLoRA, {args.threads} torch thread, {args.repeat} interleaved repetitions per row (median, "
            "interquartile range in brackets). Each repetition runs every variant of its row back to back, in an "
            "order that rotates; a ratio is the median over repetitions of the two variants' ratio in the same "
            f"repetition. Load average (1 min) between {min(loads):.1f} and {max(loads):.1f} during the run (read "
            "after each row), on a 2-core machine shared with other jobs: compare the ratios, measured side by side, "
            "not the absolute times.",
            "",
            f"One cached check of the requirement {REQS[0]!r} (bar: check / floor <= {BAR_SINGLE:.2f}; *floor* is one "
            "raw base-model forward of only the check's new tokens against the cached prefix):",
            "",
            *single,
            "",
            f"Worst check / floor: {worst_single:.2f}x (bar {BAR_SINGLE:.2f}x: {_met(worst_single, BAR_SINGLE)}).",
            "",
            "The checks of the 4 candidates of one `best-of-n` call (bar: 4 batched <= "
            f"{BAR_CANDIDATES:.0f}x one candidate; {ANSWER_TOKENS}-token sampled answers):",
            "",
            *candidates,
            "",
            f"Worst batched / 1 with one requirement: {worst_candidates:.2f}x (bar {BAR_CANDIDATES:.1f}x: "
            f"{_met(worst_candidates, BAR_CANDIDATES)}). *raw floor* compares one raw base-model forward of as many "
            "new tokens as the batch computes with one of as many as one candidate's check computes, against the "
            "same cached prompt: the batch cannot beat that ratio.",
            *(["", *profile_rows] if profile_rows else []),
            END,
        ]
    )
    print(section)
    write_section(args.output, START, END, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
