"""Template lookup: the folder walk, tie rules, model ids and the order of roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from gencomp import Instruction, Message, ModelIdentifier
from gencomp_template_formatter import TemplateFormatter, _get_package_name, _simplify_model_string
from gencomp_template_formatter.formatter import DEFAULT_TEMPLATES

GRANITE_ID = "ibm-granite/granite-3.3-8b-instruct"


def test_granite_model_id_resolves_to_the_deepest_matching_folder(granite_tree, widget):
    f = TemplateFormatter(GRANITE_ID, template_path=str(granite_tree))
    assert f.print(widget("x")) == "granite3.3 x"
    assert f._get_template(str(granite_tree), "Widget.jinja2") == "prompts/granite/granite3.3/Widget.jinja2"


def test_unknown_model_id_resolves_to_the_default_folder(granite_tree, widget):
    f = TemplateFormatter("fake-model", template_path=str(granite_tree))
    assert f.print(widget("x")) == "default x"
    assert f._get_template(str(granite_tree), "Widget.jinja2") == "prompts/default/Widget.jinja2"


def test_family_folder_matches_when_no_version_folder_does(granite_tree, widget):
    assert TemplateFormatter("granite-8b-code", template_path=str(granite_tree)).print(widget("x")) == "granite x"


def test_model_folder_wins_over_default_whatever_the_walk_order(tmp_path, write_template):
    # "alpha" sorts before "default", "zeta" after it: the model folder must win in both cases.
    for folder in ("alpha", "zeta"):
        root = tmp_path / folder
        write_template(root, "prompts/default/X.jinja2", "default")
        write_template(root, f"prompts/{folder}/X.jinja2", folder)
        assert TemplateFormatter(f"{folder}-7b")._get_template(str(root), "X.jinja2") == f"prompts/{folder}/X.jinja2"


def test_non_matching_sibling_folders_are_all_left_out(tmp_path, write_template, widget):
    # Removing folders from a list while iterating over it skips the next one; here every sibling is checked.
    root = tmp_path / "tree"
    write_template(root, "prompts/default/Widget.jinja2", "default")
    for name in ("aaa", "bbb", "ccc"):
        write_template(root, f"prompts/{name}/Widget.jinja2", name)
    f = TemplateFormatter("granite-3.3", template_path=str(root))
    assert f.print(widget("x")) == "default"
    searched = {p.name for _, p in f.find_template(["Widget"]).searched}
    assert not searched & {"aaa", "bbb", "ccc"}


def test_every_matching_sibling_folder_is_entered(tmp_path, write_template):
    root = tmp_path / "tree"
    write_template(root, "prompts/default/X.jinja2", "default")
    write_template(root, "prompts/ibm/Y.jinja2", "ibm")
    write_template(root, "prompts/granite/X.jinja2", "granite")
    result = TemplateFormatter(GRANITE_ID, template_path=str(root)).find_template(["X"])
    assert {"ibm", "granite", "default"} <= {p.name for _, p in result.searched}
    assert result.path == root / "prompts" / "granite" / "X.jinja2"


def test_sibling_tie_prefers_the_longer_simplified_name(tmp_path, write_template):
    root = tmp_path / "tree"
    write_template(root, "prompts/ibm/X.jinja2", "ibm")
    write_template(root, "prompts/granite/X.jinja2", "granite")
    assert TemplateFormatter(GRANITE_ID)._get_template(str(root), "X.jinja2") == "prompts/granite/X.jinja2"


def test_sibling_tie_of_equal_length_is_alphabetical(tmp_path, write_template):
    root = tmp_path / "tree"
    write_template(root, "prompts/foo/X.jinja2", "foo")
    write_template(root, "prompts/bar/X.jinja2", "bar")
    for _ in range(3):
        assert TemplateFormatter("foo-bar")._get_template(str(root), "X.jinja2") == "prompts/bar/X.jinja2"


def test_deeper_match_beats_a_longer_sibling_name(tmp_path, write_template):
    root = tmp_path / "tree"
    write_template(root, "prompts/granite/X.jinja2", "granite")
    write_template(root, "prompts/ibm/granite33/X.jinja2", "ibm/granite33")
    assert TemplateFormatter(GRANITE_ID)._get_template(str(root), "X.jinja2") == "prompts/ibm/granite33/X.jinja2"


def test_folder_names_match_case_and_punctuation_insensitively(tmp_path, write_template):
    root = tmp_path / "tree"
    write_template(root, "prompts/default/X.jinja2", "default")
    write_template(root, "prompts/Granite_3.3/X.jinja2", "granite")
    assert TemplateFormatter(GRANITE_ID)._get_template(str(root), "X.jinja2") == "prompts/Granite_3.3/X.jinja2"


def test_relative_template_names_use_forward_slashes_and_exist(granite_tree):
    rel = TemplateFormatter(GRANITE_ID)._get_template(str(granite_tree), "Widget.jinja2")
    assert "\\" not in rel
    assert granite_tree.joinpath(*rel.split("/")).is_file()


def test_missing_root_gives_no_template(tmp_path):
    assert TemplateFormatter(GRANITE_ID)._get_template(str(tmp_path / "nope"), "X.jinja2") == ""


def test_model_identifier_uses_its_first_non_empty_name(granite_tree, widget):
    mid = ModelIdentifier(hf_model_name="", ollama_name="granite3.3:8b")
    f = TemplateFormatter(mid, template_path=str(granite_tree))
    assert f._get_model_id() == "granite3.3:8b"
    assert f.print(widget("x")) == "granite3.3 x"


def test_model_identifier_without_names_uses_the_defaults(granite_tree, widget):
    f = TemplateFormatter(ModelIdentifier(), template_path=str(granite_tree))
    assert f._get_model_id() == ""
    assert f.print(widget("x")) == "default x"


def test_simplify_model_string_lowercases_and_drops_special_characters():
    assert _simplify_model_string("IBM-Granite/Granite-3.3_8B:latest") == "ibmgranitegranite338blatest"
    assert _simplify_model_string("a b,c.d") == "abcd"


def test_get_package_name_gives_the_top_level_package_or_empty():
    assert _get_package_name("gencomp.components") == "gencomp"
    assert _get_package_name("gencomp_template_formatter.formatter") == "gencomp_template_formatter"
    assert _get_package_name("no_such_package_zz9.mod") == ""


def test_star_and_missing_order_mean_the_class_name(tmp_path, write_template, widget):
    root = tmp_path / "tree"
    write_template(root, "prompts/default/Widget.jinja2", "widget")
    write_template(root, "prompts/default/Other.jinja2", "other")
    f = TemplateFormatter("m", template_path=str(root))
    assert f.print(widget("x", order=None)) == "widget"
    assert f.print(widget("x", order=["*"])) == "widget"
    assert f.print(widget("x", order=["Other", "*"])) == "other"
    assert f.print(widget("x", order=["Missing", "Other.jinja2"])) == "other"


def test_earlier_name_in_template_order_wins_over_a_more_specific_later_name(tmp_path, write_template, widget):
    root = tmp_path / "tree"
    write_template(root, "prompts/default/First.jinja2", "first")
    write_template(root, "prompts/granite/Second.jinja2", "second")
    assert TemplateFormatter(GRANITE_ID, template_path=str(root)).print(widget("x", ["First", "Second"])) == "first"


def test_template_path_is_preferred_even_over_a_more_specific_match(tmp_path, write_template, component_package):
    root = tmp_path / "user"
    write_template(root, "prompts/default/Widget.jinja2", "user widget: {{ text }}")
    f = TemplateFormatter(GRANITE_ID, template_path=str(root))
    assert f.print(component_package.Widget("hi")) == "user widget: hi"


def test_third_party_component_renders_with_its_package_templates(component_package):
    assert TemplateFormatter("fake-model").print(component_package.Widget("hi")) == "ACME widget: hi"
    assert TemplateFormatter(GRANITE_ID).print(component_package.Widget("hi")) == "ACME granite widget: hi"


def test_third_party_component_falls_back_to_the_defaults_for_names_its_package_lacks(component_package):
    f = TemplateFormatter("fake-model")
    assert f.print(component_package.Note("just the note")) == "just the note"
    inst = component_package.AcmeInstruction("Do it.", requirements=["Be brief."])
    assert f.print(inst) == f.print(Instruction("Do it.", requirements=["Be brief."]))
    result = f.find_template(["Message"], type(component_package.Note("x")))
    assert result.root is not None and result.root.source == "defaults"
    assert result.roots[0].source == f"package {component_package.__name__}"


def test_hook_folders_come_after_the_package_and_before_the_defaults(
    tmp_path, write_template, component_package, register_dirs_plugin
):
    hook_root = tmp_path / "hook"
    write_template(hook_root, "prompts/default/Widget.jinja2", "hook widget")
    write_template(hook_root, "prompts/default/Message.jinja2", "hook message: {{ content }}")
    register_dirs_plugin([hook_root])
    f = TemplateFormatter("fake-model")
    assert f.print(component_package.Widget("hi")) == "ACME widget: hi"
    assert f.print(component_package.Note("n")) == "hook message: n"
    assert f.print(Message("user", "m")) == "hook message: m"
    sources = [r.source for r in f.template_roots(type(component_package.Note("x")))]
    assert sources == [f"package {component_package.__name__}", "plugin test-template-dirs", "defaults"]


def test_hook_folders_from_several_plugins_are_all_searched(tmp_path, write_template, register_dirs_plugin):
    a, b = tmp_path / "a", tmp_path / "b"
    write_template(a, "prompts/default/OnlyA.jinja2", "from a")
    write_template(b, "prompts/default/OnlyB.jinja2", "from b")
    register_dirs_plugin([a], name="dirs-a")
    register_dirs_plugin([b], name="dirs-b")
    f = TemplateFormatter("m")
    assert f.find_template(["OnlyA"]).path == a / "prompts" / "default" / "OnlyA.jinja2"
    assert f.find_template(["OnlyB"]).path == b / "prompts" / "default" / "OnlyB.jinja2"


def test_defaults_root_is_searched_last_and_ships_every_core_template():
    f = TemplateFormatter("fake-model")
    roots = f.template_roots(None)
    assert roots[-1].source == "defaults" and roots[-1].path == DEFAULT_TEMPLATES
    for name in ("Instruction", "Requirement", "Message", "ToolMessage", "CBlock", "Query", "Transform"):
        result = f.find_template([name])
        assert result.path == DEFAULT_TEMPLATES / "prompts" / "default" / f"{name}.jinja2", name


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        (GRANITE_ID, Path("prompts/granite/granite3/Requirement.jinja2")),
        ("ibm-granite/granite-3.1-2b", Path("prompts/granite/granite3/Requirement.jinja2")),
        ("granite-guardian", Path("prompts/default/Requirement.jinja2")),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", Path("prompts/default/Requirement.jinja2")),
    ],
)
def test_shipped_granite_overrides_resolve_by_model_family(model_id, expected):
    result = TemplateFormatter(model_id).find_template(["Requirement"])
    assert result.path == DEFAULT_TEMPLATES / expected
