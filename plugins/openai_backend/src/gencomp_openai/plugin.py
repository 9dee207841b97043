"""Entry-point module of the openai backend plugin (loaded at discovery: keep it light, no HTTP client here)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from gencomp import hookimpl


def _make_backend(model_id: Any, **kwargs: Any) -> Any:
    from gencomp_openai.backend import OpenAIBackend

    return OpenAIBackend(model_id, **kwargs)


@hookimpl
def gencomp_register_backends(register: Callable[..., None]) -> None:
    register(
        "openai",
        _make_backend,
        aliases=("openai-compatible",),
        description="any OpenAI-compatible server: llama.cpp's llama-server, vLLM, Ollama, hosted APIs (OpenAIBackend)",
        default_model=None,
    )


@hookimpl
def gencomp_model_option_map(backend: Any) -> Mapping[str, str] | None:
    module = sys.modules.get("gencomp_openai.backend")
    if module is None or not isinstance(backend, module.OpenAIBackend):
        return None
    from gencomp_openai.protocol import OPENAI_OPTION_MAP

    return OPENAI_OPTION_MAP
