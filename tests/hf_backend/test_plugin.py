"""The plugin's registrations, its light entry point, and the backend's construction-time hooks."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gencomp import Message, ModelOption, SimpleContext, hookimpl, make_backend, plugins
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
    assert b.device == torch.device("cpu") and not b.model.training


def test_the_option_map_is_the_backends_own_not_an_answer_to_its_own_hook(backend) -> None:
    from gencomp_hf_backend import plugin

    assert not hasattr(plugin, "gencomp_model_option_map")
    assert backend.model_option_map()["max_new_tokens"] == ModelOption.MAX_NEW_TOKENS


def test_custom_config_overrides_loading(backend, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend, TransformersTorchConfig

    cfg = TransformersTorchConfig(tokenizer=backend.tokenizer, model=backend.model, device="cpu")
    b = LocalHFBackend("no/such-model-anywhere", formatter=formatter, custom_config=cfg)
    assert b.model is backend.model and b.tokenizer is backend.tokenizer
    assert b.model_id == "no/such-model-anywhere"


def test_custom_config_accepts_the_seeds_tokenizer_model_device_tuple(backend, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend

    b = LocalHFBackend("x", formatter=formatter, custom_config=(backend.tokenizer, backend.model, "cpu"))
    assert b.model is backend.model and b.tokenizer is backend.tokenizer
    out = b.generate_from_context(Message("user", "hi"), SimpleContext(), model_options={"max_new_tokens": 2})
    assert out.value is not None


def test_custom_config_of_the_wrong_shape_is_a_clear_error(backend, formatter) -> None:
    from gencomp_hf_backend import LocalHFBackend

    with pytest.raises(TypeError, match=r"\(tokenizer, model, device\) tuple, got dict"):
        LocalHFBackend("x", formatter=formatter, custom_config={"model": backend.model})


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


def test_without_the_alora_plugin_the_seeds_alora_methods_are_a_clear_error(tiny_model_path, formatter, monkeypatch):
    from gencomp_hf_backend import LocalHFBackend

    monkeypatch.setenv("GENCOMP_DISABLE_PLUGINS", "alora")
    plugins.reset()
    try:
        b = LocalHFBackend(tiny_model_path, formatter=formatter)
        with pytest.raises(AttributeError, match="'add_alora' is added by the distribution gencomp-alora.*pip install"):
            b.add_alora(object())
    finally:
        monkeypatch.delenv("GENCOMP_DISABLE_PLUGINS")
        plugins.reset()


def test_the_backend_itself_judges_requirement_checks_with_the_base_model(make_backend, monkeypatch) -> None:
    """Without a plugin answering checks, the backend is the judge: ``p(yes)`` from its Yes/No logits."""
    from gencomp import ALoraRequirement, ModelOutputThunk, Requirement

    monkeypatch.setenv("GENCOMP_DISABLE_PLUGINS", "alora")
    plugins.reset()
    try:
        b = make_backend()
        ctx = SimpleContext()
        ctx.insert_turn(Message("user", "hi"), ModelOutputThunk("hello"))
        for requirement in (Requirement("be short"), ALoraRequirement("be short")):
            result = requirement.validate(b, ctx, model_options={ModelOption.MAX_NEW_TOKENS: 2})
            assert result.verdict.path == "llm-as-a-judge" and 0.0 <= result.score <= 1.0
            assert result.result is (result.score > 0.5)
    finally:
        monkeypatch.delenv("GENCOMP_DISABLE_PLUGINS")
        plugins.reset()


def test_a_base_model_guard_holds_around_every_generation(backend) -> None:
    import contextlib

    entered = []

    @contextlib.contextmanager
    def guard():
        entered.append(True)
        yield

    backend.add_base_model_guard(guard)
    backend.generate_from_context(Message("user", "hi"), SimpleContext(), model_options={"max_new_tokens": 1})
    backend._generate_from_raw([Message("user", "hi")], model_options={"max_new_tokens": 1})
    assert entered == [True, True]


def test_a_registered_formatter_is_chosen_by_name(tiny_model_path) -> None:
    from gencomp_template_formatter import TemplateFormatter

    b = make_backend("hf", tiny_model_path, formatter="template")
    assert isinstance(b.formatter, TemplateFormatter)
