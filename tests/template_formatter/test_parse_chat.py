"""parse, to_chat_messages and print_context."""

from __future__ import annotations

import pytest

from gencomp import (
    CBlock,
    Context,
    GencompError,
    Instruction,
    LinearContext,
    Message,
    ModelOutputThunk,
    ModelToolCall,
    SimpleContext,
    ToolMessage,
)
from gencomp_template_formatter import TemplateFormatter


def test_parse_of_a_message_source_sets_an_assistant_message():
    f = TemplateFormatter("m")
    thunk = ModelOutputThunk("Hi there.")
    parsed = f.parse(Message("user", "Hello"), thunk)
    assert parsed == Message("assistant", "Hi there.")
    assert thunk.parsed_repr is parsed


def test_parse_of_other_sources_sets_the_output_itself():
    f = TemplateFormatter("m")
    thunk = ModelOutputThunk("Paris.")
    assert f.parse(Instruction("Capital of France?"), thunk) is thunk
    assert thunk.parsed_repr is thunk


def test_parse_of_an_output_with_tool_calls_sets_an_assistant_message():
    f = TemplateFormatter("m")
    call = ModelToolCall("add", lambda a, b: a + b, {"a": 1, "b": 2})
    thunk = ModelOutputThunk('{"name": "add", "arguments": {"a": 1, "b": 2}}', tool_calls={"add": call})
    parsed = f.parse(Instruction("Add 1 and 2."), thunk)
    assert isinstance(parsed, Message) and parsed.role == "assistant" and parsed.content == thunk.value


def test_to_chat_messages_maps_each_kind_of_turn():
    f = TemplateFormatter("m")
    system = Message("system", "Be brief.")
    inst = Instruction("Name a color.", requirements=["One word."])
    parsed_thunk = ModelOutputThunk("Blue.")
    f.parse(Message("user", "x"), parsed_thunk)
    plain_thunk = ModelOutputThunk("Red.")
    tool = ToolMessage("tool", "3", 3, "add", {"a": 1, "b": 2})
    msgs = f.to_chat_messages([system, inst, parsed_thunk, plain_thunk, tool, CBlock("a block")])
    assert [m.role for m in msgs] == ["system", "user", "assistant", "assistant", "tool", "user"]
    assert msgs[0] is system and msgs[4] is tool
    assert msgs[1].content == f.print(inst)
    assert msgs[2] is parsed_thunk.parsed_repr
    assert msgs[3].content == "Red."
    assert msgs[5].content == "a block"


def test_to_chat_messages_of_a_thunk_parsed_to_itself_uses_its_value():
    f = TemplateFormatter("m")
    thunk = ModelOutputThunk("Green.")
    f.parse(Instruction("Color?"), thunk)
    assert f.to_chat_messages([thunk]) == [Message("assistant", "Green.")]


def test_print_context_renders_a_linear_non_chat_context_turn_by_turn():
    f = TemplateFormatter("m")
    ctx = LinearContext(is_chat_context=False)
    ctx.insert_turn(Instruction("Say hi."), ModelOutputThunk("Hi!"))
    ctx.insert(Message("user", "Again."))
    assert f.print_context(ctx) == "Say hi.\n\nHi!\n\nAgain."


def test_print_context_respects_the_window():
    f = TemplateFormatter("m")
    ctx = LinearContext(window_size=1, is_chat_context=False)
    ctx.insert_turn(Instruction("Say hi."), ModelOutputThunk("Hi!"))
    assert f.print_context(ctx) == "Hi!"
    assert f.print_context(SimpleContext(is_chat_context=False)) == ""


def test_print_context_refuses_a_chat_context():
    with pytest.raises(GencompError, match=r"chat context.*to_chat_messages.*is_chat_context=False"):
        TemplateFormatter("m").print_context(LinearContext())


def test_print_context_refuses_what_is_not_a_context():
    with pytest.raises(TypeError, match="Context"):
        TemplateFormatter("m").print_context([Message("user", "x")])  # type: ignore[arg-type]
    assert isinstance(LinearContext(), Context)
