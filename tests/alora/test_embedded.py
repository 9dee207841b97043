"""An aLoRA check on the embedded default model (SmolLM2-135M-Instruct): real chat template, real end-of-turn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from gencomp import ALoraRequirement, LinearContext, Session
from gencomp_alora import HFAlora, check_requirement
from gencomp_alora.compat import quiet_peft
from gencomp_alora.generate import _conversation
from gencomp_alora.prompt import check_prompt_ids

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

GP = "<|im_start|>check\n"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The embedded model with a random, non-zero aLoRA named ``"random"``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from gencomp_hf_backend import LocalHFBackend

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        b = LocalHFBackend("smollm2-135m-instruct", model_options={"max_new_tokens": 24})
        inv = list(b.tokenizer(GP, add_special_tokens=False)["input_ids"])
        folder = tmp_path_factory.mktemp("alora-smollm2")
        with torch.random.fork_rng(devices=[]), quiet_peft():
            torch.manual_seed(0)
            shape_only = AutoModelForCausalLM.from_config(b.model.config)
            config = LoraConfig(
                task_type="CAUSAL_LM",
                r=8,
                target_modules=["q_proj", "v_proj"],
                alora_invocation_tokens=inv,
                init_lora_weights=False,
            )
            get_peft_model(shape_only, config).save_pretrained(folder)
        b.add_alora(HFAlora("random", str(folder), GP, b))
        yield b


def test_a_check_extends_the_cached_ids_of_a_real_answer_exactly(backend):
    s = Session(backend, LinearContext())
    out = s.instruct("What is the capital of France?", loop_budget=1)
    info = backend.cache_get(out.meta["hf_cache_key"])
    merged = info.merged_token_ids[0].tolist()
    ctx = s.ctx.copy()
    cached = check_requirement(backend, "The answer mentions Paris.", ctx, alora="random")
    recomputed = check_requirement(backend, "The answer mentions Paris.", ctx, alora="random", reuse_cache=False)
    assert cached.prompt_ids[: len(merged)] == merged
    assert cached.reused_tokens == info.kv_cache.get_seq_length() > 0
    assert abs(cached.yes_logit - recomputed.yes_logit) < 1e-4 and abs(cached.no_logit - recomputed.no_logit) < 1e-4
    # the answer ended with its end-of-turn token: the extended ids are exactly the rendered check prompt
    assert merged[-1] == backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    conversation = _conversation(backend, ctx, None)
    assert cached.prompt_ids == check_prompt_ids(backend.tokenizer, conversation, "The answer mentions Paris.", GP)
    result = ALoraRequirement("The answer mentions Paris.", alora="random").validate(backend, ctx)
    assert result.thunk.meta["check_path"] == "alora:random"
    assert abs(result.score - cached.p_yes) < 1e-5
