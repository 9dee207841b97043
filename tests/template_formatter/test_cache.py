"""The template cache: its key covers everything that changes the answer; a hit does no lookup."""

from __future__ import annotations

import os

from gencomp import Message, hookimpl, plugins
from gencomp_template_formatter import TemplateFormatter
from gencomp_template_formatter import formatter as formatter_module

GRANITE_ID = "ibm-granite/granite-3.3-8b-instruct"


def test_changing_template_path_changes_the_answer(tmp_path, write_template, granite_tree, widget):
    other = tmp_path / "other"
    write_template(other, "prompts/default/Widget.jinja2", "other {{ text }}")
    f = TemplateFormatter("fake-model", template_path=str(granite_tree))
    assert f.print(widget("x")) == "default x"
    f._template_path = str(other)
    assert f.print(widget("x")) == "other x"


def test_changing_the_model_id_changes_the_answer(granite_tree, widget):
    f = TemplateFormatter("fake-model", template_path=str(granite_tree))
    assert f.print(widget("x")) == "default x"
    f.model_id = GRANITE_ID
    assert f.print(widget("x")) == "granite3.3 x"
    f.model_id = "granite-8b"
    assert f.print(widget("x")) == "granite x"


def test_changing_the_template_order_changes_the_answer(tmp_path, write_template, widget):
    write_template(tmp_path, "prompts/default/Widget.jinja2", "widget")
    write_template(tmp_path, "prompts/default/Other.jinja2", "other")
    f = TemplateFormatter("m", template_path=str(tmp_path))
    assert f.print(widget("x", ["*"])) == "widget"
    assert f.print(widget("x", ["Other", "*"])) == "other"
    assert f.print(widget("x", ["*"])) == "widget"


def test_classes_with_the_same_name_get_their_own_templates(
    tmp_path, write_template, component_package, widget, register_dirs_plugin
):
    write_template(tmp_path, "prompts/default/Widget.jinja2", "hook widget {{ text }}")
    register_dirs_plugin([tmp_path])
    f = TemplateFormatter("fake-model")
    assert type(component_package.Widget("a")).__name__ == widget.__name__ == "Widget"
    assert f.print(component_package.Widget("a")) == "ACME widget: a"
    assert f.print(widget("b")) == "hook widget b"
    assert f.print(component_package.Widget("c")) == "ACME widget: c"


def test_a_cache_hit_does_not_walk_the_file_system(granite_tree, widget, monkeypatch):
    f = TemplateFormatter(GRANITE_ID, template_path=str(granite_tree))
    assert f.print(widget("x")) == "granite3.3 x"

    def no_walk(*args, **kwargs):
        raise AssertionError("the folder tree was walked on a cache hit")

    monkeypatch.setattr(formatter_module, "_walk", no_walk)
    assert f.print(widget("y")) == "granite3.3 y"


def test_without_the_cache_every_print_looks_up_and_sees_file_changes(tmp_path, write_template, widget):
    path = write_template(tmp_path, "prompts/default/Widget.jinja2", "first")
    cached = TemplateFormatter("m", template_path=str(tmp_path))
    uncached = TemplateFormatter("m", template_path=str(tmp_path), use_template_cache=False)
    assert cached.print(widget("x")) == uncached.print(widget("x")) == "first"
    path.write_text("second", encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert uncached.print(widget("x")) == "second"
    assert cached.print(widget("x")) == "first"
    write_template(tmp_path, "prompts/m/Widget.jinja2", "model folder")
    assert uncached.print(widget("x")) == "model folder"
    assert not uncached._template_cache


def test_registering_a_template_dirs_plugin_invalidates_cached_lookups(tmp_path, write_template, register_dirs_plugin):
    write_template(tmp_path, "prompts/default/Message.jinja2", "override {{ content }}")
    f = TemplateFormatter("fake-model")
    assert f.print(Message("user", "hi")) == "hi"
    plugin = register_dirs_plugin([tmp_path])
    assert f.print(Message("user", "hi")) == "override hi"
    calls = plugin.calls
    f.print(Message("user", "again"))
    assert plugin.calls == calls, "a cache hit must not ask the hook again"


def test_unregistering_a_template_dirs_plugin_restores_the_defaults(tmp_path, write_template):
    write_template(tmp_path, "prompts/default/Message.jinja2", "override {{ content }}")

    class Dirs:
        @hookimpl
        def gencomp_template_dirs(self):
            return str(tmp_path)

    f = TemplateFormatter("fake-model")
    name = plugins.register_plugin(Dirs(), name="test-unregister-dirs")
    try:
        assert f.print(Message("user", "hi")) == "override hi"
    finally:
        plugins.unregister_plugin(name=name)
    assert f.print(Message("user", "hi")) == "hi"


def test_a_cache_hit_returns_the_same_compiled_template(widget, granite_tree):
    f = TemplateFormatter(GRANITE_ID, template_path=str(granite_tree))
    rep = widget("x").format_for_llm()
    assert f._load_template(rep) is f._load_template(widget("y").format_for_llm())
    uncached = TemplateFormatter(GRANITE_ID, template_path=str(granite_tree), use_template_cache=False)
    assert uncached.print(widget("x")) == f.print(widget("x"))


def test_the_cache_stays_bounded(tmp_path, write_template, widget, monkeypatch):
    monkeypatch.setattr(formatter_module, "_CACHE_SIZE", 3)
    write_template(tmp_path, "prompts/default/Widget.jinja2", "{{ text }}")
    f = TemplateFormatter("m", template_path=str(tmp_path))
    for i in range(10):
        f.model_id = f"model-{i}"
        assert f.print(widget(str(i))) == str(i)
    assert len(f._template_cache) == 3
