"""Misbehaving plugins, really installed, are isolated: the CLI, the registry and other plugins go on."""

from __future__ import annotations

import json

import pytest

from gencomp import BackendConflictError, GencompError, PluginLoadError, hookimpl, plugins
from gencomp.backend import make_formatter
from gencomp.cli import main
from gencomp.formatter import PlainFormatter


def records() -> dict[str, plugins.PluginRecord]:
    return {r.name: r for r in plugins.plugin_records()}


def test_a_plugin_whose_commands_raise_or_reuse_a_name_leaves_the_cli_working(install, capsys) -> None:
    install("gencomp-broken-commands", "gencomp-echo-backend")
    assert main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["broken-commands"]["status"] == "failed"
    assert "gencomp_register_commands raised ArgumentError" in listed["broken-commands"]["error"]
    assert listed["echo"]["status"] == "loaded"
    assert main(["backends"]) == 0 and "echo" in capsys.readouterr().out


def test_a_raising_registration_hook_is_reported_as_failed_not_loaded(install, capsys) -> None:
    install("gencomp-broken-registration", "gencomp-echo-backend")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "broken-registration: failed: gencomp_register_backends raised RuntimeError: license server" in out
    assert records()["broken-registration"].status == "failed" and plugins.registry().backend("echo") is not None


def test_a_raising_registration_hook_is_fatal_when_strict(install, monkeypatch) -> None:
    install("gencomp-broken-registration")
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    plugins.reset()
    with pytest.raises(PluginLoadError, match="license server unreachable"):
        plugins.registry()


class Other:
    @hookimpl
    def gencomp_register_backends(self, register):
        register("other", object, description="a third plugin's backend")


def test_a_backend_name_collision_disables_only_the_two_registrations_and_names_both(install, capsys) -> None:
    install("gencomp-echo-backend", "gencomp-impostor-backend")
    plugins.register_plugin(Other(), name="other")
    reg = plugins.registry()
    for name in ("parrot", "echo", "impostor"):
        with pytest.raises(BackendConflictError, match="'parrot' is registered by two plugins") as err:
            reg.backend(name)
        assert "'echo' (distribution gencomp-echo-backend" in str(err.value)
        assert "'impostor-backend' (distribution gencomp-impostor-backend" in str(err.value)
    assert reg.backend("bystander") is not None and reg.backend("other") is not None
    assert records()["echo"].conflicts and records()["impostor-backend"].conflicts
    assert records()["echo"].status == records()["impostor-backend"].status == "conflict"
    assert records()["other"].status == "loaded"
    assert main(["plugins"]) == 0 and "'parrot' is registered by two plugins" in capsys.readouterr().out


class SameName:
    @hookimpl
    def gencomp_register_backends(self, register):
        register("echo", object, description="a second 'echo'")

    @hookimpl
    def gencomp_register_models(self, register):
        register("echo-small", backend="echo", resolve=lambda: "/models/echo-small")


def test_backends_listing_names_the_conflict_and_marks_the_disabled_backends_models_unusable(
    install, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("GENCOMP_PLUGINS", "echo")  # no other installed backend
    install("gencomp-echo-backend")
    plugin = SameName()
    plugins.register_plugin(plugin, name="same-name")
    try:
        assert main(["backends"]) == 0
        out = capsys.readouterr().out
        assert main(["backends", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
    finally:
        plugins.unregister_plugin(plugin)
    assert "no backends installed" not in out
    assert "no usable backend: every registered backend is disabled by a conflict (below)" in out
    assert "conflict: backend name 'echo' is registered by two plugins" in out and "'same-name'" in out
    assert "echo-small  echo     same-name  NO (below)" in out
    assert listed["backends"] == [] and listed["conflicts"] and "'echo'" in listed["conflicts"][0]
    (model,) = listed["models"]
    assert model["available"] is False and "registered by two plugins" in model["unavailable_because"]


def test_a_backend_name_collision_is_fatal_when_strict(install, monkeypatch) -> None:
    install("gencomp-echo-backend", "gencomp-impostor-backend")
    monkeypatch.setenv("GENCOMP_STRICT_PLUGINS", "1")
    plugins.reset()
    with pytest.raises(BackendConflictError, match="parrot"):
        plugins.registry()


class Formatters:
    @hookimpl
    def gencomp_register_formatters(self, register):
        register("plain", lambda model_id, **kwargs: PlainFormatter(), description="no templates")
        register("not-a-formatter", lambda model_id, **kwargs: object())


def test_a_registered_formatter_is_reachable_by_name(install) -> None:
    install("gencomp-echo-backend")
    plugin = Formatters()
    plugins.register_plugin(plugin, name="formatters")
    try:
        assert isinstance(make_formatter("plain", "m"), PlainFormatter)
        with pytest.raises(GencompError, match="no formatter is registered as 'plian'.*plain"):
            make_formatter("plian", "m")
        with pytest.raises(GencompError, match="built a object, not a Formatter"):
            make_formatter("not-a-formatter", "m")
    finally:
        plugins.unregister_plugin(plugin)
