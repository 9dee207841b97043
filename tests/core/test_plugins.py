"""Discovery of plugin distributions through entry points, isolation of broken ones, and the registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gencomp import Backend, BackendConflictError, PluginLoadError, hookimpl, plugins, start_session
from gencomp.cli import main


def records() -> dict[str, plugins.PluginRecord]:
    return {r.name: r for r in plugins.plugin_records()}


def test_an_installed_distribution_is_discovered_with_its_version_and_hooks(install):
    install("gencomp-echo-backend")
    rec = records()["echo"]
    assert (rec.distribution, rec.version, rec.status) == ("gencomp-echo-backend", "0.3.0", "loaded")
    assert rec.hooks == ["gencomp_register_backends"]


def test_a_backend_from_a_separate_distribution_is_selectable_by_name_and_alias(install):
    install("gencomp-echo-backend")
    for name in ("echo", "parrot"):
        session = start_session(backend=name, script=["Paris."])
        assert isinstance(session.backend, Backend)
        assert type(session.backend).__module__ == "gencomp_echo_backend"
        assert session.instruct("Capital of France?").value == "Paris."


def test_a_broken_plugin_is_recorded_and_the_others_keep_working(install):
    install("gencomp-echo-backend", "gencomp-broken-plugin")
    rec = records()["broken"]
    assert rec.status == "failed"
    assert (rec.distribution, rec.version) == ("gencomp-broken-plugin", "0.0.1")
    assert "ImportError" in rec.error and "not_installed_anywhere" in rec.error
    assert "echo" in plugins.registry().backends


def test_strict_mode_turns_a_broken_plugin_into_an_error(install, monkeypatch):
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    install("gencomp-broken-plugin")
    with pytest.raises(PluginLoadError, match="broken.*gencomp-broken-plugin 0.0.1.*not_installed_anywhere"):
        plugins.get_plugin_manager()


def test_the_allowlist_applies_before_any_plugin_module_is_imported(install, monkeypatch):
    install("gencomp-echo-backend", "gencomp-future-plugin", "gencomp-broken-plugin")
    monkeypatch.setenv("GENCOMP_PLUGINS", "echo")
    recs = records()
    assert recs["echo"].status == "loaded"
    assert recs["broken"].status == recs["future"].status == "disabled"
    assert "gencomp_future_plugin" not in sys.modules


def test_an_empty_allowlist_loads_no_plugin(install, monkeypatch):
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_PLUGINS", "")
    assert {r.status for r in plugins.plugin_records()} == {"disabled"}
    assert plugins.registry().backends == {}


def test_the_blocklist_disables_a_plugin(install, monkeypatch):
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_DISABLE_PLUGINS", "echo, other")
    assert records()["echo"].status == "disabled"
    assert "echo" not in plugins.registry().backends


def test_a_plugin_for_another_core_version_is_listed_as_incompatible_unimported_with_a_clear_message(install):
    install("gencomp-future-plugin")
    rec = records()["future"]
    assert rec.status == "incompatible"
    assert "requires gencomp>=99" in rec.error and "is installed" in rec.error
    assert "gencomp_future_plugin" not in sys.modules


def test_strict_mode_refuses_an_incompatible_plugin_as_its_rule_says(install, monkeypatch):
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    install("gencomp-future-plugin")
    with pytest.raises(PluginLoadError, match=r"'future' \(gencomp-future-plugin 9.0.0\) requires gencomp>=99"):
        plugins.get_plugin_manager()
    assert "gencomp_future_plugin" not in sys.modules


def test_a_hook_implementation_without_hookimpl_is_listed_as_unmarked_with_the_fix(install, capsys):
    install("gencomp-unmarked-plugin", "gencomp-echo-backend")
    rec = records()["unmarked"]
    assert rec.status == "unmarked" and rec.hooks == ["gencomp_template_dirs"]
    assert "gencomp_register_backends is not marked with @hookimpl, so gencomp never calls it" in rec.error
    assert "gencomp_register_model is not marked with @hookimpl and is no gencomp hook" in rec.error
    assert "did you mean gencomp_register_models?" in rec.error and "helper_of_its_own" not in rec.error
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "unmarked: unmarked: gencomp_register_backends is not marked with @hookimpl" in out
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "echo" in out and "unmarked: unmarked" in out and "`gencomp plugins`" in out


def test_strict_mode_refuses_an_unmarked_hook_implementation(install, monkeypatch):
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    install("gencomp-unmarked-plugin")
    with pytest.raises(PluginLoadError, match="has unmarked hook implementations: gencomp_register_backends"):
        plugins.get_plugin_manager()


def test_strict_mode_refuses_an_allowlisted_plugin_that_is_not_installed(install, monkeypatch):
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    monkeypatch.setenv("GENCOMP_PLUGINS", "echo,ecko")
    install("gencomp-echo-backend")
    with pytest.raises(PluginLoadError, match="'ecko' is missing: GENCOMP_PLUGINS names 'ecko'"):
        plugins.get_plugin_manager()


def test_two_plugins_registering_one_backend_name_is_an_error_naming_both(install):
    install("gencomp-echo-backend")

    class Impostor:
        @hookimpl
        def gencomp_register_backends(self, register):
            register("parrot", object)

    plugins.register_plugin(Impostor(), name="impostor")
    with pytest.raises(BackendConflictError, match="'parrot' is registered by two plugins") as err:
        plugins.registry().backend("parrot")
    assert "'echo' (distribution gencomp-echo-backend 0.3.0)" in str(err.value) and "'impostor'" in str(err.value)


def test_a_plugin_implementing_an_unknown_hook_is_rejected_with_the_hook_name():
    class Typo:
        @hookimpl
        def gencomp_register_backend(self, register):  # missing "s"
            pass

    with pytest.raises(PluginLoadError, match="gencomp_register_backend"):
        plugins.register_plugin(Typo(), name="typo")
    assert "typo" not in records()


def test_a_failing_registration_hook_is_recorded_against_its_plugin(install, monkeypatch):
    install("gencomp-echo-backend")
    import gencomp_echo_backend

    def explode(register):
        raise RuntimeError("registry service down")

    monkeypatch.setattr(gencomp_echo_backend, "gencomp_register_backends", hookimpl(explode))
    plugins.reset()
    assert plugins.registry().backends.get("echo") is None
    assert "registry service down" in records()["echo"].error


def test_an_in_process_plugin_can_take_over_generation_and_observers_see_it(install):
    install("gencomp-echo-backend")
    seen = []

    class Router:
        @hookimpl
        def gencomp_generate(self, backend, action, generate_logs):
            from gencomp import GenerateLog, ModelOutputThunk

            out = ModelOutputThunk("routed")
            generate_logs.append(GenerateLog(prompt="-", backend="router", result=out))
            return out

        @hookimpl
        def gencomp_after_generate(self, result, log):
            seen.append((result.value, log.backend))

    router = Router()
    plugins.register_plugin(router, name="router")
    try:
        session = start_session("echo", script=["never used"])
        assert session.instruct("hi").value == "routed"
        assert seen == [("routed", "router")]
        assert session.backend.prompts == []
    finally:
        plugins.unregister_plugin(router)


def test_tracing_prints_hook_calls(install, monkeypatch, capsys):
    monkeypatch.setenv("GENCOMP_TRACE_PLUGINS", "1")
    install("gencomp-echo-backend")
    plugins.registry()
    plugins.hook().gencomp_make_cache(backend=None)
    assert "gencomp_make_cache" in capsys.readouterr().err


def test_cli_plugins_json_lists_plugins_with_versions_and_errors(install, capsys):
    install("gencomp-echo-backend", "gencomp-broken-plugin")
    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["echo"]["version"] == "0.3.0" and listed["echo"]["error"] is None
    assert listed["broken"]["status"] == "failed" and "not_installed_anywhere" in listed["broken"]["error"]


def test_cli_plugins_table_shows_the_error_and_strict_mode_fails_with_it(install, monkeypatch, capsys):
    install("gencomp-broken-plugin")
    assert main(["plugins"]) == 0
    assert "broken: failed: ImportError" in capsys.readouterr().out
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    plugins.reset()
    assert main(["plugins"]) == 2
    assert "not_installed_anywhere" in capsys.readouterr().err


def test_discovery_and_plugin_listing_do_not_import_heavy_libraries(example_plugin_dirs):
    code = (
        "import sys, json; from gencomp.cli import main; import gencomp.plugins as p; p.registry();"
        "main(['plugins', '--json']);"
        "heavy = [m for m in ('torch', 'transformers', 'jinja2', 'peft') if m in sys.modules];"
        "print('HEAVY', heavy)"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(d) for d in example_plugin_dirs.values()))
    env.pop("GENCOMP_PLUGINS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    listed = json.loads(out[: out.rindex("HEAVY")])
    assert {"echo", "broken"} <= {p["name"] for p in listed}
    assert out.strip().endswith("HEAVY []")
