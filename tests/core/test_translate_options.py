"""``translate_options``: one pure function from defaults and call options to a backend's arguments."""

from __future__ import annotations

import pytest

from gencomp import GenerationOptions, ModelOption, UnknownModelOptionError, translate_options

MAP = {"max_new_tokens": ModelOption.MAX_NEW_TOKENS, "seed": ModelOption.SEED, "system": ModelOption.SYSTEM_PROMPT}
GEN = frozenset({"max_new_tokens", "temperature", "top_k"})
TPL = frozenset({"enable_thinking"})
MAP_T = {**MAP, "enable_thinking": ModelOption.THINKING}


def tr(defaults, call, option_map=MAP):
    return translate_options(defaults, call, option_map=option_map, generate_keys=GEN, template_keys=TPL)


@pytest.mark.parametrize(
    ("defaults", "call", "expected"),
    [
        ({}, {}, GenerationOptions()),
        (
            {"max_new_tokens": 5},
            None,
            GenerationOptions(merged={ModelOption.MAX_NEW_TOKENS: 5}, generate={"max_new_tokens": 5}, max_new_tokens=5),
        ),
        (
            {ModelOption.MAX_NEW_TOKENS: 50, "top_k": 3},
            {"max_new_tokens": 4},
            GenerationOptions(
                merged={ModelOption.MAX_NEW_TOKENS: 4, "top_k": 3},
                generate={"max_new_tokens": 4, "top_k": 3},
                max_new_tokens=4,
            ),
        ),
        (
            {"seed": 1, "system": "S"},
            {"temperature": 0.5},
            GenerationOptions(
                merged={ModelOption.SEED: 1, ModelOption.SYSTEM_PROMPT: "S", "temperature": 0.5},
                generate={"temperature": 0.5},
                seed=1,
                system_prompt="S",
            ),
        ),
        (
            {},
            {ModelOption.TOOLS: [print], ModelOption.CONTEXT_WINDOW: 9},
            GenerationOptions(
                merged={ModelOption.TOOLS: [print], ModelOption.CONTEXT_WINDOW: 9},
                tools=[print],
                context_window=9,
            ),
        ),
        (
            {},
            {"enable_thinking": True},
            GenerationOptions(merged={"enable_thinking": True}, template={"enable_thinking": True}),
        ),
    ],
    ids=["empty", "defaults-only", "call-wins-as-backend-key", "typed-fields", "specials-typed", "template"],
)
def test_translation_table(defaults, call, expected) -> None:
    assert tr(defaults, call) == expected


def test_an_unknown_special_key_is_refused_not_dropped() -> None:
    with pytest.raises(UnknownModelOptionError, match="unknown model option '@@@unknown_special@@@'"):
        tr({}, {"@@@unknown_special@@@": 1})


def test_a_special_key_the_backend_names_in_its_template_goes_there() -> None:
    out = tr({}, {ModelOption.THINKING: True}, option_map=MAP_T)
    assert out.template == {"enable_thinking": True} and out.thinking is True and out.generate == {}


def test_an_unknown_option_is_rejected_with_close_matches() -> None:
    with pytest.raises(UnknownModelOptionError, match=r"'max_new_tokenz'.*Did you mean 'max_new_tokens'"):
        tr({}, {"max_new_tokenz": 3})
    with pytest.raises(UnknownModelOptionError, match="'bogus'"):
        tr({"bogus": 1}, None)


def test_a_hint_replaces_the_close_matches() -> None:
    with pytest.raises(UnknownModelOptionError, match="set by the backend"):
        translate_options(
            {}, {"use_cache": 1}, option_map={}, generate_keys=GEN, hints={"use_cache": "set by the backend"}
        )


def test_translation_leaves_its_inputs_alone() -> None:
    defaults, call = {"max_new_tokens": 5}, {"seed": 2}
    tr(defaults, call)
    assert defaults == {"max_new_tokens": 5} and call == {"seed": 2}
