"""The collaborators behind ``LocalHFBackend``, each used alone on the tiny model's real parts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from gencomp import GencompError, LRUCache
from gencomp_hf_backend.compat import output_cache
from gencomp_hf_backend.generation import Generator
from gencomp_hf_backend.judge import JudgeScorer
from gencomp_hf_backend.kv import KVCacheEntry
from gencomp_hf_backend.prefix_cache import PrefixCache
from gencomp_hf_backend.prompts import PromptBuilder


@pytest.fixture(scope="module")
def parts(tiny_model_path: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path), AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()


def _generator(parts: tuple[Any, Any]) -> Generator:
    import contextlib

    tokenizer, model = parts
    return Generator(model, tokenizer, torch.device("cpu"), threading.RLock(), contextlib.nullcontext)


def test_the_generator_alone_equals_raw_greedy_generate(parts) -> None:
    tokenizer, model = parts
    gen = _generator(parts)
    ids = torch.tensor([tokenizer.encode("hello there", add_special_tokens=False)])
    args = gen.arguments({"max_new_tokens": 6})
    assert args["pad_token_id"] == gen.pad_id and "do_sample" not in args
    out = gen.run(ids, torch.ones_like(ids), args)
    expected = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False)
    assert out.sequences.tolist() == expected.tolist()


def test_the_generator_turns_sampling_on_and_off_by_temperature(parts) -> None:
    gen = _generator(parts)
    assert gen.arguments({"temperature": 0})["do_sample"] is False and "temperature" not in gen.arguments(
        {"temperature": 0}
    )
    assert gen.arguments({"temperature": 0.7})["do_sample"] is True


def test_the_prefix_cache_alone_reuses_the_longest_stored_prefix_and_releases_on_eviction(parts) -> None:
    tokenizer, _ = parts
    gen = _generator(parts)
    cache = LRUCache(1)
    prefixes = PrefixCache(cache)
    cache.on_evict = prefixes.release
    ids = torch.tensor([tokenizer.encode("one two three four", add_special_tokens=False)])
    out = gen.run(ids, torch.ones_like(ids), gen.arguments({"max_new_tokens": 3}))
    entry = KVCacheEntry(output_cache(out), out.sequences, torch.ones_like(out.sequences), ids.shape[1])
    prefixes.put("a", entry)
    longer = torch.cat([out.sequences[0], torch.tensor([5, 6])])
    past, reused = prefixes.reusable(longer)
    assert reused == entry.kv_cache.get_seq_length() and past is not entry.kv_cache
    assert prefixes.reusable(torch.tensor([7, 8, 9])) == (None, 0)
    prefixes.put("b", KVCacheEntry(None, out.sequences, torch.ones_like(out.sequences), 1))
    assert entry.kv_cache is None and prefixes.keys() == ["b"]
    with pytest.raises(TypeError, match="KVCacheEntry"):
        prefixes.put("c", object())  # type: ignore[arg-type]


def test_the_prompt_builder_alone_renders_the_chat_template_with_tool_schemas(parts) -> None:
    tokenizer, _ = parts

    def weather(city: str) -> str:
        """The weather.

        Args:
            city: where.
        """
        return city

    builder = PromptBuilder(tokenizer, "tiny")
    messages = [{"role": "user", "content": "hi"}]
    assert builder.chat_prompt(messages) == tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    assert builder.schema(weather)["function"]["name"] == "weather" and builder.schema(weather) is builder.schema(
        weather
    )
    builder.tokenizer = type("NoTemplate", (), {"chat_template": None})()
    with pytest.raises(GencompError, match="no chat template"):
        builder.chat_prompt(messages)


def test_the_judge_scorer_alone_compares_yes_and_no_logits(parts) -> None:
    tokenizer, _ = parts
    judge = JudgeScorer(tokenizer)
    yes, no = judge.tokens
    logits = torch.zeros(1, len(tokenizer))
    logits[0, yes] = 5.0
    assert judge.p_yes(logits) > 0.99
    logits[0, no] = 10.0
    assert judge.p_yes(logits) < 0.01
