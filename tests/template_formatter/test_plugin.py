"""The plugin: registration through core hooks, and a light entry-point module."""

from __future__ import annotations

import subprocess
import sys

from gencomp import Formatter, default_formatter, plugins
from gencomp_template_formatter import TemplateFormatter
from gencomp_template_formatter import plugin as plugin_module


def test_entry_point_module_does_not_import_jinja2():
    code = (
        "import sys, gencomp_template_formatter.plugin, gencomp_template_formatter; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'torch', 'transformers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugin_is_discovered_through_its_entry_point():
    record = next(r for r in plugins.plugin_records() if r.name == "template_formatter")
    assert record.status == "loaded", record.error
    assert {"gencomp_default_formatter", "gencomp_register_formatters", "gencomp_register_commands"} <= set(
        record.hooks
    )


def test_default_formatter_is_a_template_formatter_for_the_model():
    f = default_formatter("ibm-granite/granite-3.3-8b-instruct")
    assert isinstance(f, TemplateFormatter) and isinstance(f, Formatter)
    assert f._get_model_id() == "ibm-granite/granite-3.3-8b-instruct"
    assert isinstance(plugin_module.gencomp_default_formatter(model_id="m"), TemplateFormatter)


def test_template_formatter_is_registered_by_name(tmp_path):
    spec = plugins.registry().formatters["template"]
    assert spec.plugin == "template_formatter"
    f = spec.factory("m", template_path=str(tmp_path), use_template_cache=False)
    assert isinstance(f, TemplateFormatter)
    assert f._template_path == str(tmp_path) and f._use_template_cache is False


def test_constructor_takes_the_documented_positional_arguments(tmp_path):
    f = TemplateFormatter("m", str(tmp_path), False)
    assert (f.model_id, f._template_path, f._use_template_cache) == ("m", str(tmp_path), False)
