"""The aLoRA verdict mechanics on a real tiny model and real PEFT adapters, without a backend."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, DynamicCache

from gencomp_alora.compat import quiet_peft
from gencomp_alora.generate import score_ids
from gencomp_alora.prompt import check_prompt_ids, check_suffix_ids, find_last, text_ids
from gencomp_hf_backend.compat import with_cache

GP = "<|im_start|>check\n"
CONV = [{"role": "user", "content": "What is the capital of France?"}]


def _peft(model_path: str, adapter: str, name: str = "constraint") -> PeftModel:
    with quiet_peft():
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_path), adapter, adapter_name=name)
    return model.eval()


@pytest.fixture(scope="module")
def peft_model(tiny_model_path: str, adapter_path: str) -> PeftModel:
    return _peft(tiny_model_path, adapter_path)


@pytest.fixture(scope="module")
def generated(peft_model: PeftModel, tokenizer: Any, answer_with_cache: Any) -> dict[str, Any]:
    """A base-model answer with its stored cache, and the ids of one check on it."""
    answer = answer_with_cache(peft_model)
    suffix = check_suffix_ids(tokenizer, answer["conv"], "The answer mentions Paris.", GP, answer["gen"])
    return {**answer, "ids": answer["merged"] + suffix}


def _yes_no(tokenizer: Any) -> tuple[int, int]:
    return text_ids(tokenizer, "Y")[0], text_ids(tokenizer, "N")[0]


def test_cached_and_uncached_verdicts_agree_within_1e_4(peft_model, generated, tokenizer, invocation_tokens):
    yes, no = _yes_no(tokenizer)
    ids, cache = generated["ids"], generated["cache"]
    cached = score_ids(peft_model, "constraint", ids, invocation_tokens, yes, no, base_cache=cache)
    fresh = score_ids(peft_model, "constraint", ids, invocation_tokens, yes, no)
    assert cached.reused_tokens == generated["cache"].get_seq_length() > 0
    assert fresh.reused_tokens == 0
    assert cached.computed_tokens < fresh.computed_tokens
    assert abs(cached.yes_logit - fresh.yes_logit) < 1e-4
    assert abs(cached.no_logit - fresh.no_logit) < 1e-4
    assert cached.passed == fresh.passed
    assert abs(cached.p_yes - fresh.p_yes) < 1e-4


def test_stored_cache_is_unchanged_by_a_check(peft_model, generated, tokenizer, invocation_tokens):
    cache = generated["cache"]
    before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    length = cache.get_seq_length()
    yes, no = _yes_no(tokenizer)
    score_ids(peft_model, "constraint", generated["ids"], invocation_tokens, yes, no, base_cache=cache)
    assert cache.get_seq_length() == length
    for (k, v), layer in zip(before, cache.layers, strict=True):
        assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)


def test_hidden_states_before_the_invocation_equal_the_base_models(peft_model, generated, invocation_tokens):
    ids = torch.tensor([generated["ids"]])
    start = find_last(generated["ids"], invocation_tokens)
    with torch.inference_mode():
        peft_model.set_adapter("constraint")
        with_adapter = peft_model(input_ids=ids, output_hidden_states=True).hidden_states
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids, output_hidden_states=True).hidden_states
    for a, b in zip(with_adapter, base, strict=True):
        assert torch.equal(a[:, :start], b[:, :start])
    # the adapter is really non-zero: from the invocation on, the last layer differs
    assert not torch.allclose(with_adapter[-1][:, start:], base[-1][:, start:], atol=1e-3)


def test_a_cache_that_covers_the_invocation_changes_the_result(peft_model, generated, tokenizer, invocation_tokens):
    ids = generated["ids"]
    start = find_last(ids, invocation_tokens)
    yes, no = _yes_no(tokenizer)
    right = score_ids(peft_model, "constraint", ids, invocation_tokens, yes, no)
    # negative control: base keys/values for two invocation tokens, adapter only for the rest
    covered = start + 2
    cache = DynamicCache(config=peft_model.get_base_model().config)
    with torch.inference_mode():
        with peft_model.disable_adapter():
            peft_model(input_ids=torch.tensor([ids[:covered]]), **with_cache(cache), use_cache=True)
        wrong = peft_model(
            input_ids=torch.tensor([ids[covered:]]), **with_cache(cache), alora_offsets=[len(ids) - covered]
        ).logits[0, -1]
    assert abs(float(wrong[yes]) - right.yes_logit) > 1e-3 or abs(float(wrong[no]) - right.no_logit) > 1e-3
    # score_ids never reads such a cache past the invocation start
    clamped = score_ids(peft_model, "constraint", ids, invocation_tokens, yes, no, base_cache=cache)
    assert clamped.reused_tokens == start
    assert abs(clamped.yes_logit - right.yes_logit) < 1e-4 and abs(clamped.no_logit - right.no_logit) < 1e-4


def test_adapter_whose_invocation_never_appears_equals_the_base_model(
    tiny_model_path, other_invocation_adapter_path, generated
):
    model = _peft(tiny_model_path, other_invocation_adapter_path, name="other")
    ids = torch.tensor([generated["ids"]])
    with torch.inference_mode():
        adapted = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
    assert torch.equal(adapted, base)


def test_suffix_ids_extend_the_rendered_conversation(tokenizer):
    answer = "The capital of France is Paris."
    conv = [*CONV, {"role": "assistant", "content": answer}]
    head = tokenizer.apply_chat_template(CONV, tokenize=False, add_generation_prompt=True)
    head_ids = text_ids(tokenizer, head)
    answer_ids = text_ids(tokenizer, answer)
    whole = check_prompt_ids(tokenizer, conv, "Mentions Paris.", GP)
    assert head_ids + answer_ids + check_suffix_ids(tokenizer, conv, "Mentions Paris.", GP, answer_ids) == whole
    # an end-of-turn token the model generated is not repeated
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    with_eos = check_suffix_ids(tokenizer, conv, "Mentions Paris.", GP, [*answer_ids, eos])
    assert head_ids + answer_ids + [eos] + with_eos == whole
    assert whole[-len(text_ids(tokenizer, GP)) :] == text_ids(tokenizer, GP)


def test_suffix_needs_the_assistant_output_last(tokenizer):
    with pytest.raises(ValueError, match="end with the assistant"):
        check_suffix_ids(tokenizer, CONV, "Mentions Paris.", GP)


def test_find_last():
    assert find_last([1, 2, 3, 1, 2], [1, 2]) == 3
    assert find_last([1, 2, 3], [2, 4]) == -1
    assert find_last([1, 2], []) == -1
