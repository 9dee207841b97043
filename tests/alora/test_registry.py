"""The per-backend aLoRA registry the plugin adds to ``LocalHFBackend``, and the base-model guard it installs."""

from __future__ import annotations

import pytest
import torch

from gencomp import GencompError, Message, SimpleContext
from gencomp_alora.compat import quiet_peft
from gencomp_alora.registry import registry
from gencomp_hf_backend import LocalHFBackend


class _Adapter:
    """The protocol the registry calls: a name and ``load_into(backend)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loaded_into = None

    def load_into(self, backend) -> None:
        self.loaded_into = backend


@pytest.fixture
def backend(tiny_model_path: str) -> LocalHFBackend:
    return LocalHFBackend(tiny_model_path)


def test_the_seeds_alora_methods_work_on_the_backend_through_the_plugin(backend) -> None:
    assert backend.get_aloras() == [] and backend.get_alora("constraint") is None and backend.alora_model is None
    a = _Adapter("constraint")
    backend.add_alora(a)
    assert a.loaded_into is backend and backend.get_alora("constraint") is a and backend.get_aloras() == [a]
    assert registry(backend).get("constraint") is a and backend.plugin_state["alora"] is registry(backend)
    with pytest.raises(GencompError, match="'constraint' is already loaded"):
        backend.add_alora(_Adapter("constraint"))


def test_the_alora_model_can_be_set_once(backend) -> None:
    marker = object()
    registry(backend).model = marker
    assert backend.alora_model is marker
    with pytest.raises(GencompError, match="only once"):
        registry(backend).model = object()


def test_registries_of_two_backends_are_apart(backend, tiny_model_path) -> None:
    other = LocalHFBackend(tiny_model_path)
    backend.add_alora(_Adapter("constraint"))
    assert other.get_aloras() == [] and registry(other) is not registry(backend)


def test_standard_generation_stays_the_base_model_once_an_alora_model_wraps_it(backend) -> None:
    from peft import LoraConfig, get_peft_model

    def ask():
        logs = []
        backend.generate_from_context(
            Message("user", "Is the sky blue?"),
            SimpleContext(),
            model_options={"max_new_tokens": 8},
            generate_logs=logs,
        )
        return logs[-1].model_output.tolist()

    before = ask()
    invocation = backend.tokenizer.encode("<|im_start|>check", add_special_tokens=False)
    config = LoraConfig(
        task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"], alora_invocation_tokens=invocation,
        init_lora_weights=False,
    )  # fmt: skip
    with quiet_peft():
        peft_model = get_peft_model(backend.model, config)
    registry(backend).model = peft_model
    ids = torch.tensor([backend.tokenizer.encode("Is the sky blue?", add_special_tokens=False) + invocation + [5, 6]])
    with torch.no_grad():
        adapted = peft_model(input_ids=ids).logits[0, -1]
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids).logits[0, -1]
    assert not torch.allclose(adapted, base)  # the adapter is real, not a no-op
    assert ask() == before
