"""Fixtures of the aLoRA tests: a tiny random chat model and non-zero aLoRA adapters, built and saved once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gencomp_alora.compat import quiet_peft

os.environ.setdefault("OMP_NUM_THREADS", "1")

GENERATION_PROMPT = "<|im_start|>check\n"
"""The tests' generation prompt; the adapters' invocation tokens are its tokens."""
CONV = [{"role": "user", "content": "What is the capital of France?"}]
"""The conversation the checks' answers are generated for."""


def _save_adapter(model_path: str, out: Path, invocation: list[int], seed: int) -> str:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_path)
    config = LoraConfig(
        task_type="CAUSAL_LM",
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        alora_invocation_tokens=invocation,
        init_lora_weights=False,  # the default init is a no-op: every "equals base" check would pass vacuously
    )
    with torch.random.fork_rng(devices=[]), quiet_peft():
        torch.manual_seed(seed)
        peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tokenizer(tiny_model_path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path)


@pytest.fixture(scope="session")
def invocation_tokens(tokenizer: Any) -> list[int]:
    return list(tokenizer(GENERATION_PROMPT, add_special_tokens=False)["input_ids"])


@pytest.fixture(scope="session")
def adapter_path(tiny_model_path: str, invocation_tokens: list[int], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A saved aLoRA adapter with random, non-zero weights, invoked by ``GENERATION_PROMPT``."""
    return _save_adapter(tiny_model_path, tmp_path_factory.mktemp("alora"), invocation_tokens, seed=1)


@pytest.fixture(scope="session")
def second_adapter_path(
    tiny_model_path: str, invocation_tokens: list[int], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Another non-zero aLoRA adapter with the same invocation (different weights)."""
    return _save_adapter(tiny_model_path, tmp_path_factory.mktemp("alora2"), invocation_tokens, seed=2)


@pytest.fixture(scope="session")
def other_invocation_adapter_path(
    tiny_model_path: str, tokenizer: Any, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A non-zero aLoRA adapter whose invocation (``<|im_start|>verify\\n``) the tests' prompts never contain."""
    ids = list(tokenizer("<|im_start|>verify\n", add_special_tokens=False)["input_ids"])
    return _save_adapter(tiny_model_path, tmp_path_factory.mktemp("alora-other"), ids, seed=3)


@pytest.fixture(scope="session")
def plain_lora_path(tiny_model_path: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A plain LoRA adapter (no invocation tokens), which ``HFAlora`` must refuse."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    with quiet_peft():
        model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj"]))
    out = tmp_path_factory.mktemp("lora")
    model.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def answer_with_cache(tokenizer: Any) -> Any:
    """A function: a PEFT model's greedy base-model answer to ``CONV`` with its cache, as the backend stores it.

    It returns ``cache``, ``merged`` (prompt and answer ids), ``gen`` (answer ids), ``q_end`` (prompt
    length) and ``conv`` (``CONV`` with the decoded answer).
    """
    import torch
    from transformers import DynamicCache

    from gencomp_alora.prompt import text_ids
    from gencomp_hf_backend.compat import with_cache

    def run(model: Any) -> dict[str, Any]:
        prompt = tokenizer.apply_chat_template(CONV, tokenize=False, add_generation_prompt=True)
        prompt_ids = text_ids(tokenizer, prompt)
        cache = DynamicCache(config=model.get_base_model().config)
        with torch.inference_mode(), model.disable_adapter():
            out = model.get_base_model().generate(
                input_ids=torch.tensor([prompt_ids]), **with_cache(cache), max_new_tokens=12, do_sample=False
            )
        merged = out[0].tolist()
        gen = merged[len(prompt_ids) :]
        conv = [*CONV, {"role": "assistant", "content": tokenizer.decode(gen, skip_special_tokens=True)}]
        return {"cache": cache, "merged": merged, "gen": gen, "q_end": len(prompt_ids), "conv": conv}

    return run
