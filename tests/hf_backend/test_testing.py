"""The tiny-model builder other tests (here and in the aLoRA plugin) rely on."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gencomp_hf_backend.testing import build_tiny_model


def test_tiny_model_loads_back_with_auto_classes_and_generates(tiny_model_path: str) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert tok.pad_token == "<|pad|>" and tok.eos_token == "<|im_end|>"
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    ids = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, min_new_tokens=5)
    assert out.shape[1] == ids.input_ids.shape[1] + 5


def test_tiny_tokenizer_round_trips_text_and_has_a_chatml_template(tiny_model_path: str) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    text = 'Héllo, wörld! {"a": 1} 🙂'
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.startswith("<|im_start|>system\n")
    im_start = tok.convert_tokens_to_ids("<|im_start|>")
    assert tok(prompt, add_special_tokens=False).input_ids.count(im_start) == 3


def test_tiny_chat_template_lists_tools(tiny_model_path: str) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Weather?"}], tools=[tool], tokenize=False, add_generation_prompt=True
    )
    assert '"name": "get_weather"' in prompt


def test_tiny_model_weights_depend_only_on_the_seed(tmp_path) -> None:
    state = torch.random.get_rng_state()
    a = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "a", seed=1))
    b = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "b", seed=1))
    c = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "c", seed=2, chat_template=False))
    assert torch.equal(torch.random.get_rng_state(), state)
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert AutoTokenizer.from_pretrained(tmp_path / "c").chat_template is None
