"""The hook contracts stay documented and exercised (as datasette checks its plugin hooks)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gencomp import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name, f in vars(hookspecs).items() if name.startswith("gencomp_") and callable(f))


def _signature(name: str) -> str:
    params = inspect.signature(getattr(hookspecs, name)).parameters
    return f"{name}({', '.join(params)})"


def test_there_are_hooks_to_check() -> None:
    assert len(HOOKS) >= 15 and "gencomp_check_requirements" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_contributings_hook_table_with_its_signature(hook: str) -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert any(f"`{_signature(hook)}`" in row for row in rows), _signature(hook)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_documents_its_parameters_kind_caller_and_in_tree_implementers(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    for param in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert re.search(rf"(:param {param}:|``{param}``)", doc), (hook, param)
    assert ":returns:" in doc and "Kind:" in doc and "Called by:" in doc and "In-tree:" in doc
    first = "first result" in doc.split("Kind:")[1].split(".")[0]
    assert first == bool(getattr(hookspecs, hook).gencomp_spec["firstresult"])


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_at_least_one_test_plugin(hook: str) -> None:
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py")]
    assert any(re.search(rf"def {hook}\(", s) for s in sources), f"no test implements {hook}"
