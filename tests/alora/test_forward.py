"""The aLoRA forward pass without PEFT's hooks equals PEFT's own, and leaves the model as it was."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from gencomp_alora.compat import quiet_peft
from gencomp_alora.forward import adapted_forward, base_forward, output_columns
from gencomp_alora.prompt import check_suffix_ids, find_last
from gencomp_hf_backend.compat import with_cache

GP = "<|im_start|>check\n"


@pytest.fixture(scope="module")
def peft_model(tiny_model_path: str, adapter_path: str, other_invocation_adapter_path: str) -> PeftModel:
    """The tests' aLoRA ``constraint`` and a second adapter on the same model (the second is not active)."""
    with quiet_peft():
        model = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(tiny_model_path), adapter_path, adapter_name="constraint"
        )
        model.load_adapter(other_invocation_adapter_path, adapter_name="other")
    return model.eval()


@pytest.fixture(scope="module")
def check_ids(peft_model: PeftModel, tokenizer: Any, answer_with_cache: Any, invocation_tokens: list[int]) -> Any:
    answer = answer_with_cache(peft_model)
    ids = answer["merged"] + check_suffix_ids(tokenizer, answer["conv"], "Mentions Paris.", GP, answer["gen"])
    return {**answer, "ids": ids, "start": find_last(ids, invocation_tokens)}


def _modules(model: PeftModel) -> list[tuple[str, int]]:
    return [(name, id(module)) for name, module in model.named_modules()]


def _peft_logits(model: PeftModel, ids: list[int], adapted: int, past: Any = None) -> torch.Tensor:
    model.set_adapter("constraint")
    kwargs = with_cache(past) if past is not None else {}
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids]), **kwargs, alora_offsets=[adapted]).logits


@pytest.mark.parametrize("cached", [True, False], ids=["after-a-cached-prefix", "whole-prompt"])
def test_the_adapted_forward_equals_pefts_alora_forward(peft_model, check_ids, cached):
    ids, start = check_ids["ids"], check_ids["start"]
    adapted = len(ids) - start
    cut = check_ids["cache"].get_seq_length() if cached else 0

    def past() -> Any:
        from gencomp_alora.kv import prefix_view

        return prefix_view(check_ids["cache"], cut) if cached else None

    expected = _peft_logits(peft_model, ids[cut:], adapted, past())
    modules = _modules(peft_model)
    with torch.inference_mode():
        kwargs = with_cache(past()) if cached else {}
        got = adapted_forward(peft_model, "constraint", adapted, input_ids=torch.tensor([ids[cut:]]), **kwargs).logits
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert _modules(peft_model) == modules  # PEFT's layers are back in place
    # the adapter really acts: from the invocation on, the logits differ from the base model's
    with torch.inference_mode(), peft_model.disable_adapter():
        base = peft_model(input_ids=torch.tensor([ids])).logits
    assert not torch.allclose(got[0, -1], base[0, -1], atol=1e-3)


def test_the_adapted_forward_with_columns_computes_only_those_logits_and_puts_the_output_layer_back(
    peft_model, check_ids
):
    ids, start = check_ids["ids"], check_ids["start"]
    adapted, columns = len(ids) - start, (7, 3)
    head = peft_model.get_base_model().get_output_embeddings()
    with torch.inference_mode():
        full = adapted_forward(peft_model, "constraint", adapted, input_ids=torch.tensor([ids])).logits
        out = adapted_forward(peft_model, "constraint", adapted, input_ids=torch.tensor([ids]), columns=columns)
    assert out.logits.shape[-1] == 2 and output_columns(out, columns).shape[-1] == 2
    assert torch.allclose(output_columns(out, columns), full[..., list(columns)], atol=1e-5, rtol=0)
    assert peft_model.get_base_model().get_output_embeddings() is head


def test_the_base_forward_equals_pefts_forward_with_the_adapters_disabled(peft_model, check_ids):
    ids = torch.tensor([check_ids["ids"]])
    with torch.inference_mode():
        with peft_model.disable_adapter():
            expected = peft_model(input_ids=ids).logits
        got = base_forward(peft_model, input_ids=ids).logits
    assert torch.equal(got, expected)


def test_a_failing_forward_puts_pefts_layers_back(peft_model, check_ids):
    modules = _modules(peft_model)
    too_big = torch.tensor([[10**6]])  # not a token id of the tiny vocabulary
    with torch.inference_mode(), pytest.raises(IndexError):
        adapted_forward(peft_model, "constraint", 1, input_ids=too_big)
    assert _modules(peft_model) == modules


def test_a_layer_it_does_not_know_exactly_goes_through_pefts_own_forward(tiny_model_path, invocation_tokens, check_ids):
    """Dropout in training mode is one: PEFT applies it, so must the call (same seed, same logits)."""
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=4,
        lora_dropout=0.5,
        target_modules=["q_proj", "v_proj"],
        alora_invocation_tokens=invocation_tokens,
        init_lora_weights=False,
    )
    with quiet_peft():
        model = get_peft_model(base, config, adapter_name="drop")
    model.train()
    ids = check_ids["ids"]
    adapted = len(ids) - check_ids["start"]
    with torch.no_grad():
        torch.manual_seed(0)
        expected = model(input_ids=torch.tensor([ids]), alora_offsets=[adapted]).logits
        torch.manual_seed(0)
        got = adapted_forward(model, "drop", adapted, input_ids=torch.tensor([ids])).logits
        model.eval()
        without_dropout = adapted_forward(model, "drop", adapted, input_ids=torch.tensor([ids])).logits
    assert torch.equal(got, expected)
    assert not torch.allclose(got, without_dropout, atol=1e-4)  # dropout really acted
    with torch.no_grad():  # and in eval mode the call equals PEFT's again
        assert torch.allclose(
            without_dropout, model(input_ids=torch.tensor([ids]), alora_offsets=[adapted]).logits, atol=1e-6, rtol=0
        )
