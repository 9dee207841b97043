"""Choosing a backend and model at runtime: arguments, environment, ``gencomp.toml``, defaults."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
import pydantic

from gencomp import plugins
from gencomp.backend import Backend
from gencomp.errors import ConfigError, UnknownBackendError

__all__ = [
    "DEFAULT_BACKEND",
    "KNOWN_BACKENDS",
    "GencompConfig",
    "config_paths",
    "load_config",
    "make_backend",
    "resolve_model_id",
]

DEFAULT_BACKEND = "hf"
KNOWN_BACKENDS: dict[str, str] = {"hf": "gencomp-hf-backend", "huggingface": "gencomp-hf-backend"}
"""Backend names gencomp knows of, and the distribution that provides each."""


class GencompConfig(pydantic.BaseModel):
    """The contents of ``gencomp.toml``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    backend: str | None = None
    model_id: str | None = None
    model_options: dict[str, Any] = {}
    backend_options: dict[str, Any] = {}


def config_paths() -> list[Path]:
    """Where a config file is looked for, in order: ``$GENCOMP_CONFIG``, the working directory, the user config dir."""
    paths = []
    if os.environ.get("GENCOMP_CONFIG"):
        paths.append(Path(os.environ["GENCOMP_CONFIG"]))
    paths.append(Path.cwd() / "gencomp.toml")
    paths.append(Path(platformdirs.user_config_dir("gencomp")) / "gencomp.toml")
    return paths


def load_config() -> tuple[GencompConfig, Path | None]:
    """The first config file found (and its path), or an empty config."""
    for path in config_paths():
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        try:
            return GencompConfig.model_validate(data), path
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"key {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()
            )
            allowed = ", ".join(GencompConfig.model_fields)
            raise ConfigError(f"{path}: {problems} (allowed keys: {allowed})") from exc
    return GencompConfig(), None


def _installed_backends() -> str:
    specs = plugins.registry().backends.values()
    if not specs:
        return "none"
    return ", ".join(spec.name + (f" (aliases: {', '.join(spec.aliases)})" if spec.aliases else "") for spec in specs)


def _unknown_backend(name: str) -> UnknownBackendError:
    msg = f"unknown backend {name!r}. Installed backends: {_installed_backends()}."
    if name in KNOWN_BACKENDS:
        dist = KNOWN_BACKENDS[name]
        msg += f" {name!r} is provided by the distribution {dist}: `pip install {dist}`."
    failed = [r for r in plugins.plugin_records() if r.status != "loaded"]
    if failed:
        msg += " Plugins not loaded: " + "; ".join(f"{r.name} ({r.status}: {r.error})" for r in failed) + "."
    return UnknownBackendError(msg)


def resolve_model_id(model_id: str) -> str:
    """A registered model's loadable id or path; any other string is returned unchanged."""
    spec = plugins.registry().model(model_id)
    return spec.resolve() if spec is not None else model_id


def make_backend(name: str | None = None, model_id: str | None = None, **kwargs: Any) -> Backend:
    """Build a registered backend by name or alias, for ``model_id`` or the backend's default model.

    A ``model_id`` that names a registered model is resolved to what the backend loads, and picks
    that model's backend when ``name`` is not given.
    """
    reg = plugins.registry()
    model_spec = reg.model(model_id) if model_id else None
    if name is None:
        name = model_spec.backend if model_spec is not None else DEFAULT_BACKEND
    spec = reg.backend(name)
    if spec is None:
        raise _unknown_backend(name)
    if model_spec is not None and reg.backend(model_spec.backend) is not spec:
        raise ConfigError(
            f"model {model_id!r} is registered for backend {model_spec.backend!r}, not {name!r}; "
            f"pick backend {model_spec.backend!r} or another model"
        )
    if model_id is None and spec.default_model is not None:
        model_spec = reg.model(spec.default_model)
        if model_spec is None:
            raise ConfigError(
                f"backend {spec.name!r} names default model {spec.default_model!r}, which no plugin registers"
            )
    resolved = model_spec.resolve() if model_spec is not None else model_id
    return spec.factory(resolved, **kwargs)
