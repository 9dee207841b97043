"""The plugin's registrations, its light entry point, and the backend's construction-time hooks."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gencomp import GencompError, Message, ModelOption, SimpleContext, hookimpl, make_backend, plugins
from gencomp.plugins import registry


def test_entry_point_module_imports_no_torch_or_transformers() -> None:
    code = (
        "import sys, gencomp, gencomp_hf_backend.plugin, gencomp_hf_backend;"
        "from gencomp import plugins; plugins.registry();"
        "print(sorted(m for m in ('torch', 'transformers', 'llguidance') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hf_backend_is_registered_with_alias_and_default_model() -> None:
    reg = registry()
    spec = reg.backend("hf")
    assert spec is not None and reg.backend("huggingface") is spec
    assert spec.default_model == "smollm2-135m-instruct"
    model = reg.model("smollm2-135m-instruct")
    assert model is not None and model.backend == "hf"


def test_make_backend_builds_a_local_hf_backend(tiny_model_path, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend

    b = make_backend("huggingface", tiny_model_path, formatter=formatter)
    assert isinstance(b, LocalHFBackend) and b.formatter is formatter
    assert b._device == torch.device("cpu") and not b._model.training


def test_option_map_hook_answers_for_local_hf_backends_only(backend) -> None:
    from gencomp_hf_backend import plugin

    assert plugin.gencomp_model_option_map(backend)["max_new_tokens"] == ModelOption.MAX_NEW_TOKENS
    assert plugin.gencomp_model_option_map(object()) is None


def test_custom_config_overrides_loading(backend, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend, TransformersTorchConfig

    cfg = TransformersTorchConfig(tokenizer=backend._tokenizer, model=backend._model, device="cpu")
    b = LocalHFBackend("no/such-model-anywhere", formatter=formatter, custom_config=cfg)
    assert b._model is backend._model and b._tokenizer is backend._tokenizer
    assert b.model_id == "no/such-model-anywhere"


def test_custom_config_accepts_the_seeds_tokenizer_model_device_tuple(backend, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend

    b = LocalHFBackend("x", formatter=formatter, custom_config=(backend._tokenizer, backend._model, "cpu"))
    assert b._model is backend._model and b._tokenizer is backend._tokenizer
    out = b.generate_from_context(Message("user", "hi"), SimpleContext(), model_options={"max_new_tokens": 2})
    assert out.value is not None


def test_custom_config_of_the_wrong_shape_is_a_clear_error(backend, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend

    with pytest.raises(TypeError, match=r"\(tokenizer, model, device\) tuple, got dict"):
        LocalHFBackend("x", formatter=formatter, custom_config={"model": backend._model})


def test_backend_created_hook_sees_every_new_backend_and_default_formatter_comes_from_the_hook(
    tiny_model_path, formatter
) -> None:
    from gencomp_hf_backend import LocalHFBackend

    seen = []

    class Observer:
        @hookimpl
        def gencomp_backend_created(self, backend):
            seen.append(backend)

        @hookimpl(tryfirst=True)
        def gencomp_default_formatter(self, model_id):
            return formatter

    p = Observer()
    plugins.register_plugin(p, name="test-observer")
    try:
        b = LocalHFBackend(tiny_model_path)
    finally:
        plugins.unregister_plugin(p)
    assert seen == [b] and b.formatter is formatter


class _Adapter:
    """The aLoRA protocol the backend calls: a name and ``load_into(backend)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loaded_into = None

    def load_into(self, backend) -> None:
        self.loaded_into = backend


def test_alora_registry_methods(backend) -> None:
    assert backend.get_aloras() == [] and backend.get_alora("constraint") is None
    a = _Adapter("constraint")
    backend.add_alora(a)
    assert a.loaded_into is backend and backend.get_alora("constraint") is a and backend.get_aloras() == [a]
    with pytest.raises(GencompError, match="'constraint' is already loaded"):
        backend.add_alora(_Adapter("constraint"))


def test_alora_model_can_be_set_once(backend) -> None:
    assert backend.alora_model is None
    marker = object()
    backend.alora_model = marker
    assert backend.alora_model is marker
    with pytest.raises(GencompError, match="only once"):
        backend.alora_model = object()


def test_alora_generation_without_the_alora_plugin_names_the_install_command(backend, monkeypatch) -> None:
    from gencomp import Requirement, SimpleContext

    monkeypatch.setitem(sys.modules, "gencomp_alora.generate", None)
    with pytest.raises(GencompError, match="pip install gencomp-alora"):
        backend._generate_from_context_alora(Requirement("ok"), SimpleContext(), model_options={})


def test_the_backend_itself_judges_requirement_checks_with_the_base_model(make_backend, monkeypatch) -> None:
    """Routing checks to adapters is the gencomp-alora plugin's (its gencomp_generate hook), not the backend's."""
    from gencomp import ALoraRequirement, Requirement, SimpleContext

    monkeypatch.setitem(sys.modules, "gencomp_alora.generate", None)  # an adapter call would raise
    b = make_backend()
    b.add_alora(_Adapter("constraint"))
    for action in (Requirement("be short"), ALoraRequirement("be short")):
        out = b._generate_from_context(action, SimpleContext(), model_options={"max_new_tokens": 2})
        assert out.meta["check_path"] == "llm-as-a-judge" and 0.0 <= out.meta["p_yes"] <= 1.0


def test_standard_generation_stays_the_base_model_once_an_alora_model_wraps_it(backend) -> None:
    from peft import LoraConfig, get_peft_model

    from gencomp import Message, SimpleContext

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
    invocation = backend._tokenizer.encode("<|im_start|>check", add_special_tokens=False)
    config = LoraConfig(
        task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"], alora_invocation_tokens=invocation,
        init_lora_weights=False,
    )  # fmt: skip
    peft_model = get_peft_model(backend._model, config)
    backend.alora_model = peft_model
    ids = torch.tensor([backend._tokenizer.encode("Is the sky blue?", add_special_tokens=False) + invocation + [5, 6]])
    with torch.no_grad():
        adapted = peft_model(input_ids=ids).logits[0, -1]
        with peft_model.disable_adapter():
            base = peft_model(input_ids=ids).logits[0, -1]
    assert not torch.allclose(adapted, base)  # the adapter is real, not a no-op
    assert ask() == before
