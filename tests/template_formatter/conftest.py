"""Fixtures for the template formatter tests: template trees, a third-party component package, a dirs plugin."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gencomp import TemplateRepresentation, hookimpl, plugins

GRANITE_ID = "ibm-granite/granite-3.3-8b-instruct"


def write(root: Path, rel: str, text: str) -> Path:
    """Write ``text`` to ``root/rel`` (creating folders); returns the path."""
    path = root.joinpath(*rel.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def write_template() -> Callable[[Path, str, str], Path]:
    """``write_template(root, "prompts/default/X.jinja2", text)``."""
    return write


@pytest.fixture
def granite_tree(tmp_path: Path) -> Path:
    """A root with ``Widget.jinja2`` in ``prompts/default``, ``prompts/granite`` and ``prompts/granite/granite3.3``."""
    root = tmp_path / "granite_tree"
    write(root, "prompts/default/Widget.jinja2", "default {{ text }}")
    write(root, "prompts/granite/Widget.jinja2", "granite {{ text }}")
    write(root, "prompts/granite/granite3.3/Widget.jinja2", "granite3.3 {{ text }}")
    return root


@pytest.fixture
def component_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[ModuleType]:
    """A third-party package with its own components and a ``templates/prompts/default`` folder.

    ``Widget`` has a template in the package; ``Note`` (order ``*``, ``Message``) and
    ``AcmeInstruction`` (an ``Instruction`` subclass) have none there and fall back to the defaults.
    """
    name = f"acme_components_{abs(hash(request.node.nodeid)) % 10**8}"
    site = tmp_path / "site"
    pkg = site / name
    write(
        pkg,
        "__init__.py",
        textwrap.dedent(
            """
            from gencomp import Instruction, TemplateRepresentation


            class Widget:
                def __init__(self, text):
                    self.text = text

                def parts(self):
                    return []

                def format_for_llm(self):
                    return TemplateRepresentation(obj=self, args={"text": self.text}, template_order=["*"])


            class Note:
                def __init__(self, text):
                    self.text = text

                def parts(self):
                    return []

                def format_for_llm(self):
                    return TemplateRepresentation(
                        obj=self, args={"content": self.text, "role": "user"}, template_order=["*", "Message"]
                    )


            class AcmeInstruction(Instruction):
                pass
            """
        ),
    )
    write(pkg, "templates/prompts/default/Widget.jinja2", "ACME widget: {{ text }}")
    write(pkg, "templates/prompts/granite/Widget.jinja2", "ACME granite widget: {{ text }}")
    monkeypatch.syspath_prepend(str(site))
    module = importlib.import_module(name)
    yield module
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


class Widget:
    """A minimal component rendered with ``Widget.jinja2``."""

    def __init__(self, text: str, order: list[str] | None = None) -> None:
        self.text = text
        self.order = order

    def parts(self) -> list[Any]:
        return []

    def format_for_llm(self) -> TemplateRepresentation:
        return TemplateRepresentation(obj=self, args={"text": self.text}, template_order=self.order)


@pytest.fixture
def widget() -> type[Widget]:
    """The ``Widget`` component class (defined here, outside any package with templates)."""
    return Widget


class TemplateDirsPlugin:
    """An in-process plugin contributing template folders through ``gencomp_template_dirs``."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs
        self.calls = 0

    @hookimpl
    def gencomp_template_dirs(self) -> list[str]:
        self.calls += 1
        return [str(d) for d in self.dirs]


@pytest.fixture
def register_dirs_plugin() -> Iterator[Callable[..., Any]]:
    """``register_dirs_plugin(dirs, name=...)`` registers a ``TemplateDirsPlugin``; all are unregistered after."""
    names: list[str] = []

    def register(dirs: list[Path], name: str = "test-template-dirs") -> TemplateDirsPlugin:
        plugin = TemplateDirsPlugin(dirs)
        names.append(plugins.register_plugin(plugin, name=name))
        return plugin

    yield register
    for n in names:
        plugins.unregister_plugin(name=n)
