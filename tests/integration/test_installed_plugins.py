"""The real plugin distributions, installed in this environment, are found through their entry points."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

EXPECTED = {
    "template_formatter": "gencomp-template-formatter",
    "hf_backend": "gencomp-hf-backend",
    "alora": "gencomp-alora",
    "otel": "gencomp-otel",
}


def test_every_plugin_distribution_is_discovered_and_listed_without_importing_torch():
    code = (
        "import sys; from gencomp.cli import main; main(['plugins', '--json']);"
        "print('HEAVY', [m for m in ('torch', 'transformers', 'jinja2', 'peft') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    listing, heavy = out.rsplit("HEAVY", 1)
    found = {p["name"]: p for p in json.loads(listing)}
    for name, dist in EXPECTED.items():
        assert found[name]["distribution"] == dist
        assert found[name]["status"] == "loaded", found[name]["error"]
        assert found[name]["version"] == "0.1.0"
        assert found[name]["hooks"]
    assert heavy.strip() == "[]"


def test_the_hf_backend_is_registered_under_its_name_and_alias_with_a_default_model():
    from gencomp import plugins

    plugins.reset()
    reg = plugins.registry()
    spec = reg.backend("huggingface")
    assert spec is not None and spec.name == "hf" and spec.plugin == "hf_backend"
    assert spec.default_model is not None and reg.model(spec.default_model) is not None


@pytest.mark.parametrize(
    ("distribution", "package"),
    [
        ("gencomp", "gencomp"),
        ("gencomp-template-formatter", "gencomp_template_formatter"),
        ("gencomp-hf-backend", "gencomp_hf_backend"),
        ("gencomp-alora", "gencomp_alora"),
        ("gencomp-otel", "gencomp_otel"),
    ],
)
def test_each_distribution_declares_python_3_11_and_takes_its_version_from_its_package(distribution, package):
    import importlib
    import importlib.metadata

    meta = importlib.metadata.metadata(distribution)
    assert meta["Requires-Python"] == ">=3.11"  # tomllib and datetime.UTC are 3.11's
    assert meta["Version"] == importlib.import_module(package).__version__
