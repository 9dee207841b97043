"""What importing gencomp costs, and what an isolated install really contains."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "jinja2", "peft")


def test_import_gencomp_imports_no_heavy_library():
    code = f"import sys, gencomp; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.skipif(os.environ.get("GENCOMP_TEST_ENV") != "core-only", reason="runs in the core-only venv")
def test_the_core_only_environment_really_lacks_torch_transformers_and_jinja2():
    assert [m for m in HEAVY if importlib.util.find_spec(m) is not None] == []
    import gencomp

    assert "site-packages" in gencomp.__file__  # the installed wheel, not the source tree


def test_import_gencomp_leaves_config_and_discovery_libraries_for_when_they_are_needed():
    """pydantic (config files), importlib_metadata and packaging (discovery) load on first use, not at import."""
    lazy = ("pydantic", "importlib_metadata", "packaging")
    code = (
        f"import sys, gencomp; before = [m for m in {lazy!r} if m in sys.modules]; "
        "gencomp.plugins.registry(); gencomp.make_backend; "
        f"print(before, sorted(m for m in {lazy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] ['importlib_metadata', 'packaging', 'pydantic']"


def test_import_gencomp_leaves_asyncio_to_async_callers():
    """asyncio (about a third of ``import gencomp``'s time) loads when a program uses the async API, not before."""
    code = (
        "import sys, gencomp; before = 'asyncio' in sys.modules; "
        "import asyncio; from gencomp import Session; from gencomp.streaming import run_sync; "
        "print(before, run_sync(lambda: asyncio.sleep(0, 'ran')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False ran"
