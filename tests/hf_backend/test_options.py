"""Model options: simplification, merging, mapping back, and rejection of options nothing accepts."""

from __future__ import annotations

import warnings

import pytest

from gencomp import LinearContext, Message, ModelOption, SimpleContext, UnknownModelOptionError, hookimpl, plugins


def test_simplify_maps_backend_keys_to_model_option_keys(backend) -> None:
    opts = backend._simplify_and_merge({"max_new_tokens": 5, "system": "S", "seed": 3, "top_k": 4})
    assert opts == {ModelOption.MAX_NEW_TOKENS: 5, ModelOption.SYSTEM_PROMPT: "S", ModelOption.SEED: 3, "top_k": 4}


def test_simplify_keeps_an_existing_model_option_key_over_a_backend_key_in_the_same_dict(backend) -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        opts = backend._simplify_and_merge({ModelOption.MAX_NEW_TOKENS: 7, "max_new_tokens": 9})
    assert opts == {ModelOption.MAX_NEW_TOKENS: 7}
    assert any("max_new_tokens" in str(w.message) for w in seen)


def test_call_options_win_over_backend_defaults_even_as_backend_keys(make_backend) -> None:
    b = make_backend(model_options={ModelOption.MAX_NEW_TOKENS: 50, "system": "default system", "top_k": 3})
    assert b._simplify_and_merge(None) == {
        ModelOption.MAX_NEW_TOKENS: 50,
        ModelOption.SYSTEM_PROMPT: "default system",
        "top_k": 3,
    }
    merged = b._simplify_and_merge({"max_new_tokens": 4, ModelOption.SYSTEM_PROMPT: "call system"})
    assert merged == {ModelOption.MAX_NEW_TOKENS: 4, ModelOption.SYSTEM_PROMPT: "call system", "top_k": 3}


def test_simplify_and_merge_returns_a_new_dict(make_backend) -> None:
    defaults = {"top_k": 3}
    b = make_backend(model_options=defaults)
    call = {"top_p": 0.5}
    out = b._simplify_and_merge(call)
    out["x"] = 1
    assert call == {"top_p": 0.5} and b.model_options == {"top_k": 3}


def test_make_backend_specific_maps_max_new_tokens_back_and_drops_other_special_keys(backend) -> None:
    out = backend._make_backend_specific_and_remove(
        {
            ModelOption.MAX_NEW_TOKENS: 5,
            ModelOption.SYSTEM_PROMPT: "S",
            ModelOption.SEED: 1,
            ModelOption.TOOLS: [],
            ModelOption.THINKING: True,
            ModelOption.CONTEXT_WINDOW: 100,
            "temperature": 0.5,
        }
    )
    assert out == {"max_new_tokens": 5, "temperature": 0.5}


def test_thinking_maps_to_enable_thinking_only_when_the_chat_template_reads_it(make_backend) -> None:
    b = make_backend()
    b.tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if enable_thinking %}<think>{% endif %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    assert b._make_backend_specific_and_remove({ModelOption.THINKING: True}) == {"enable_thinking": True}
    logs = []
    b.generate_from_context(
        Message("user", "hi"),
        SimpleContext(),
        model_options={ModelOption.THINKING: True, "max_new_tokens": 1},
        generate_logs=logs,
    )
    assert "<think>" in logs[-1].prompt
    b.generate_from_context(
        Message("user", "hi"), SimpleContext(), model_options={"max_new_tokens": 1}, generate_logs=logs
    )
    assert "<think>" not in logs[-1].prompt


def test_unknown_option_is_an_error_naming_it_and_close_matches(backend) -> None:
    with pytest.raises(UnknownModelOptionError) as err:
        backend.generate_from_context(Message("user", "hi"), LinearContext(), model_options={"max_new_tokenz": 3})
    assert "'max_new_tokenz'" in str(err.value) and "'max_new_tokens'" in str(err.value)
    with pytest.raises(UnknownModelOptionError, match="num_return_sequences"):
        backend._generate_from_raw([Message("user", "hi")], model_options={"num_return_sequences": 2})


def test_default_options_are_checked_too(make_backend) -> None:
    b = make_backend(model_options={"not_an_option": 1})
    with pytest.raises(UnknownModelOptionError, match="not_an_option"):
        b.generate_from_context(Message("user", "hi"), LinearContext())


def test_generate_options_reach_generate(backend) -> None:
    logs = []
    out = backend.generate_from_context(
        Message("user", "hi"),
        SimpleContext(),
        model_options={"max_new_tokens": 6, "min_new_tokens": 6},
        generate_logs=logs,
    )
    assert logs[-1].extra["new_tokens"] == 6 and out.value is not None


def test_system_prompt_option_becomes_the_system_message(backend) -> None:
    logs = []
    backend.generate_from_context(
        Message("user", "hi"),
        SimpleContext(),
        model_options={"system": "You are terse.", "max_new_tokens": 1},
        generate_logs=logs,
    )
    assert logs[-1].prompt.startswith("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nhi")


class _ExtraNames:
    @hookimpl
    def gencomp_model_option_map(self, backend):
        return {"max_tokens": ModelOption.MAX_NEW_TOKENS}


def test_option_map_hook_adds_names_other_plugins_know(make_backend) -> None:
    plugin = _ExtraNames()
    plugins.register_plugin(plugin, name="extra-option-names")
    try:
        b = make_backend()
        logs = []
        b.generate_from_context(
            Message("user", "hi"),
            SimpleContext(),
            model_options={"max_tokens": 3, "min_new_tokens": 3},
            generate_logs=logs,
        )
        assert logs[-1].model_options[ModelOption.MAX_NEW_TOKENS] == 3
        assert logs[-1].extra["new_tokens"] == 3
    finally:
        plugins.unregister_plugin(plugin)


def test_template_variables_come_from_the_template_as_transformers_renders_it() -> None:
    from gencomp_hf_backend.options import template_variables

    template = (
        "{% for m in messages %}{% generation %}{{ m['content'] }}{% endgeneration %}{% endfor %}"
        "{% if custom_flag %}{{ raise_exception('no') }}{% endif %}{{ strftime_now('%Y') }}"
        "{% set ns = namespace(x=1) %}{% for t in tools or [] %}{% break %}{% endfor %}"
    )
    assert template_variables(template) == {"custom_flag"}
    assert template_variables(None) == frozenset()
