"""Several aLoRA checks of one output in one forward pass: equal to single checks, read-only, routed per adapter."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

import gencomp_alora.generate as generate
from gencomp import ALoraRequirement, LinearContext, LLMaJRequirement, Requirement, Session, simple_validate
from gencomp_alora import HFAlora, check_requirement
from gencomp_alora.compat import quiet_peft
from gencomp_alora.generate import score_batch, score_ids
from gencomp_alora.prompt import check_suffix_ids, find_last, text_ids
from gencomp_hf_backend import LocalHFBackend
from gencomp_hf_backend.attention import ATTN_IMPLEMENTATION, register

GP = "<|im_start|>check\n"
REQS = ["Mentions Paris.", "Is one short sentence without any numbers.", "Is polite, friendly and written in English."]


def _peft(model_path: str, adapter: str, attn: str = ATTN_IMPLEMENTATION) -> PeftModel:
    register()
    base = AutoModelForCausalLM.from_pretrained(model_path, attn_implementation=attn)
    with quiet_peft():
        return PeftModel.from_pretrained(base, adapter, adapter_name="constraint").eval()


@pytest.fixture(scope="module")
def peft_model(tiny_model_path: str, adapter_path: str) -> PeftModel:
    return _peft(tiny_model_path, adapter_path)


@pytest.fixture(scope="module")
def generated(peft_model: PeftModel, tokenizer: Any, answer_with_cache: Any) -> dict[str, Any]:
    """A base-model answer with its stored cache, and three check prompts on it."""
    return _with_checks(answer_with_cache(peft_model), tokenizer)


def _with_checks(answer: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    merged, gen, conv = answer["merged"], answer["gen"], answer["conv"]
    checks = [merged + check_suffix_ids(tokenizer, conv, r, GP, gen) for r in REQS]
    return {"cache": answer["cache"], "checks": checks}


def _yes_no(tokenizer: Any) -> tuple[int, int]:
    return text_ids(tokenizer, "Y")[0], text_ids(tokenizer, "N")[0]


def _assert_equal(batched: Any, single: Any) -> None:
    assert batched.prompt_ids == single.prompt_ids and batched.invocation_start == single.invocation_start
    assert abs(batched.yes_logit - single.yes_logit) < 1e-4 and abs(batched.no_logit - single.no_logit) < 1e-4
    assert abs(batched.p_yes - single.p_yes) < 1e-4 and batched.passed == single.passed


# -- mechanics ----------------------------------------------------------------------------------


def test_the_checks_have_different_lengths(generated, invocation_tokens):
    starts = [find_last(ids, invocation_tokens) for ids in generated["checks"]]
    assert len(set(starts)) == 3


@pytest.mark.parametrize("cached", [True, False], ids=["cached-prefix", "computed-prefix"])
def test_batched_checks_equal_single_checks_within_1e_4(peft_model, generated, tokenizer, invocation_tokens, cached):
    yes, no = _yes_no(tokenizer)
    cache = generated["cache"] if cached else None
    batch = score_batch(peft_model, "constraint", generated["checks"], invocation_tokens, yes, no, base_cache=cache)
    for ids, batched in zip(generated["checks"], batch, strict=True):
        single = score_ids(peft_model, "constraint", ids, invocation_tokens, yes, no, base_cache=cache)
        _assert_equal(batched, single)
        assert batched.reused_tokens == single.reused_tokens == (cache.get_seq_length() if cached else 0)
        assert batched.batch_size == 3
    # the shared prefix is computed once, not once per check
    assert batch[0].batch_computed_tokens < sum(r.computed_tokens for r in batch)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_the_batch_mask_works_with_other_attention_implementations(
    tiny_model_path, adapter_path, tokenizer, invocation_tokens, answer_with_cache, attn
):
    model = _peft(tiny_model_path, adapter_path, attn=attn)
    data = _with_checks(answer_with_cache(model), tokenizer)
    yes, no = _yes_no(tokenizer)
    batch = score_batch(model, "constraint", data["checks"], invocation_tokens, yes, no, base_cache=data["cache"])
    for ids, batched in zip(data["checks"], batch, strict=True):
        _assert_equal(batched, score_ids(model, "constraint", ids, invocation_tokens, yes, no))


def test_the_stored_cache_is_unchanged_by_a_batch(peft_model, generated, tokenizer, invocation_tokens):
    cache = generated["cache"]
    before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    length = cache.get_seq_length()
    yes, no = _yes_no(tokenizer)
    score_batch(peft_model, "constraint", generated["checks"], invocation_tokens, yes, no, base_cache=cache)
    assert cache.get_seq_length() == length
    for (k, v), layer in zip(before, cache.layers, strict=True):
        assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)


def test_a_mask_that_lets_one_check_see_another_changes_its_result(
    peft_model, generated, tokenizer, invocation_tokens, monkeypatch
):
    yes, no = _yes_no(tokenizer)
    checks, cache = generated["checks"], generated["cache"]
    right = score_batch(peft_model, "constraint", checks, invocation_tokens, yes, no, base_cache=cache)
    original = generate.batch_visibility

    def leaky(positions: Any, groups: Any) -> Any:  # the tokens of check 2 also see check 1's requirement turn
        visible = original(positions, groups)
        return visible | ((groups[:, None] == 1) & (groups[None, :] == 0))

    monkeypatch.setattr(generate, "batch_visibility", leaky)
    wrong = score_batch(peft_model, "constraint", checks, invocation_tokens, yes, no, base_cache=cache)
    _assert_equal(wrong[0], right[0])
    _assert_equal(wrong[2], right[2])
    assert abs(wrong[1].yes_logit - right[1].yes_logit) > 1e-3 or abs(wrong[1].no_logit - right[1].no_logit) > 1e-3


# -- backend and sessions -----------------------------------------------------------------------


def make_backend(model_path: str, adapter_path: str, **kwargs: Any) -> LocalHFBackend:
    b = LocalHFBackend(model_path, model_options={"max_new_tokens": 8}, **kwargs)
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    return b


@pytest.fixture
def backend(tiny_model_path: str, adapter_path: str) -> LocalHFBackend:
    return make_backend(tiny_model_path, adapter_path)


@pytest.fixture
def forwards(backend: LocalHFBackend, invocation_tokens: list[int]):
    """Counts the forward passes of the model that run an adapter's invocation (requirement checks)."""
    calls: list[int] = []

    def count(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and find_last(ids[0].tolist(), invocation_tokens) >= 0:
            calls.append(1)

    handle = backend.model.register_forward_pre_hook(count, with_kwargs=True)
    yield calls
    handle.remove()


def _instruct(b: LocalHFBackend, requirements: list[Any]) -> tuple[Session, Any]:
    s = Session(b, LinearContext())
    result = s.instruct(
        "What is the capital of France?", requirements=requirements, loop_budget=1, return_sampling_results=True
    )
    return s, result


def test_session_instruct_checks_the_alora_group_in_one_forward(backend, forwards):
    s, r = _instruct(backend, REQS)
    assert len(forwards) == 1
    info = backend.cache_get(r.result.meta["hf_cache_key"])
    kv = [(layer.keys.clone(), layer.values.clone()) for layer in info.kv_cache.layers]
    validations = r.sample_validations[0]
    assert [req.description for req, _ in validations] == REQS
    checks = [log for log in s.last_logs if log.extra.get("check_path")]
    assert [log.result for log in checks] == [v.thunk for _, v in validations]  # logs in requirement order
    for (req, v), log in zip(validations, checks, strict=True):
        meta = v.thunk.meta
        assert meta["check_path"] == "alora:constraint" and meta["batch_size"] == 3
        assert v.result == meta["verdict"] and v.score == meta["p_yes"]
        assert meta["reused_tokens"] == info.kv_cache.get_seq_length()
        assert any(n.startswith("batched: 3 checks") for n in log.extra["notes"])
        assert log.extra["batch_computed_tokens"] < sum(c.extra["computed_tokens"] for c in checks)
        single = check_requirement(backend, req.description, s.ctx.copy())
        assert abs(meta["yes_logit"] - single.yes_logit) < 1e-4 and abs(meta["no_logit"] - single.no_logit) < 1e-4
    for (k, v_), layer in zip(kv, info.kv_cache.layers, strict=True):
        assert torch.equal(k, layer.keys) and torch.equal(v_, layer.values)


def test_mixed_requirements_each_take_their_own_path(backend, forwards):
    reqs = [
        LLMaJRequirement("Mentions Paris."),
        Requirement("Not empty.", simple_validate(lambda text: bool(text))),
        ALoraRequirement("Mentions Paris."),
        Requirement("Is one sentence."),
    ]
    _, r = _instruct(backend, reqs)
    assert len(forwards) == 1
    judged, by_fn, first, second = (v for _, v in r.sample_validations[0])
    assert judged.thunk.meta["check_path"] == "llm-as-a-judge" and "batch_size" not in judged.thunk.meta
    assert by_fn.thunk is None
    assert [v.thunk.meta["check_path"] for v in (first, second)] == ["alora:constraint"] * 2
    assert first.thunk.meta["batch_size"] == second.thunk.meta["batch_size"] == 2


def test_each_adapter_checks_its_own_group(backend, forwards, second_adapter_path):
    backend.add_alora(HFAlora("second", second_adapter_path, GP, backend))
    reqs = [Requirement(REQS[0]), ALoraRequirement(REQS[0], alora="second"), Requirement(REQS[1])]
    reqs.append(ALoraRequirement(REQS[1], alora="second"))
    s, r = _instruct(backend, reqs)
    assert len(forwards) == 2
    for req, v in r.sample_validations[0]:
        name = getattr(req, "alora", None) or "constraint"
        assert v.thunk.meta["check_path"] == f"alora:{name}" and v.thunk.meta["batch_size"] == 2
        single = check_requirement(backend, req.description, s.ctx.copy(), alora=name)
        assert abs(v.thunk.meta["p_yes"] - single.p_yes) < 1e-4


def test_a_single_alora_check_takes_the_single_path(backend, forwards):
    _, r = _instruct(backend, [Requirement("Mentions Paris."), LLMaJRequirement("Is short.")])
    alora = r.sample_validations[0][0][1].thunk.meta
    assert alora["check_path"] == "alora:constraint" and "batch_size" not in alora
    assert len(forwards) == 1


def test_batched_checks_work_without_a_cache_entry(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, adapter_path, use_caches=False)
    s, r = _instruct(b, REQS)
    for req, v in r.sample_validations[0]:
        assert v.thunk.meta["batch_size"] == 3 and v.thunk.meta["reused_tokens"] == 0
        single = check_requirement(b, req.description, s.ctx.copy())
        assert abs(v.thunk.meta["yes_logit"] - single.yes_logit) < 1e-4
        assert abs(v.thunk.meta["no_logit"] - single.no_logit) < 1e-4


def test_a_failing_batch_falls_back_to_the_judge_with_the_reason_and_a_warning(backend, monkeypatch):
    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CPU out of memory")

    s, _ = _instruct(backend, [])
    monkeypatch.setattr(generate, "score_batch", out_of_memory)
    with pytest.warns(UserWarning, match="aLoRA 'constraint' failed: RuntimeError: CPU out of memory"):
        results = s.validate(REQS[:2])
    for v in results:
        assert v.verdict.path == "llm-as-a-judge" and "CPU out of memory" in v.verdict.fallback_reason
    assert len(s.last_logs) == 2
