"""The capability probe: what the server at ``base_url`` is and offers, asked once at connect time."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gencomp_openai.errors import MalformedResponseError, RemoteBackendError
from gencomp_openai.http import HttpLayer

__all__ = ["ServerAdapter", "ServerCapabilities", "llama_adapters", "probe"]

LLAMA_CPP = "llama.cpp"
VLLM = "vllm"
OLLAMA = "ollama"
GENERIC = "openai-compatible"


@dataclass(frozen=True)
class ServerAdapter:
    """A LoRA adapter the server has loaded. ``invocation_tokens`` is set only when the server runs it as an aLoRA."""

    id: int
    name: str
    path: str = ""
    invocation_tokens: tuple[int, ...] | None = None
    invocation_string: str | None = None

    @property
    def is_alora(self) -> bool:
        """Whether the server activates it only after its invocation tokens (else it is a plain LoRA)."""
        return bool(self.invocation_tokens)


@dataclass(frozen=True)
class ServerCapabilities:
    """What the probe found. ``kind`` is ``"llama.cpp"``, ``"vllm"``, ``"ollama"`` or ``"openai-compatible"``."""

    kind: str
    models: tuple[str, ...] = ()
    adapters: tuple[ServerAdapter, ...] = ()
    chat: bool = True
    raw_completions: bool = True
    json_schema: bool = True
    tools: bool = True
    logprobs: bool = True
    alora: bool = False
    """The server activates aLoRA adapters per request and reuses the prompt cache across them."""
    context_size: int | None = None
    slots: int | None = None
    """How many requests the server generates at once (llama-server's ``--parallel``), when it says."""
    notes: tuple[str, ...] = field(default=())

    def adapter(self, name: str) -> ServerAdapter | None:
        """The loaded adapter called ``name`` (its file name without ``.gguf``, or its task name)."""
        for a in self.adapters:
            if a.name == name:
                return a
        return None


def _adapter_name(entry: Mapping[str, Any]) -> str:
    task = entry.get("task_name")
    if isinstance(task, str) and task:
        return task
    base = posixpath.basename(str(entry.get("path", "")).replace("\\", "/"))
    return base[: -len(".gguf")] if base.endswith(".gguf") else base


def llama_adapters(entries: Any) -> tuple[ServerAdapter, ...]:
    """The adapters in llama-server's ``GET /lora-adapters`` answer (their scales left out: requests state them)."""
    if not isinstance(entries, list):
        raise MalformedResponseError(f"llama-server's /lora-adapters answered {entries!r}, not a list")
    out = []
    for e in entries:
        if not isinstance(e, Mapping) or not isinstance(e.get("id"), int):
            continue
        tokens = e.get("alora_invocation_tokens")
        out.append(
            ServerAdapter(
                id=e["id"],
                name=_adapter_name(e),
                path=str(e.get("path", "")),
                invocation_tokens=tuple(int(t) for t in tokens) if isinstance(tokens, list) and tokens else None,
                invocation_string=e.get("alora_invocation_string") if tokens else None,
            )
        )
    return tuple(out)


def probe(http: HttpLayer) -> ServerCapabilities:
    """Ask the server what it is: ``/v1/models``, then the endpoints of the server kind found.

    Raises the named connection errors when the server cannot be reached: a backend is not created
    against a server that is not there.
    """
    listing = http.get("/v1/models")
    data = listing.get("data") if isinstance(listing, Mapping) else None
    if not isinstance(data, list):
        raise MalformedResponseError(
            f"{http.url('/v1/models')} answered {str(listing)[:200]!r}, not a model list; is base_url an "
            f"OpenAI-compatible server?"
        )
    models = tuple(str(m["id"]) for m in data if isinstance(m, Mapping) and "id" in m)
    owners = {str(m.get("owned_by", "")).lower() for m in data if isinstance(m, Mapping)}
    if "llamacpp" in owners:
        props: Any = {}
        try:
            props = http.get("/props")
        except RemoteBackendError:
            props = {}
        adapters = llama_adapters(http.get("/lora-adapters"))
        n_ctx = _field_int(props, "default_generation_settings", "n_ctx") or _field_int(props, "n_ctx")
        return ServerCapabilities(
            kind=LLAMA_CPP,
            models=models,
            adapters=adapters,
            alora=True,
            context_size=n_ctx,
            slots=_field_int(props, "total_slots"),
        )
    if "vllm" in owners:
        # vLLM lists each LoRA module as a model whose "parent" is the base model. Stock vLLM applies it
        # to every token, an aLoRA included: such adapters are plain LoRAs here.
        adapters = tuple(
            ServerAdapter(id=i, name=str(m["id"]), path=str(m.get("root", "")))
            for i, m in enumerate(m for m in data if isinstance(m, Mapping) and m.get("parent"))
        )
        base = tuple(str(m["id"]) for m in data if isinstance(m, Mapping) and not m.get("parent"))
        return ServerCapabilities(kind=VLLM, models=base or models, adapters=adapters)
    if owners & {"library", "ollama"}:
        return ServerCapabilities(
            kind=OLLAMA, models=models, logprobs=False, notes=("ollama: no log-probabilities; judge from the text",)
        )
    return ServerCapabilities(kind=GENERIC, models=models)


def _field_int(data: Any, *path: str) -> int | None:
    cur = data
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur if isinstance(cur, int) else None
