"""Rendering: the default templates of every core component, the granite override, and _stringify."""

from __future__ import annotations

import pytest

from gencomp import (
    ALoraRequirement,
    CBlock,
    Formatter,
    Instruction,
    LLMaJRequirement,
    Message,
    ModelOutputThunk,
    Query,
    Requirement,
    RequirementCheck,
    TemplateRepresentation,
    ToolMessage,
    Transform,
)
from gencomp_template_formatter import TemplateFormatter

GRANITE_ID = "ibm-granite/granite-3.3-8b-instruct"


def full_instruction() -> Instruction:
    return Instruction(
        "Summarize the documents.",
        requirements=["Use one sentence.", "Mention Paris."],
        icl_examples=["The tower is tall."],
        grounding_context={"doc1": "The Eiffel Tower is in Paris.", "doc2": CBlock("It was built in 1889.")},
        prefix="You are a careful assistant.",
        output_prefix="Summary:",
        repair="A previous answer failed: be shorter.",
    )


def test_template_formatter_is_a_gencomp_formatter():
    assert isinstance(TemplateFormatter("m"), Formatter)


def test_default_instruction_shows_every_part_in_order():
    out = TemplateFormatter("fake-model").print(full_instruction())
    parts = [
        "You are a careful assistant.",
        "[doc1]\nThe Eiffel Tower is in Paris.",
        "[doc2]\nIt was built in 1889.",
        "Summarize the documents.",
        "- Use one sentence.\n- Mention Paris.",
        "The tower is tall.",
        "A previous answer failed: be shorter.",
        "Summary:",
    ]
    positions = [out.index(p) for p in parts]
    assert positions == sorted(positions)
    assert out == out.strip()
    assert "\n\n\n" not in out


def test_bare_instruction_renders_only_its_description():
    assert TemplateFormatter("fake-model").print(Instruction("Say hi.")) == "Say hi."


def test_check_only_requirements_are_not_shown_to_the_model():
    inst = Instruction("Do it.", requirements=[Requirement("Visible."), Requirement("Hidden.", check_only=True)])
    out = TemplateFormatter("fake-model").print(inst)
    assert "Visible." in out and "Hidden." not in out


def test_granite_models_get_the_granite_instruction_template():
    out = TemplateFormatter(GRANITE_ID).print(full_instruction())
    assert '<document title="doc1">\nThe Eiffel Tower is in Paris.\n</document>' in out
    assert "1. Use one sentence.\n2. Mention Paris." in out
    assert "<document" not in TemplateFormatter("fake-model").print(full_instruction())


@pytest.mark.parametrize("model_id", ["fake-model", GRANITE_ID])
def test_requirement_judge_prompt_shows_output_and_asks_yes_or_no(model_id):
    req = Requirement("The answer mentions Paris.")
    out = TemplateFormatter(model_id).print(RequirementCheck(req, "The tower stands in Lyon."))
    assert "The tower stands in Lyon." in out
    assert "The answer mentions Paris." in out
    assert "Yes" in out and "No" in out
    assert out.index("The tower stands in Lyon.") < out.index("The answer mentions Paris.")


def test_requirement_without_output_refers_to_the_previous_answer():
    out = TemplateFormatter("fake-model").print(Requirement("Be polite."))
    assert "Be polite." in out and "previous answer" in out


@pytest.mark.parametrize("cls", [LLMaJRequirement, ALoraRequirement])
def test_requirement_subclasses_fall_back_to_the_requirement_template(cls):
    f = TemplateFormatter("fake-model")
    assert f.print(cls("Be polite.")) == f.print(Requirement("Be polite."))


def test_message_renders_its_content():
    assert TemplateFormatter("fake-model").print(Message("user", "Hello there")) == "Hello there"


def test_tool_message_renders_tool_name_arguments_and_output():
    out = TemplateFormatter("fake-model").print(ToolMessage("tool", "42", 42, "add", {"a": 40, "b": 2}))
    assert out == "Result of the tool call add(a=40, b=2):\n42"


def test_query_renders_the_object_then_the_question():
    out = TemplateFormatter("fake-model").print(Query("The sky is blue.", "What color is the sky?"))
    assert out.startswith("The sky is blue.\n\n") and out.endswith("What color is the sky?")


def test_transform_renders_the_object_then_the_transformation():
    out = TemplateFormatter("fake-model").print(Transform(CBlock("hello world"), "Make it uppercase."))
    assert out.startswith("hello world\n\n") and "Make it uppercase." in out


def test_nested_components_render_through_their_own_templates():
    f = TemplateFormatter("fake-model")
    inner = ToolMessage("tool", "7", 7, "count", {"x": 1})
    assert f.print(Query(inner, "Is it odd?")).startswith("Result of the tool call count(x=1):\n7\n\n")
    inst = Instruction("Answer.", grounding_context={"tool": inner})
    assert "[tool]\nResult of the tool call count(x=1):\n7" in f.print(inst)


def test_cblock_template_renders_block_backed_components():
    class Snippet:
        def parts(self):
            return []

        def format_for_llm(self):
            return TemplateRepresentation(obj=self, args={"value": CBlock("snippet text")}, template_order=["CBlock"])

    assert TemplateFormatter("fake-model").print(Snippet()) == "snippet text"


def test_print_of_a_block_is_its_value():
    f = TemplateFormatter("fake-model")
    assert f.print(CBlock("raw")) == "raw"
    assert f.print(ModelOutputThunk("out")) == "out"
    assert f.print(ModelOutputThunk(None)) == ""


def test_component_returning_a_string_is_used_as_is():
    class Plain:
        def parts(self):
            return []

        def format_for_llm(self):
            return "already a prompt"

    assert TemplateFormatter("fake-model").print(Plain()) == "already a prompt"


def test_stringify_keeps_structure_and_renders_leaves():
    f = TemplateFormatter("fake-model")
    value = {
        "none": None,
        "text": "t",
        "block": CBlock("b"),
        "msg": Message("user", "m"),
        "items": [CBlock("x"), ("y", None)],
        "nested": {"deep": [Message("assistant", "a")]},
        "n": 3,
        "flag": False,
    }
    assert f._stringify(value) == {
        "none": "",
        "text": "t",
        "block": "b",
        "msg": "m",
        "items": ["x", ["y", ""]],
        "nested": {"deep": ["a"]},
        "n": 3,
        "flag": False,
    }
    assert f._stringify(None) == ""
    assert f._stringify(object.__new__(type("Opaque", (), {"__str__": lambda self: "opaque"}))) == "opaque"


def test_templates_can_loop_over_structured_arguments():
    rep = TemplateRepresentation(
        obj=object(),
        args={"rows": [{"k": CBlock("a"), "v": 1}, {"k": "b", "v": None}]},
        template="{% for r in rows %}{{ r.k }}={{ r.v }};{% endfor %}",
    )
    assert TemplateFormatter("fake-model").print(rep) == "a=1;b=;"


def test_inline_template_is_used_instead_of_a_file():
    class Inline:
        def parts(self):
            return []

        def format_for_llm(self):
            return TemplateRepresentation(obj=self, args={"name": CBlock("Ada")}, template="Hello, {{ name }}!")

    assert TemplateFormatter("fake-model").print(Inline()) == "Hello, Ada!"


def test_representation_without_obj_is_rendered_for_its_component(tmp_path, write_template):
    class Anon:
        def parts(self):
            return []

        def format_for_llm(self):
            return TemplateRepresentation(obj=None, args={"x": "1"})

    write_template(tmp_path, "prompts/default/Anon.jinja2", "anon {{ x }}")
    assert TemplateFormatter("m", template_path=str(tmp_path)).print(Anon()) == "anon 1"
