"""The aLoRA checks of several candidate outputs of one prompt in one forward pass (``gencomp_check_candidates``).

Candidates come from the HF backend's real batched generation (``generate_candidates``: one
``generate`` of 4 sampled rows sharing the prompt's KV cache, each candidate's cache a view of its
row) or from separate generations; every batched verdict must equal the candidate's check run alone.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import gencomp_alora.generate as generate
from gencomp import (
    ALoraRequirement,
    CBlock,
    LinearContext,
    LLMaJRequirement,
    ModelOption,
    ModelOutputThunk,
    Requirement,
    Session,
    simple_validate,
)
from gencomp.verdicts import check_candidates as core_check_candidates
from gencomp_alora import HFAlora, check_requirement
from gencomp_alora.generate import check_candidates
from gencomp_alora.prompt import find_last
from gencomp_hf_backend import LocalHFBackend
from gencomp_hf_backend.attention import ATTN_IMPLEMENTATION

GP = "<|im_start|>check\n"
REQS = ["Mentions Paris.", "Is one short sentence without any numbers."]
SAMPLED = {ModelOption.SEED: 3, ModelOption.TEMPERATURE: 1.0}


def make_backend(model_path: str, adapter_path: str, **kwargs: Any) -> LocalHFBackend:
    b = LocalHFBackend(model_path, model_options={"max_new_tokens": 8}, **kwargs)
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    return b


def candidates(b: LocalHFBackend, n: int = 4, *, separate: bool = False) -> list[Any]:
    """``n`` sampled answers to one question, each in its own context (the best-of-n step's contexts)."""
    ctx = LinearContext()
    action = CBlock("What is the capital of France?")
    if separate:  # one generation each: separate cache entries
        outs = [b.generate_from_context(action, ctx, model_options={**SAMPLED, ModelOption.SEED: i}) for i in range(n)]
    else:
        outs = b.generate_candidates(action, ctx, n, model_options=SAMPLED)
    ctxs = []
    for out in outs:
        checked = ctx.copy()
        checked.insert_turn(action, out)
        ctxs.append(checked)
    assert len({c.last_output().value for c in ctxs}) > 1, "the candidates must differ for the test to mean anything"
    return ctxs


def _assert_equal(batched: Any, single: Any) -> None:
    assert batched.prompt_ids == single.prompt_ids and batched.invocation_start == single.invocation_start
    assert abs(batched.yes_logit - single.yes_logit) < 1e-4 and abs(batched.no_logit - single.no_logit) < 1e-4
    assert abs(batched.p_yes - single.p_yes) < 1e-4 and batched.passed == single.passed


@pytest.fixture
def invocation_forwards() -> Any:
    """A function: count the forward passes of a backend's model that run an adapter's invocation (checks)."""
    handles = []

    def watch(b: LocalHFBackend, invocation: list[int]) -> list[int]:
        calls: list[int] = []

        def count(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            if ids is not None and find_last(ids[0].tolist(), invocation) >= 0:
                calls.append(1)

        handles.append(b.model.register_forward_pre_hook(count, with_kwargs=True))
        return calls

    yield watch
    for handle in handles:
        handle.remove()


@pytest.mark.parametrize("attn", [ATTN_IMPLEMENTATION, "sdpa", "eager"])
@pytest.mark.parametrize("reuse_cache", [True, False], ids=["cached", "recomputed"])
def test_checks_of_four_candidates_in_one_forward_equal_each_check_alone_within_1e_4(
    tiny_model_path, adapter_path, invocation_forwards, attn, reuse_cache
):
    b = make_backend(tiny_model_path, adapter_path, attn_implementation=attn)
    assert b.model.config._attn_implementation == attn
    ctxs = candidates(b)
    calls = invocation_forwards(b, b.get_alora("constraint").invocation_tokens)
    batched = check_candidates(b, REQS, ctxs, reuse_cache=reuse_cache)
    assert len(calls) == 1
    for ctx, results in zip(ctxs, batched, strict=True):
        entry = b.cache_entry(ctx.last_output())
        assert entry is not None  # a row of the candidates' cache group
        for requirement, result in zip(REQS, results, strict=True):
            single = check_requirement(b, requirement, ctx, reuse_cache=reuse_cache)
            _assert_equal(result, single)
            assert result.reused_tokens == single.reused_tokens
            assert result.reused_tokens == (entry.kv_cache.get_seq_length() if reuse_cache else 0)
            assert result.batch_size == len(REQS) * len(ctxs)
            assert any(n.startswith(f"batched: {len(REQS) * len(ctxs)} checks of 4 outputs") for n in result.notes)
    # the prompt's positions are computed (or read) once, not once per candidate
    assert batched[0][0].batch_computed_tokens < sum(r.computed_tokens for rs in batched for r in rs)


def test_candidates_of_separate_generations_and_one_without_a_cache_entry_equal_their_checks_alone(
    tiny_model_path, adapter_path
):
    b = make_backend(tiny_model_path, adapter_path)
    ctxs = candidates(b, 3, separate=True)
    # a fourth candidate whose output has no cache entry: its prompt is rendered with the chat template
    detached = LinearContext()
    detached.insert_turn(CBlock("What is the capital of France?"), ModelOutputThunk(ctxs[0].last_output().value))
    batched = check_candidates(b, REQS, [*ctxs, detached])
    for ctx, results in zip([*ctxs, detached], batched, strict=True):
        for requirement, result in zip(REQS, results, strict=True):
            single = check_requirement(b, requirement, ctx)
            _assert_equal(result, single)
            if ctx is not detached:
                assert result.reused_tokens == single.reused_tokens > 0
    # alone, the detached candidate computes its whole prompt; beside the others it reads the question's
    # positions from another candidate's cache
    alone = check_requirement(b, REQS[0], detached)
    assert alone.reused_tokens == 0 < batched[-1][0].reused_tokens < batched[0][0].reused_tokens


def test_the_stored_caches_are_unchanged_by_a_candidate_batch(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, adapter_path)
    ctxs = candidates(b)
    entries = [b.cache_entry(ctx.last_output()) for ctx in ctxs]
    before = [[(layer.keys.clone(), layer.values.clone()) for layer in e.kv_cache.layers] for e in entries]
    lengths = [e.kv_cache.get_seq_length() for e in entries]
    check_candidates(b, REQS, ctxs)
    for entry, saved, length in zip(entries, before, lengths, strict=True):
        assert entry.kv_cache.get_seq_length() == length
        for (k, v), layer in zip(saved, entry.kv_cache.layers, strict=True):
            assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)


def test_a_mask_that_lets_one_candidate_see_another_changes_its_result(tiny_model_path, adapter_path, monkeypatch):
    b = make_backend(tiny_model_path, adapter_path)
    ctxs = candidates(b)
    right = check_candidates(b, REQS[:1], ctxs)
    original = generate.output_visibility

    def leaky(owners: Any) -> Any:  # every token also sees the other candidates' tokens
        return original(owners) | True

    monkeypatch.setattr(generate, "output_visibility", leaky)
    wrong = check_candidates(b, REQS[:1], ctxs)
    assert any(
        abs(w[0].yes_logit - r[0].yes_logit) > 1e-3 or abs(w[0].no_logit - r[0].no_logit) > 1e-3
        for w, r in zip(wrong, right, strict=True)
    )


# -- through the hook: strategies and fallbacks -------------------------------------------------


def test_best_of_n_checks_all_candidates_in_one_forward_with_the_verdicts_of_each_alone(
    tiny_model_path, adapter_path, invocation_forwards
):
    b = make_backend(tiny_model_path, adapter_path)
    calls = invocation_forwards(b, b.get_alora("constraint").invocation_tokens)
    s = Session(b, LinearContext(), strategy="best-of-n")
    result = s.instruct(
        "What is the capital of France?", requirements=REQS, model_options=SAMPLED, return_sampling_results=True
    )
    assert len(result.attempts) == 4 and len({a.text for a in result.attempts}) > 1
    assert len(calls) == 1
    for attempt in result.attempts:
        ctx = LinearContext()
        ctx.insert_turn(attempt.action, attempt.output)
        for requirement, verdict in attempt.verdicts:
            meta = verdict.thunk.meta
            assert meta["check_path"] == "alora:constraint" and meta["batch_size"] == len(REQS) * 4
            single = check_requirement(b, requirement.description, ctx)
            assert abs(meta["yes_logit"] - single.yes_logit) < 1e-4 and abs(meta["no_logit"] - single.no_logit) < 1e-4
            assert verdict.verdict.reused_tokens == single.reused_tokens > 0
    checks = [log for log in s.last_logs if log.extra.get("check_path")]
    assert len(checks) == len(REQS) * 4


def test_mixed_requirements_of_candidates_each_take_their_own_path(tiny_model_path, adapter_path, second_adapter_path):
    b = make_backend(tiny_model_path, adapter_path)
    b.add_alora(HFAlora("second", second_adapter_path, GP, b))
    ctxs = candidates(b, 3)
    reqs = [
        LLMaJRequirement("Mentions Paris."),
        Requirement("Not empty.", simple_validate(lambda text: bool(text))),
        ALoraRequirement("Mentions Paris.", alora="second"),
        Requirement("Is one sentence."),
    ]
    results = core_check_candidates(reqs, b, ctxs)
    for ctx, (judged, by_fn, second, constraint) in zip(ctxs, results, strict=True):
        assert judged.verdict.path == "llm-as-a-judge" and by_fn.thunk is None
        assert second.verdict.path == "alora:second" and constraint.verdict.path == "alora:constraint"
        assert second.thunk.meta["batch_size"] == constraint.thunk.meta["batch_size"] == 3  # one batch per adapter
        alone = check_requirement(b, "Mentions Paris.", ctx, alora="second")
        assert abs(second.thunk.meta["yes_logit"] - alone.yes_logit) < 1e-4


def test_a_failing_candidate_batch_falls_back_to_the_judge_with_the_reason_and_a_warning(
    tiny_model_path, adapter_path, monkeypatch
):
    b = make_backend(tiny_model_path, adapter_path)
    ctxs = candidates(b, 2)

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CPU out of memory")

    monkeypatch.setattr(generate, "score_candidates", out_of_memory)
    with pytest.warns(UserWarning, match="aLoRA 'constraint' failed: RuntimeError: CPU out of memory"):
        results = core_check_candidates([Requirement(r) for r in REQS], b, ctxs)
    for verdicts in results:
        for v in verdicts:
            assert v.verdict.path == "llm-as-a-judge" and "CPU out of memory" in v.verdict.fallback_reason


def test_a_candidate_check_of_an_adapter_not_loaded_falls_back_to_the_judge(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, adapter_path)
    ctxs = candidates(b, 2)
    with pytest.warns(UserWarning, match="no aLoRA named 'missing' is loaded"):
        results = core_check_candidates([ALoraRequirement("Mentions Paris.", alora="missing")], b, ctxs)
    for (v,) in results:
        assert v.verdict.path == "llm-as-a-judge" and "missing" in v.verdict.fallback_reason


def test_candidate_checks_without_cache_entries_equal_their_checks_alone(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, adapter_path, use_caches=False)
    ctxs = candidates(b, 3)
    for ctx, verdicts in zip(ctxs, core_check_candidates([Requirement(r) for r in REQS], b, ctxs), strict=True):
        for requirement, v in zip(REQS, verdicts, strict=True):
            assert v.thunk.meta["reused_tokens"] == 0 and v.thunk.meta["batch_size"] == len(REQS) * 3
            single = check_requirement(b, requirement, ctx)
            assert abs(v.thunk.meta["yes_logit"] - single.yes_logit) < 1e-4
            assert abs(v.thunk.meta["no_logit"] - single.no_logit) < 1e-4


def test_score_candidates_refuses_owners_that_name_no_cache(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, adapter_path)
    a = b.get_alora("constraint")
    with pytest.raises(ValueError, match="owners must give"):
        generate.score_candidates(b.alora_model, "constraint", [[1, 2]], [1], [None], a.invocation_tokens, 1, 2)
