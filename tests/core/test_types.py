"""The core vocabulary: blocks, contexts, components, model options and identifiers."""

from __future__ import annotations

import warnings

import pytest

from gencomp import (
    CBlock,
    Component,
    Instruction,
    LinearContext,
    Message,
    ModelIdentifier,
    ModelOption,
    ModelOutputThunk,
    Requirement,
    SimpleContext,
    TemplateRepresentation,
    ToolMessage,
    simple_validate,
)
from gencomp.base import plain_text
from gencomp.components import bool_from_text


def test_standard_components_satisfy_the_component_protocol():
    for c in (Message("user", "hi"), Instruction("do"), Requirement("r"), ToolMessage("tool", "4", 4, "add", {})):
        assert isinstance(c, Component)
        assert isinstance(c.format_for_llm(), TemplateRepresentation)
    assert not isinstance(CBlock("x"), Component)


def test_linear_context_renders_only_the_window_and_copies_are_independent():
    ctx = LinearContext(window_size=2)
    for i in range(3):
        ctx.insert(CBlock(str(i)))
    assert [b.value for b in ctx.render_for_generation()] == ["1", "2"]
    copy = ctx.copy()
    copy.insert(CBlock("3"))
    assert len(ctx) == 3 and len(copy) == 4
    assert LinearContext(window_size=0).render_for_generation() == []


def test_simple_context_renders_no_history_but_remembers_the_last_output():
    ctx = SimpleContext()
    out = ModelOutputThunk("answer")
    ctx.insert_turn(Message("user", "q"), out)
    assert ctx.render_for_generation() == []
    assert ctx.last_output() is out


def test_message_rejects_an_unknown_role_with_the_allowed_ones():
    with pytest.raises(ValueError, match="system, user, assistant, tool"):
        Message("robot", "hi")  # type: ignore[arg-type]


def test_instruction_fills_user_variables_and_names_a_missing_one():
    ins = Instruction("Write about {{topic}}.", requirements=["Mention {{topic}}."], user_variables={"topic": "owls"})
    assert ins.description.value == "Write about owls."
    assert ins.requirements[0].description == "Mention owls."
    with pytest.raises(KeyError, match="'place'"):
        Instruction("Go to {{place}}", user_variables={"topic": "x"})


def test_instruction_hides_check_only_requirements_from_the_model():
    ins = Instruction("x", requirements=[Requirement("shown"), Requirement("hidden", check_only=True)])
    assert ins.format_for_llm().args["requirements"] == ["shown"]


def test_requirement_needs_a_description_or_a_validation_function():
    with pytest.raises(ValueError, match="description, a validation_fn"):
        Requirement()


def test_simple_validate_checks_the_last_output_and_carries_a_reason():
    ctx = LinearContext()
    fn = simple_validate(lambda text: (text.isupper(), "must be capitals"))
    assert fn(ctx).result is False and "no output" in (fn(ctx).reason or "")
    ctx.insert(ModelOutputThunk("LOUD"))
    assert fn(ctx).result is True and fn(ctx).reason == "must be capitals"


@pytest.mark.parametrize(
    ("text", "verdict"), [("Yes.", True), ("yes, it does", True), ("No", False), ("", False), ("  Y", True)]
)
def test_bool_from_text_reads_the_first_word(text, verdict):
    assert bool_from_text(text) is verdict


def test_model_identifier_uses_its_first_non_empty_name():
    assert str(ModelIdentifier(hf_model_name="", ollama_name="granite3.3:8b")) == "granite3.3:8b"
    with pytest.raises(ValueError, match="no name"):
        ModelIdentifier().first_name()


def test_replace_keys_keeps_the_existing_value_on_conflict_and_warns():
    opts = {"max_new_tokens": 3, ModelOption.MAX_NEW_TOKENS: 5, "seed": 1}
    with pytest.warns(UserWarning, match="keeping '@@@max_new_tokens@@@'"):
        new = ModelOption.replace_keys(opts, {"max_new_tokens": ModelOption.MAX_NEW_TOKENS, "seed": ModelOption.SEED})
    assert new == {ModelOption.MAX_NEW_TOKENS: 5, ModelOption.SEED: 1}
    assert opts["max_new_tokens"] == 3  # the input is not changed


def test_replace_keys_is_silent_when_the_values_agree():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ModelOption.replace_keys({"a": 1, "@@@a@@@": 1}, {"a": "@@@a@@@"}) == {"@@@a@@@": 1}


def test_remove_special_keys_keeps_plain_keys_such_as_temperature():
    opts = {ModelOption.SEED: 1, ModelOption.TEMPERATURE: 0.5, "top_k": 3}
    assert ModelOption.remove_special_keys(opts) == {"temperature": 0.5, "top_k": 3}


def test_merge_model_options_lets_the_call_win():
    assert ModelOption.merge_model_options({"a": 1, "b": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert ModelOption.merge_model_options(None, None) == {}


def test_plain_text_renders_components_without_a_formatter():
    text = plain_text(Instruction("Summarize.", requirements=["Be short."]))
    assert "Summarize." in text and "Be short." in text


def test_a_formatter_written_to_the_seed_needs_no_to_chat_messages_of_its_own():
    from gencomp import Formatter

    class Plain(Formatter):
        def print(self, c):
            return str(c)

        def print_context(self, ctx):
            return "\n".join(self.print(c) for c in ctx.render_for_generation())

        def parse(self, source_component, result):
            result.parsed_repr = result
            return result

    answer = ModelOutputThunk("Paris.")
    messages = Plain().to_chat_messages([Message("system", "Be brief."), CBlock("Capital of France?"), answer])
    assert messages == [
        Message("system", "Be brief."),
        Message("user", "Capital of France?"),
        Message("assistant", "Paris."),
    ]
