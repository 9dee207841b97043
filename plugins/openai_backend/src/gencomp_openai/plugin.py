"""Entry-point module of the openai backend plugin (loaded at discovery: keep it light, no HTTP client here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from gencomp import hookimpl


def _make_backend(model_id: Any, **kwargs: Any) -> Any:
    from gencomp_openai.backend import OpenAIBackend

    return OpenAIBackend(model_id, **kwargs)


def _check_options(kwargs: dict[str, Any]) -> None:
    """Refuse an option ``OpenAIBackend`` does not take, or a value of the wrong kind, before connecting; a
    value that came from ``gencomp.toml``'s ``[backend_options]`` is named with the file."""
    from gencomp import ConfigError
    from gencomp.selection import check_options, load_config
    from gencomp_openai.backend import OpenAIBackend, OptionValueError, check_option_values

    check_options(OpenAIBackend, kwargs, "backend 'openai' (OpenAIBackend)")
    try:
        check_option_values(kwargs)
    except OptionValueError as exc:
        config, path = load_config()
        given = config.backend_options.get(exc.option, ...)
        if path is not None and given == kwargs.get(exc.option):
            raise ConfigError(f"{path} [backend_options]: {exc}") from exc
        raise


@hookimpl
def gencomp_register_backends(register: Callable[..., None]) -> None:
    register(
        "openai",
        _make_backend,
        aliases=("openai-compatible",),
        description="any OpenAI-compatible server: llama.cpp's llama-server, vLLM, Ollama, hosted APIs (OpenAIBackend)",
        default_model=None,
        free_form_model_ids=True,  # any model the server serves: an Ollama tag, a vLLM path, a hosted name
        check_options=_check_options,
    )


@hookimpl
def gencomp_check_requirements(
    backend: Any,
    requirements: list[Any],
    ctx: Any,
    output: Any,
    model_options: dict[str, Any] | None,
    generate_logs: list[Any],
) -> list[Any] | None:
    """Answer the checks an aLoRA on the server takes (``OpenAIBackend.answer_checks``); leave the rest (``None``)."""
    module = sys.modules.get("gencomp_openai.backend")
    if module is None or not isinstance(backend, module.OpenAIBackend):
        return None
    answers = backend.answer_checks(requirements, ctx, model_options, generate_logs)
    return answers if any(a is not None for a in answers) else None
