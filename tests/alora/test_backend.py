"""aLoRA adapters loaded through ``HFAlora`` into a real ``LocalHFBackend``: loading, routing, caches, sessions."""

from __future__ import annotations

import warnings
from typing import Any

import pydantic
import pytest
import torch
from peft import PeftModel

from gencomp import (
    ALoraRequirement,
    GencompError,
    LinearContext,
    LLMaJRequirement,
    LRUCache,
    ModelOutputThunk,
    Requirement,
    Session,
    plugins,
)
from gencomp_alora import AloraError, HFAlora, check_requirement
from gencomp_alora.prompt import find_last
from gencomp_hf_backend import LocalHFBackend

GP = "<|im_start|>check\n"
OPTIONS = {"max_new_tokens": 8}


def make_backend(model_path: str, **kwargs: Any) -> LocalHFBackend:
    kwargs.setdefault("model_options", OPTIONS)
    return LocalHFBackend(model_path, **kwargs)


@pytest.fixture
def backend(tiny_model_path: str, adapter_path: str) -> LocalHFBackend:
    """A backend with the ``"constraint"`` aLoRA loaded."""
    b = make_backend(tiny_model_path)
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    return b


def instructed(b: LocalHFBackend, requirements: list[Any] | None = None) -> tuple[Session, Any]:
    """A session after one instruct call (greedy, 8 new tokens), and the sampling result."""
    s = Session(b, LinearContext())
    result = s.instruct(
        "What is the capital of France?",
        requirements=requirements or [],
        loop_budget=1,
        return_sampling_results=True,
    )
    return s, result


def check_ctx(s: Session) -> Any:
    """The context a requirement check sees: the instruction and its output."""
    return s.ctx.copy()


# -- loading ------------------------------------------------------------------------------------


def test_add_alora_loads_a_peft_adapter_from_a_folder(backend):
    alora = backend.get_alora("constraint")
    assert isinstance(alora, HFAlora)
    assert backend.get_aloras() == [alora]
    assert isinstance(backend.alora_model, PeftModel)
    assert "constraint" in backend.alora_model.peft_config
    assert alora.invocation_tokens == list(backend.tokenizer(GP, add_special_tokens=False)["input_ids"])
    assert backend.get_alora("missing") is None


def test_add_alora_rejects_a_name_already_in_use(backend, second_adapter_path):
    first = backend.get_alora("constraint")
    with pytest.raises(GencompError, match="already"):
        backend.add_alora(HFAlora("constraint", second_adapter_path, GP, backend))
    assert backend.get_alora("constraint") is first
    assert backend.get_aloras() == [first]


def test_add_alora_rejects_a_generation_prompt_without_the_invocation_tokens(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path)
    with pytest.raises(AloraError, match="does not contain the adapter's invocation tokens"):
        b.add_alora(HFAlora("constraint", adapter_path, "<|im_start|>verify\n", b))
    assert b.get_alora("constraint") is None
    assert b.alora_model is None


def test_add_alora_rejects_a_plain_lora(tiny_model_path, plain_lora_path):
    b = make_backend(tiny_model_path)
    with pytest.raises(AloraError, match="not an aLoRA adapter"):
        b.add_alora(HFAlora("constraint", plain_lora_path, GP, b))
    assert b.get_aloras() == []


def test_add_alora_rejects_a_folder_without_an_adapter(tiny_model_path, tmp_path):
    b = make_backend(tiny_model_path)
    with pytest.raises(AloraError, match="cannot read an adapter config"):
        b.add_alora(HFAlora("constraint", str(tmp_path), GP, b))


def test_hfalora_rejects_an_empty_generation_prompt(tiny_model_path, adapter_path):
    with pytest.raises(AloraError, match="generation_prompt"):
        HFAlora("constraint", adapter_path, "", None)


def test_adapters_are_switched_per_call(backend, second_adapter_path):
    backend.add_alora(HFAlora("second", second_adapter_path, GP, backend))
    assert [a.name for a in backend.get_aloras()] == ["constraint", "second"]
    s, _ = instructed(backend)
    ctx = check_ctx(s)
    first = check_requirement(backend, "Mentions Paris.", ctx, alora="constraint")
    second = check_requirement(backend, "Mentions Paris.", ctx, alora="second")
    again = check_requirement(backend, "Mentions Paris.", ctx, alora="constraint")
    assert abs(first.yes_logit - second.yes_logit) > 1e-3
    assert abs(first.yes_logit - again.yes_logit) < 1e-5 and abs(first.no_logit - again.no_logit) < 1e-5


def test_loading_an_adapter_leaves_standard_generation_unchanged(tiny_model_path, adapter_path):
    plain = make_backend(tiny_model_path, use_caches=False)
    with_adapter = make_backend(tiny_model_path, use_caches=False)
    with_adapter.add_alora(HFAlora("constraint", adapter_path, GP, with_adapter))
    _, a = instructed(plain)
    _, b = instructed(with_adapter)
    assert a.result.value == b.result.value
    assert torch.equal(a.result.generate_log.model_output, b.result.generate_log.model_output)


# -- routing ------------------------------------------------------------------------------------


def _validate(b: LocalHFBackend, req: Requirement, ctx: Any) -> tuple[Any, list[Any]]:
    logs: list[Any] = []
    return req.validate(b, ctx, generate_logs=logs), logs


def test_the_alora_plugin_is_discovered_with_its_check_and_attribute_hooks_and_takes_no_generation():
    record = next(r for r in plugins.plugin_records() if r.name == "alora")
    assert record.status not in ("failed", "skipped", "disabled")
    assert {"gencomp_check_requirements", "gencomp_backend_attribute"} <= set(record.hooks)
    assert "gencomp_generate" not in record.hooks


def test_a_requirement_goes_to_the_constraint_alora(backend):
    s, _ = instructed(backend)
    result, logs = _validate(backend, Requirement("Mentions Paris."), check_ctx(s))
    meta = result.thunk.meta
    assert meta["check_path"] == "alora:constraint"
    assert isinstance(meta["verdict"], bool) and result.result == meta["verdict"]
    assert 0.0 <= meta["p_yes"] <= 1.0 and result.score == meta["p_yes"]
    assert (meta["p_yes"] > 0.5) == meta["verdict"]
    assert result.thunk.value == ("Y" if meta["verdict"] else "N")
    assert logs[-1].extra["check_path"] == "alora:constraint" and logs[-1].result is result.thunk
    assert logs[-1].prompt.endswith(GP)


def test_requirements_go_to_the_judge_when_constraint_checking_is_off(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, default_to_constraint_checking_alora=False)
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    s, _ = instructed(b)
    plain, _ = _validate(b, Requirement("Mentions Paris."), check_ctx(s))
    assert plain.thunk.meta["check_path"] == "llm-as-a-judge"
    forced, _ = _validate(b, ALoraRequirement("Mentions Paris."), check_ctx(s))
    assert forced.thunk.meta["check_path"] == "alora:constraint"


def test_an_llmaj_requirement_never_goes_to_an_adapter(backend):
    s, _ = instructed(backend)
    result, _ = _validate(backend, LLMaJRequirement("Mentions Paris."), check_ctx(s))
    assert result.thunk.meta["check_path"] == "llm-as-a-judge"
    assert "yes_logit" not in result.thunk.meta and "alora_fallback" not in result.thunk.meta
    assert "hf_cache_key" in result.thunk.meta  # a standard generation answered it


def test_an_alora_requirement_goes_to_its_own_adapter(backend, second_adapter_path):
    backend.add_alora(HFAlora("second", second_adapter_path, GP, backend))
    s, _ = instructed(backend)
    result, _ = _validate(backend, ALoraRequirement("Mentions Paris.", alora="second"), check_ctx(s))
    assert result.thunk.meta["check_path"] == "alora:second"
    expected = check_requirement(backend, "Mentions Paris.", check_ctx(s), alora="second")
    assert abs(result.thunk.meta["p_yes"] - expected.p_yes) < 1e-6


def test_an_alora_requirement_without_its_adapter_falls_back_with_a_warning(backend):
    s, _ = instructed(backend)
    with pytest.warns(UserWarning, match="no aLoRA named 'missing'"):
        result, _ = _validate(backend, ALoraRequirement("Mentions Paris.", alora="missing"), check_ctx(s))
    assert result.verdict.path == "llm-as-a-judge" and "missing" in result.verdict.fallback_reason
    assert result.thunk.meta["check_path"] == "llm-as-a-judge" and "missing" in result.thunk.meta["check_fallback"]


def test_without_a_constraint_alora_requirements_go_to_the_judge_quietly(tiny_model_path, gencomp_warnings):
    b = make_backend(tiny_model_path)
    s, _ = instructed(b)
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        result, _ = _validate(b, Requirement("Mentions Paris."), check_ctx(s))
    assert gencomp_warnings(records) == []
    assert result.thunk.meta["check_path"] == "llm-as-a-judge"


def test_a_requirement_with_a_validation_fn_is_not_sent_to_a_model(backend):
    s, _ = instructed(backend)
    result, logs = _validate(backend, Requirement("Not empty.", validation_fn=lambda ctx: True), check_ctx(s))
    assert result.result is True and result.thunk is None and logs == []


def test_a_failing_adapter_falls_back_to_the_judge_with_a_warning(backend, monkeypatch):
    import gencomp_alora.generate

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CPU out of memory")

    s, _ = instructed(backend)
    monkeypatch.setattr(gencomp_alora.generate, "score_batch", out_of_memory)
    with pytest.warns(UserWarning, match="aLoRA 'constraint' failed: RuntimeError: CPU out of memory"):
        result, logs = _validate(backend, Requirement("Mentions Paris."), check_ctx(s))
    assert result.verdict.path == "llm-as-a-judge" and "failed" in result.verdict.fallback_reason
    assert "failed" in result.thunk.meta["check_fallback"]
    assert logs[-1].extra["check_path"] == "llm-as-a-judge" and "failed" in logs[-1].extra["check_fallback"]


def test_format_is_refused_for_a_requirement_check(backend):
    class Verdict(pydantic.BaseModel):
        ok: bool

    s, _ = instructed(backend)
    with pytest.raises(ValueError, match="format="):
        _validate_with_format(backend, Requirement("Mentions Paris."), check_ctx(s), Verdict)


def _validate_with_format(b: LocalHFBackend, req: Requirement, ctx: Any, fmt: type) -> tuple[Any, list[Any]]:
    logs: list[Any] = []
    return req.validate(b, ctx, format=fmt, generate_logs=logs), logs


# -- KV-cache reuse -----------------------------------------------------------------------------


def _entry(b: LocalHFBackend, out: ModelOutputThunk) -> Any:
    info = b.cache_get(out.meta["hf_cache_key"])
    assert info is not None
    return info


def test_a_check_reuses_the_outputs_cache_and_equals_a_recompute(backend):
    s, r = instructed(backend)
    info = _entry(backend, r.result)
    kv_len = info.kv_cache.get_seq_length()
    cached = check_requirement(backend, "Mentions Paris.", check_ctx(s))
    recomputed = check_requirement(backend, "Mentions Paris.", check_ctx(s), reuse_cache=False)
    assert cached.reused_tokens == kv_len > 0 and recomputed.reused_tokens == 0
    assert cached.prompt_ids == recomputed.prompt_ids
    assert cached.prompt_ids[: info.merged_token_ids.shape[1]] == info.merged_token_ids[0].tolist()
    assert cached.computed_tokens == len(cached.prompt_ids) - kv_len
    assert abs(cached.yes_logit - recomputed.yes_logit) < 1e-4
    assert abs(cached.no_logit - recomputed.no_logit) < 1e-4
    assert cached.passed == recomputed.passed


def test_hidden_states_before_the_invocation_equal_the_base_models_in_the_backend(backend):
    s, _ = instructed(backend)
    ids = check_requirement(backend, "Mentions Paris.", check_ctx(s)).prompt_ids
    start = find_last(ids, backend.get_alora("constraint").invocation_tokens)
    model = backend.alora_model
    with torch.inference_mode():
        model.set_adapter("constraint")
        adapted = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
        with model.disable_adapter():
            base = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    assert all(torch.equal(a[:, :start], b_[:, :start]) for a, b_ in zip(adapted, base, strict=True))
    assert not torch.allclose(adapted[-1][:, start:], base[-1][:, start:], atol=1e-3)


def test_a_check_leaves_the_cached_entry_unchanged(backend):
    s, r = instructed(backend)
    info = _entry(backend, r.result)
    ids = info.merged_token_ids.clone()
    kv = [(layer.keys.clone(), layer.values.clone()) for layer in info.kv_cache.layers]
    length = info.kv_cache.get_seq_length()
    first = check_requirement(backend, "Mentions Paris.", check_ctx(s))
    check_requirement(backend, "Is one sentence.", check_ctx(s))
    assert _entry(backend, r.result) is info
    assert torch.equal(info.merged_token_ids, ids)
    assert info.kv_cache.get_seq_length() == length
    for (k, v), layer in zip(kv, info.kv_cache.layers, strict=True):
        assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)
    # the entry still serves: the same check again reuses it and gives the same verdict
    again = check_requirement(backend, "Mentions Paris.", check_ctx(s))
    assert again.reused_tokens == length and abs(again.yes_logit - first.yes_logit) < 1e-5


def test_a_check_works_without_a_cache_entry(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, use_caches=False)
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    s, r = instructed(b)
    assert "hf_cache_key" not in r.result.meta
    result, _ = _validate(b, Requirement("Mentions Paris."), check_ctx(s))
    assert result.thunk.meta["check_path"] == "alora:constraint"
    assert result.thunk.meta["reused_tokens"] == 0


def test_a_check_after_the_entry_was_evicted_recomputes_and_says_so(tiny_model_path, adapter_path):
    b = make_backend(tiny_model_path, cache=LRUCache(1))
    b.add_alora(HFAlora("constraint", adapter_path, GP, b))
    s, r = instructed(b)
    instructed(b)  # another output takes the only cache slot
    assert b.cache_get(r.result.meta["hf_cache_key"]) is None
    result, logs = _validate(b, Requirement("Mentions Paris."), check_ctx(s))
    assert result.thunk.meta["reused_tokens"] == 0
    assert any("evicted" in n for n in logs[-1].extra["notes"])


def test_session_instruct_checks_every_requirement_with_the_alora_on_one_cache(backend):
    reqs = ["Mentions Paris.", "Is one sentence.", "Is polite."]
    s, r = instructed(backend, reqs)
    info = _entry(backend, r.result)
    kv_len = info.kv_cache.get_seq_length()
    checks = [log for log in s.last_logs if log.extra.get("check_path")]
    assert [log.extra["check_path"] for log in checks] == ["alora:constraint"] * 3
    assert [log.extra["reused_tokens"] for log in checks] == [kv_len] * 3
    prompt_tokens = s.last_logs[0].extra["prompt_tokens"]
    # all three checks together compute fewer positions than one prefill of the conversation
    assert sum(log.extra["computed_tokens"] for log in checks) < prompt_tokens + 8
    validations = r.sample_validations[0]
    assert [req.description for req, _ in validations] == reqs
    for _, v in validations:
        assert v.thunk.meta["check_path"] == "alora:constraint" and v.score == v.thunk.meta["p_yes"]
    assert info.kv_cache.get_seq_length() == kv_len


def test_checks_between_turns_do_not_change_the_next_turn(tiny_model_path, adapter_path):
    def two_turns(check: bool) -> str | None:
        b = make_backend(tiny_model_path)
        b.add_alora(HFAlora("constraint", adapter_path, GP, b))
        s, _ = instructed(b)
        if check:
            s.validate(["Mentions Paris.", "Is one sentence."])
            assert [log.extra.get("check_path") for log in s.last_logs] == ["alora:constraint"] * 2
        second = s.instruct("And of Italy?", loop_budget=1)
        assert s.last_logs[0].extra["reused_tokens"] > 0  # the second turn extends the first turn's base cache
        return second.value

    assert two_turns(check=True) == two_turns(check=False)


def test_concurrent_checks_on_one_backend_match_sequential_ones(backend, second_adapter_path):
    from concurrent.futures import ThreadPoolExecutor

    backend.add_alora(HFAlora("second", second_adapter_path, GP, backend))
    s, _ = instructed(backend)
    jobs = [("Mentions Paris.", "constraint"), ("Is short.", "second")] * 3
    sequential = [check_requirement(backend, req, check_ctx(s), alora=name) for req, name in jobs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(lambda job: check_requirement(backend, job[0], check_ctx(s), alora=job[1]), jobs))
    for a, b in zip(sequential, parallel, strict=True):
        assert abs(a.yes_logit - b.yes_logit) < 1e-5 and abs(a.no_logit - b.no_logit) < 1e-5


def test_generation_and_checks_use_the_installed_transformers_cache_keyword(backend):
    """No deprecation of ``past_key_values`` (renamed ``cache`` in transformers 5.24) from gencomp's calls."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        s, _ = instructed(backend)
        s.instruct("And of Italy?", loop_budget=1)  # reuses the first turn's KV cache
        s.validate([Requirement("Mentions Rome."), Requirement("Is short."), "Is polite."])
    renamed = [str(w.message) for w in records if "past_key_values" in str(w.message)]
    assert renamed == []
    assert s.last_logs and all(log.extra["check_path"] == "alora:constraint" for log in s.last_logs)
