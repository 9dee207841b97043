"""Errors say what was wrong and what to do: missing templates, syntax errors, failing plugins."""

from __future__ import annotations

import pytest

from gencomp import GencompError, TemplateNotFoundError, TemplateRepresentation, hookimpl, plugins
from gencomp_template_formatter import TemplateFormatter, TemplateSyntaxError
from gencomp_template_formatter.formatter import DEFAULT_TEMPLATES


class Gizmo:
    def parts(self):
        return []

    def format_for_llm(self):
        return TemplateRepresentation(obj=self, args={}, template_order=["*", "Thing"])


def test_missing_template_names_the_component_the_names_tried_and_every_folder(
    tmp_path, write_template, register_dirs_plugin
):
    user = tmp_path / "user"
    write_template(user, "prompts/default/Unrelated.jinja2", "x")
    hook_root = tmp_path / "hook"
    hook_root.mkdir()
    register_dirs_plugin([hook_root, tmp_path / "missing"])
    f = TemplateFormatter("fake-model", template_path=str(user))
    with pytest.raises(TemplateNotFoundError) as info:
        f.print(Gizmo())
    msg = str(info.value)
    assert "Gizmo" in msg and "Gizmo.jinja2" in msg and "Thing.jinja2" in msg and "fake-model" in msg
    for folder in (user, user / "prompts", user / "prompts" / "default", hook_root, tmp_path / "missing"):
        assert str(folder) in msg, folder
    assert str(DEFAULT_TEMPLATES / "prompts" / "default") in msg
    assert "missing" in msg and "template_path" in msg
    assert isinstance(info.value, GencompError) and isinstance(info.value, LookupError)


def test_a_missing_template_is_caught_by_code_that_catches_value_error():
    with pytest.raises(ValueError, match="Gizmo"):
        TemplateFormatter("fake-model").print(Gizmo())


def test_syntax_error_in_a_template_file_names_the_file_and_line(tmp_path, write_template, widget):
    path = write_template(tmp_path, "prompts/default/Widget.jinja2", "line one\n{% if %}\n")
    with pytest.raises(TemplateSyntaxError) as info:
        TemplateFormatter("m", template_path=str(tmp_path)).print(widget("x"))
    assert f"{path.as_posix()}:2:" in str(info.value)
    assert "Widget" in str(info.value)


def test_syntax_error_in_an_inline_template_names_the_component_and_line():
    rep = TemplateRepresentation(obj=Gizmo(), args={}, template="ok\nok\n{{ broken ")
    with pytest.raises(TemplateSyntaxError, match=r"inline template of Gizmo>:3:"):
        TemplateFormatter("m").print(rep)


def test_a_failing_template_dirs_plugin_is_named():
    class Broken:
        @hookimpl
        def gencomp_template_dirs(self):
            raise RuntimeError("boom")

    name = plugins.register_plugin(Broken(), name="broken-template-dirs")
    try:
        with pytest.raises(GencompError, match=r"'broken-template-dirs'.*gencomp_template_dirs.*boom"):
            TemplateFormatter("m").print(Gizmo())
    finally:
        plugins.unregister_plugin(name=name)


def test_model_id_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="model_id"):
        TemplateFormatter(42)  # type: ignore[arg-type]
