"""Choosing a backend at runtime: argument, environment, gencomp.toml, default; and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gencomp import (
    Backend,
    ConfigError,
    Generation,
    GenerationRequest,
    UnknownBackendError,
    hookimpl,
    plugins,
    start_session,
)
from gencomp.cli import main
from gencomp.selection import load_config


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_backend_comes_from_the_environment(install, monkeypatch):
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_BACKEND", "parrot")
    assert type(start_session(script=["x"]).backend).__name__ == "EchoBackend"


def test_gencomp_toml_in_the_working_directory_selects_backend_model_and_options(install, tmp_path):
    install("gencomp-echo-backend")
    write_config(tmp_path / "gencomp.toml", 'backend = "echo"\nmodel_id = "m1"\n[model_options]\nseed = 3\n')
    backend = start_session().backend
    assert (backend.model_id, backend.model_options) == ("m1", {"seed": 3})


def test_the_user_config_folder_is_read_when_the_working_directory_has_none(install, tmp_path):
    install("gencomp-echo-backend")
    write_config(tmp_path / "xdg-config" / "gencomp" / "gencomp.toml", 'backend = "echo"\nmodel_id = "user-level"\n')
    assert start_session().backend.model_id == "user-level"


def test_arguments_win_over_environment_and_environment_over_config(install, tmp_path, monkeypatch):
    install("gencomp-echo-backend")
    write_config(tmp_path / "gencomp.toml", 'backend = "echo"\nmodel_id = "from-config"\n')
    monkeypatch.setenv("GENCOMP_MODEL", "from-env")
    assert start_session().backend.model_id == "from-env"
    assert start_session(model_id="from-arg").backend.model_id == "from-arg"


def test_a_config_model_for_another_backend_is_not_used(install, tmp_path):
    install("gencomp-echo-backend")
    write_config(tmp_path / "gencomp.toml", 'backend = "hf"\nmodel_id = "some/hf-model"\n')
    assert start_session(backend="echo").backend.model_id == "echo"


def test_a_bad_config_key_is_named_with_its_file(tmp_path):
    path = write_config(tmp_path / "gencomp.toml", 'backend = "echo"\nmodle_id = "typo"\n')
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(path) in str(err.value) and "modle_id" in str(err.value) and "allowed keys" in str(err.value)


def test_invalid_toml_is_reported_with_its_file(tmp_path):
    write_config(tmp_path / "gencomp.toml", "backend = \n")
    with pytest.raises(ConfigError, match="gencomp.toml: not valid TOML"):
        load_config()


def test_an_import_path_in_config_is_not_imported_only_names_are_accepted(install, tmp_path):
    install("gencomp-echo-backend")
    write_config(tmp_path / "gencomp.toml", 'backend = "os:system"\n')
    with pytest.raises(UnknownBackendError, match="unknown backend 'os:system'"):
        start_session()


def test_an_unknown_backend_lists_installed_ones_and_where_a_known_one_comes_from(install, monkeypatch):
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_PLUGINS", "echo")
    with pytest.raises(UnknownBackendError) as err:
        start_session(backend="hf")
    msg = str(err.value)
    assert "Installed backends: echo (aliases: parrot)" in msg
    assert "pip install gencomp-hf-backend" in msg


def test_a_registered_model_name_resolves_and_picks_its_backend(install):
    install("gencomp-echo-backend")
    resolved = []

    class Models:
        @hookimpl
        def gencomp_register_models(self, register):
            register("tiny", backend="echo", resolve=lambda: resolved.append(1) or "/models/tiny", aliases=["t"])

    models = Models()
    plugins.register_plugin(models, name="models")
    try:
        assert resolved == []  # resolving (downloading, converting) happens only when the model is used
        assert start_session(model_id="t").backend.model_id == "/models/tiny"
    finally:
        plugins.unregister_plugin(models)


def test_a_backend_alias_keeps_the_model_the_config_gives_its_backend(install, tmp_path, monkeypatch):
    install("gencomp-echo-backend")
    write_config(tmp_path / "gencomp.toml", 'backend = "echo"\nmodel_id = "./my-model"\n')
    (tmp_path / "my-model").mkdir()
    monkeypatch.setenv("GENCOMP_BACKEND", "parrot")
    assert start_session().backend.model_id == "./my-model"
    monkeypatch.delenv("GENCOMP_BACKEND")
    assert start_session(backend="parrot").backend.model_id == "./my-model"


def test_a_gencomp_config_variable_naming_a_missing_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENCOMP_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"\$GENCOMP_CONFIG names .*nope.toml.*no such file"):
        load_config()


def test_a_config_file_that_is_not_utf8_is_named_with_its_file(tmp_path):
    path = tmp_path / "gencomp.toml"
    path.write_bytes(b'backend = "h\xe9"\n')
    with pytest.raises(ConfigError, match="gencomp.toml: not UTF-8"):
        load_config()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ('max_new_tokens = "lots"', "'max_new_tokens' must be a whole number >= 1, got 'lots'"),
        ('"@@@max_new_tokens@@@" = 0', "'@@@max_new_tokens@@@' must be at least 1"),
        ('"@@@bogus@@@" = 1', "unknown model option '@@@bogus@@@'"),
        ("temperature = -1", "'temperature' must be at least 0"),
    ],
)
def test_config_model_options_of_the_wrong_kind_are_refused_with_the_file(options, expected, tmp_path):
    write_config(tmp_path / "gencomp.toml", f"[model_options]\n{options}\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert "gencomp.toml" in str(err.value) and expected in str(err.value)


def test_an_option_the_backend_does_not_take_names_the_config_file(install, tmp_path):
    install("gencomp-echo-backend")
    path = write_config(tmp_path / "gencomp.toml", 'backend = "echo"\n[backend_options]\nscirpt = ["x"]\n')
    with pytest.raises(ConfigError) as err:
        start_session()
    msg = str(err.value)
    assert f"{path} [backend_options]" in msg and "no option 'scirpt'" in msg and "Did you mean 'script'" in msg


def test_a_mistyped_backend_suggests_the_close_name_and_says_where_it_came_from(install, monkeypatch):
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_BACKEND", "parot")
    with pytest.raises(UnknownBackendError) as err:
        start_session()
    assert "(from $GENCOMP_BACKEND)" in str(err.value) and "Did you mean 'parrot'" in str(err.value)


def test_a_mistyped_model_name_suggests_the_registered_one(install, tmp_path):
    install("gencomp-echo-backend")
    write_config(tmp_path / "gencomp.toml", 'model_id = "tinny-model"\n')

    class Models:
        @hookimpl
        def gencomp_register_models(self, register):
            register("tiny-model", backend="echo", resolve=lambda: "/models/tiny")

    models = Models()
    plugins.register_plugin(models, name="models")
    try:
        with pytest.raises(ConfigError) as err:
            start_session(backend="echo")
    finally:
        plugins.unregister_plugin(models)
    assert "unknown model 'tinny-model' (from model_id in" in str(err.value)
    assert "Did you mean 'tiny-model'" in str(err.value)


def test_a_model_path_that_does_not_exist_is_refused_before_the_backend_is_built(install, monkeypatch):
    install("gencomp-echo-backend")
    monkeypatch.setenv("GENCOMP_MODEL", "./typo")
    with pytest.raises(ConfigError, match=r"model './typo' \(from \$GENCOMP_MODEL\): no such folder"):
        start_session(backend="echo")


def test_threads_in_the_config_for_a_backend_without_threads_names_the_file(install, tmp_path):
    install("gencomp-echo-backend")
    path = write_config(tmp_path / "gencomp.toml", 'backend = "echo"\nthreads = 2\n')
    with pytest.raises(ConfigError, match=rf"{path} threads: backend 'echo' has no option 'threads'"):
        start_session()


class OllamaLike:
    """A backend that takes any model id its server serves, and a model registered for another backend."""

    @hookimpl
    def gencomp_register_backends(self, register):
        register("ollama-like", lambda model_id, **kwargs: EchoLike(model_id), free_form_model_ids=True)
        register("strict-like", lambda model_id, **kwargs: EchoLike(model_id))

    @hookimpl
    def gencomp_register_models(self, register):
        register("llama3.2-1b", backend="echo", resolve=lambda: "/models/llama")


class EchoLike(Backend):
    def generate(self, request: GenerationRequest) -> Generation:
        return Generation(self.model_id_str)


@pytest.fixture
def ollama_like(install):
    install("gencomp-echo-backend")
    plugin = OllamaLike()
    plugins.register_plugin(plugin, name="ollama-like")
    yield
    plugins.unregister_plugin(plugin)


def test_a_backend_that_takes_free_form_model_ids_gets_a_tag_close_to_a_registered_name_as_it_is(ollama_like):
    assert start_session(backend="ollama-like", model_id="llama3.2:1b").backend.model_id == "llama3.2:1b"


def test_did_you_mean_compares_a_model_id_only_with_the_models_registered_for_the_chosen_backend(ollama_like):
    assert start_session(backend="strict-like", model_id="llama3.2:1b").backend.model_id == "llama3.2:1b"
    with pytest.raises(ConfigError) as err:
        start_session(backend="echo", model_id="llama3.2:1b")
    assert "Did you mean 'llama3.2-1b'" in str(err.value) and "Registered models for backend 'echo'" in str(err.value)


def test_the_free_form_declaration_shows_in_the_backend_listing(ollama_like, capsys):
    assert main(["backends", "--json"]) == 0
    listed = {b["name"]: b for b in json.loads(capsys.readouterr().out)["backends"]}
    assert listed["ollama-like"]["free_form_model_ids"] is True and listed["echo"]["free_form_model_ids"] is False
