"""Choosing a backend and model at runtime: arguments, environment, ``gencomp.toml``, defaults."""

from __future__ import annotations

import difflib
import inspect
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import platformdirs
import pydantic

from gencomp import plugins
from gencomp.backend import Backend
from gencomp.errors import ConfigError, UnknownBackendError, UnknownBackendOptionError
from gencomp.model_options import ModelOption

__all__ = [
    "DEFAULT_BACKEND",
    "KNOWN_BACKENDS",
    "CheckBackendConfig",
    "GencompConfig",
    "check_model_id",
    "check_options",
    "config_paths",
    "load_config",
    "make_backend",
    "resolve_model_id",
]

DEFAULT_BACKEND = "hf"
KNOWN_BACKENDS: dict[str, str] = {
    "hf": "gencomp-hf-backend",
    "huggingface": "gencomp-hf-backend",
    "openai": "gencomp-openai",
    "openai-compatible": "gencomp-openai",
}
"""Backend names gencomp knows of, and the distribution that provides each."""


class CheckBackendConfig(pydantic.BaseModel):
    """The ``[check]`` table of ``gencomp.toml``: the backend that decides model-judged checks."""

    model_config = pydantic.ConfigDict(extra="forbid")

    backend: str
    model_id: str | None = None
    backend_options: dict[str, Any] = {}


class GencompConfig(pydantic.BaseModel):
    """The contents of ``gencomp.toml``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    backend: str | None = None
    model_id: str | None = None
    threads: int | None = pydantic.Field(default=None, ge=0)
    model_options: dict[str, Any] = {}
    backend_options: dict[str, Any] = {}
    strategy: str | None = None
    strategy_options: dict[str, Any] = {}
    check: CheckBackendConfig | None = None

    @pydantic.field_validator("model_options")
    @classmethod
    def _options_are_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        ModelOption.validate(value)
        return value


def config_paths() -> list[Path]:
    """Where a config file is looked for, in order: ``$GENCOMP_CONFIG``, the working directory, the user config dir.

    A ``$GENCOMP_CONFIG`` that names no file is an error (:class:`ConfigError`).
    """
    paths = []
    if os.environ.get("GENCOMP_CONFIG"):
        named = Path(os.environ["GENCOMP_CONFIG"]).expanduser()
        if not named.is_file():
            what = "a folder, not a file" if named.is_dir() else "no such file"
            raise ConfigError(f"$GENCOMP_CONFIG names {str(named)!r}: {what}. Point it at a gencomp.toml, or unset it.")
        paths.append(named)
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
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8, as TOML requires") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        try:
            return GencompConfig.model_validate(data), path
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"key {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            extra = any(e["type"] == "extra_forbidden" for e in exc.errors())
            allowed = f" (allowed keys: {', '.join(GencompConfig.model_fields)})" if extra else ""
            raise ConfigError(f"{path}: {problems}{allowed}") from exc
    return GencompConfig(), None


def _installed_backends() -> str:
    specs = plugins.registry().backends.values()
    if not specs:
        return "none"
    return ", ".join(spec.name + (f" (aliases: {', '.join(spec.aliases)})" if spec.aliases else "") for spec in specs)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.75)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _names(table: Mapping[str, Any]) -> list[str]:
    return [n for spec in table.values() for n in (spec.name, *spec.aliases)]


def _unknown_backend(name: str, source: str | None = None) -> UnknownBackendError:
    where = f" (from {source})" if source else ""
    msg = f"unknown backend {name!r}{where}.{_did_you_mean(name, _names(plugins.registry().backends))}"
    msg += f" Installed backends: {_installed_backends()}."
    if name in KNOWN_BACKENDS:
        dist = KNOWN_BACKENDS[name]
        msg += f" {name!r} is provided by the distribution {dist}: `pip install {dist}`."
    failed = [r for r in plugins.plugin_records() if r.status not in ("loaded", "conflict")]
    if failed:
        msg += " Plugins that registered nothing or not all: "
        msg += "; ".join(f"{r.name} ({r.status}: {r.error})" for r in failed) + "."
    return UnknownBackendError(msg)


def resolve_model_id(model_id: str) -> str:
    """A registered model's loadable id or path; any other string is returned unchanged."""
    spec = plugins.registry().model(model_id)
    return spec.resolve() if spec is not None else model_id


_PATH_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


def check_model_id(model_id: str, source: str | None = None, *, backend: str | None = None) -> None:
    """Refuse, before anything loads, a model id that can only be a mistake.

    A registered name, an existing file or folder, and anything that may be a hub id pass. A path
    (``./x``, ``/x``, ``~/x``) that does not exist, and a name close to a model registered for
    ``backend`` (for any backend when ``None``) that is not a hub id (a typo), raise
    :class:`ConfigError` saying where the id came from. A backend registered with
    ``free_form_model_ids=True`` takes any other id as it is (an Ollama tag such as ``llama3.2:1b``).
    """
    where = f" (from {source})" if source else ""
    reg = plugins.registry()
    if reg.model(model_id) is not None:
        return
    path = Path(model_id).expanduser()
    if path.exists():
        return
    if model_id.startswith(_PATH_PREFIXES) or model_id in (".", ".."):
        raise ConfigError(
            f"model {model_id!r}{where}: no such folder ({path.absolute()}). Give an existing model folder, "
            f"a hub id (org/name) or a registered model name: {', '.join(reg.models) or 'none installed'}"
        )
    spec = reg.backend(backend) if backend is not None else None
    if spec is not None and spec.free_form_model_ids:
        return
    own = {n: m for n, m in reg.models.items() if spec is None or m.backend in (spec.name, *spec.aliases)}
    hint = _did_you_mean(model_id, _names(own))
    if hint and "/" not in model_id:
        for_backend = f" for backend {spec.name!r}" if spec is not None else ""
        raise ConfigError(
            f"unknown model {model_id!r}{where}.{hint} Registered models{for_backend}: {', '.join(own)}; "
            "a local folder or a hub id (org/name) works too"
        )


def _keyword_names(accepts: Callable[..., Any]) -> list[str] | None:
    """The keyword names ``accepts`` takes; ``None`` when it takes any (``**kwargs`` that lead nowhere known).

    For a class whose ``__init__`` passes ``**kwargs`` on, the ``__init__`` of its bases are read too.
    """
    chain = (
        [c.__dict__["__init__"] for c in accepts.__mro__ if "__init__" in c.__dict__]
        if isinstance(accepts, type)
        else [accepts]
    )
    names: list[str] = []
    for fn in chain:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):  # not introspectable: the call itself will tell
            return None
        names += [
            n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n not in names
        ]
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return [n for n in names if n != "self"]
    return None


def check_options(
    accepts: Callable[..., Any], options: Mapping[str, Any], what: str, *, also: Iterable[str] = ()
) -> None:
    """Raise :class:`~gencomp.errors.UnknownBackendOptionError` for a key of ``options`` that ``accepts`` lacks.

    ``what`` names the receiver in the message (``"backend 'hf'"``); ``also`` names more accepted
    keys (what plugins read from a backend's ``plugin_options``). A callable whose ``**kwargs``
    lead to no known signature accepts everything.
    """
    known = _keyword_names(accepts)
    if known is None:
        return
    known += [n for n in also if n not in known]
    for key in options:
        if key not in known:
            raise UnknownBackendOptionError(
                f"{what} has no option {key!r}.{_did_you_mean(key, known)} Its options: {', '.join(known)}", key
            )


def make_backend(name: str | None = None, model_id: str | None = None, **kwargs: Any) -> Backend:
    """Build a registered backend by name or alias, for ``model_id`` or the backend's default model.

    A ``model_id`` that names a registered model is resolved to what the backend loads, and picks
    that model's backend when ``name`` is not given. A mistyped name or a missing folder raises
    :class:`ConfigError` before the backend is built (:func:`check_model_id`).
    """
    return _make_backend(name, model_id, kwargs)


def _make_backend(
    name: str | None,
    model_id: str | None,
    kwargs: dict[str, Any],
    backend_source: str | None = None,
    model_source: str | None = None,
) -> Backend:
    reg = plugins.registry()
    model_spec = reg.model(model_id) if model_id else None
    if name is None:
        name = model_spec.backend if model_spec is not None else DEFAULT_BACKEND
    spec = reg.backend(name)
    if spec is None:
        raise _unknown_backend(name, backend_source)
    if model_id is not None and model_spec is None:
        check_model_id(model_id, model_source, backend=spec.name)
    if spec.check_options is not None:
        spec.check_options(kwargs)
    else:
        check_options(spec.factory, kwargs, f"backend {spec.name!r}")
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
