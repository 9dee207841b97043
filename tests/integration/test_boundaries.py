"""The seams between distributions, read from the sources with ``ast``.

No distribution reads another's underscore-prefixed names; the HF backend knows nothing of aLoRA and
imports no higher plugin. The seed's own underscore names (``_generate_from_raw``...) are public API.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "gencomp": ROOT / "core/src/gencomp",
    "gencomp_template_formatter": ROOT / "plugins/template_formatter/src/gencomp_template_formatter",
    "gencomp_hf_backend": ROOT / "plugins/hf_backend/src/gencomp_hf_backend",
    "gencomp_alora": ROOT / "plugins/alora/src/gencomp_alora",
    "gencomp_otel": ROOT / "plugins/otel/src/gencomp_otel",
}
SEED_NAMES = {
    "_generate_from_raw",
    "_generate_from_context",
    "_simplify_and_merge",
    "_make_backend_specific_and_remove",
    "_extract_model_tool_requests",
    "_simplify_model_string",
    "_get_package_name",
}
"""Underscore names the seeds document as the interface (kept as aliases of the public names)."""


def _trees(package: str) -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGES[package].rglob("*.py"))]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in SEED_NAMES


def _defined(package: str) -> set[str]:
    """Underscore names a distribution defines: functions, classes, attributes it assigns."""
    names: set[str] = set()
    for _, tree in _trees(package):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {n for n in names if _private(n)}


def _reads(package: str) -> list[tuple[str, int, str]]:
    """``(file, line, name)`` of underscore names read from other objects or imported from other packages."""
    found = []
    for path, tree in _trees(package):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    found.append((path.name, node.lineno, node.attr))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith(package):
                found += [(path.name, node.lineno, a.name) for a in node.names if _private(a.name)]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr")
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
            ):
                found.append((path.name, node.lineno, node.args[1].value))
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_distribution_reads_another_distributions_private_names(package: str) -> None:
    own = _defined(package)
    others = set().union(*(_defined(p) for p in PACKAGES if p != package)) - own
    crossing = [(f, line, name) for f, line, name in _reads(package) if name in others]
    assert crossing == []


def test_the_scan_sees_a_private_read_across_distributions() -> None:
    """The scan is not vacuous: the HF backend's private names are known and a read of one is found."""
    assert {"_guards", "_index", "_grammars"} <= _defined("gencomp_hf_backend")
    tree = ast.parse("def f(backend):\n    return backend._guards\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.Attribute))
    assert _private(node.attr) and node.attr in _defined("gencomp_hf_backend")


def test_the_hf_backend_mentions_no_alora_and_imports_no_higher_plugin() -> None:
    """Only the seed's name of the cache entry (``HFAloraCacheInfo``, an alias) contains the word."""
    for path in PACKAGES["gencomp_hf_backend"].rglob("*"):
        if path.suffix not in (".py", ".md", ".toml", ".txt"):
            continue
        text = path.read_text(encoding="utf-8").replace("HFAloraCacheInfo", "")
        assert not re.search("alora", text, re.IGNORECASE), path
    for _, tree in _trees("gencomp_hf_backend"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.startswith(("gencomp_alora", "gencomp_template_formatter")) for m in modules)
