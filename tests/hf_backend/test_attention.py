"""The GQA attention implementation: registered on model load, the default over ``sdpa``, equal to ``sdpa``."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

import gencomp_hf_backend.attention as attention
from gencomp_hf_backend import TransformersTorchConfig
from gencomp_hf_backend.attention import ATTN_IMPLEMENTATION
from gencomp_hf_backend.compat import with_cache


@pytest.fixture(scope="module")
def models(tiny_model_path: str) -> dict[str, Any]:
    """The tiny model loaded twice: with the GQA implementation and with plain ``sdpa``."""
    attention.register()
    return {
        name: AutoModelForCausalLM.from_pretrained(tiny_model_path, attn_implementation=name).eval()
        for name in (ATTN_IMPLEMENTATION, "sdpa")
    }


@pytest.fixture
def delegated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls the GQA implementation hands to transformers' ``sdpa_attention_forward``."""
    calls: list[int] = []
    original = attention.sdpa_attention_forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(attention, "sdpa_attention_forward", counting)
    return calls


def test_the_tiny_model_groups_its_query_heads(models) -> None:
    config = models["sdpa"].config
    assert config.num_key_value_heads < config.num_attention_heads


def test_a_loaded_model_uses_the_gqa_implementation_by_default(backend) -> None:
    assert backend.model.config._attn_implementation == ATTN_IMPLEMENTATION


def test_attn_implementation_overrides_the_default(make_backend) -> None:
    assert make_backend(attn_implementation="sdpa").model.config._attn_implementation == "sdpa"
    assert make_backend(attn_implementation="eager").model.config._attn_implementation == "eager"


def test_a_custom_config_model_keeps_its_attention_unless_told(tiny_model_path, make_backend) -> None:
    def custom() -> TransformersTorchConfig:
        model = AutoModelForCausalLM.from_pretrained(tiny_model_path, attn_implementation="sdpa")
        return TransformersTorchConfig(AutoTokenizer.from_pretrained(tiny_model_path), model, "cpu")

    assert make_backend(custom_config=custom()).model.config._attn_implementation == "sdpa"
    chosen = make_backend(custom_config=custom(), attn_implementation=ATTN_IMPLEMENTATION)
    assert chosen.model.config._attn_implementation == ATTN_IMPLEMENTATION


def test_a_padded_batch_gives_the_logits_of_sdpa(models, delegated) -> None:
    ids = torch.tensor([[3, 3, 3, 40, 41, 42, 43], [50, 51, 52, 53, 54, 55, 56]])
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        gqa = models[ATTN_IMPLEMENTATION](input_ids=ids, attention_mask=mask).logits
        assert delegated == []  # every layer ran the masked GQA branch
        plain = models["sdpa"](input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(gqa[mask.bool()], plain[mask.bool()], rtol=0, atol=1e-5)


def test_a_forward_over_a_cached_prefix_gives_the_logits_of_sdpa(models, delegated) -> None:
    prefix, new = torch.arange(30, 50)[None], torch.arange(60, 66)[None]
    logits = {}
    with torch.no_grad():
        for name, model in models.items():
            past = DynamicCache(config=model.config)
            model(input_ids=prefix, **with_cache(past), use_cache=True)
            delegated.clear()  # the prefill has no mask: it goes to sdpa as is
            logits[name] = model(input_ids=new, **with_cache(past), use_cache=True).logits
            if name == ATTN_IMPLEMENTATION:
                assert delegated == []
    torch.testing.assert_close(logits[ATTN_IMPLEMENTATION], logits["sdpa"], rtol=0, atol=1e-5)


def test_one_new_token_and_unmasked_prefills_are_left_to_sdpa(models, delegated) -> None:
    model = models[ATTN_IMPLEMENTATION]
    with torch.no_grad():
        past = DynamicCache(config=model.config)
        model(input_ids=torch.arange(30, 40)[None], **with_cache(past), use_cache=True)
        model(input_ids=torch.tensor([[41]]), **with_cache(past), use_cache=True)
    assert len(delegated) == 2 * model.config.num_hidden_layers


def test_register_is_idempotent() -> None:
    assert attention.register() == attention.register() == ATTN_IMPLEMENTATION
