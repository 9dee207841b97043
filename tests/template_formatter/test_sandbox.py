"""Sandboxing: inline and file templates cannot reach Python internals nor mutate their arguments."""

from __future__ import annotations

import pytest

from gencomp import TemplateRepresentation
from gencomp_template_formatter import TemplateError, TemplateFormatter

MALICIOUS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ text.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ (text|attr('__class__')).__mro__ }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{{ c }}{% endfor %}",
]


class Holder:
    def __init__(self, template: str, items: list[int]) -> None:
        self.template = template
        self.items = items

    def parts(self) -> list:
        return []

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(obj=self, args={"text": "x", "items": self.items}, template=self.template)


@pytest.mark.parametrize("source", MALICIOUS)
def test_malicious_inline_template_cannot_read_python_internals(source):
    try:
        out = TemplateFormatter("m").print(Holder(source, [1]))
    except TemplateError as exc:
        assert "unsafe" in str(exc) or "undefined" in str(exc)
    else:
        assert "class" not in out and "object" not in out and "module" not in out


def test_unsafe_attribute_access_raises_a_clear_error():
    with pytest.raises(TemplateError, match=r"Holder.*inline template.*SecurityError.*__class__.*unsafe"):
        TemplateFormatter("m").print(Holder("{{ ''.__class__.__mro__ }}", [1]))


def test_inline_template_cannot_mutate_its_arguments():
    items = [1, 2]
    with pytest.raises(TemplateError, match="append"):
        TemplateFormatter("m").print(Holder("{{ items.append(3) }}", items))
    assert items == [1, 2]


def test_file_templates_are_sandboxed_too(tmp_path, write_template, widget):
    write_template(tmp_path, "prompts/default/Widget.jinja2", "{{ text.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match="unsafe"):
        TemplateFormatter("m", template_path=str(tmp_path)).print(widget("x"))


def test_safe_inline_features_still_work():
    src = "{% for i in items %}{{ loop.index }}:{{ i }}{{ ',' if not loop.last }}{% endfor %} {{ text|upper }}"
    assert TemplateFormatter("m").print(Holder(src, [5, 6])) == "1:5,2:6 X"
