"""gencomp-openai: a gencomp backend for OpenAI-compatible servers.

``start_session(backend="openai", base_url=..., api_key=...)`` runs gencomp on a model behind
llama.cpp's ``llama-server``, vLLM, Ollama or a hosted endpoint. Requirement checks run on an aLoRA
that llama-server activates per request, reusing its prompt cache, or else on the model as a judge.
Importing this package is light; the HTTP client is imported with the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gencomp_openai.errors import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    RemoteBackendError,
    ServerDisconnectedError,
    ServerInternalError,
    ServerRedirectError,
    ServerTimeoutError,
    ServerUnreachableError,
    UnknownServerModelError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gencomp_openai.backend import OpenAIBackend
    from gencomp_openai.capabilities import ServerAdapter, ServerCapabilities

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "MalformedResponseError",
    "OpenAIBackend",
    "RemoteBackendError",
    "ServerAdapter",
    "ServerCapabilities",
    "ServerDisconnectedError",
    "ServerInternalError",
    "ServerRedirectError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "UnknownServerModelError",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIBackend":
        from gencomp_openai.backend import OpenAIBackend

        return OpenAIBackend
    if name in ("ServerAdapter", "ServerCapabilities"):
        from gencomp_openai import capabilities

        return getattr(capabilities, name)
    raise AttributeError(f"module 'gencomp_openai' has no attribute {name!r}")
