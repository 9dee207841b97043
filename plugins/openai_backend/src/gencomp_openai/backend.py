"""``OpenAIBackend``: runs gencomp components on a model behind an OpenAI-compatible server.

The server applies its chat template; this backend sends the formatter's chat messages, reads the
answers, and routes requirement checks to an aLoRA the server activates per request (llama-server),
or else to the model as a judge. The HTTP mechanics are in :mod:`gencomp_openai.http`, the payloads
in :mod:`gencomp_openai.protocol`, the probe in :mod:`gencomp_openai.capabilities`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

from gencomp import (
    ALoraRequirement,
    Cache,
    CheckFallback,
    CheckVerdict,
    ConfigError,
    ConstraintRefusedError,
    Context,
    ContextWindowError,
    Formatter,
    FormatterBackend,
    GencompError,
    GenerateLog,
    LLMaJRequirement,
    ModelOutputThunk,
    Requirement,
    UnknownModelOptionError,
    default_formatter,
)
from gencomp.adapter_validation import validation_for, with_measured_state
from gencomp.backend import Generation, GenerationRequest, RawRequest
from gencomp.base import backend_name
from gencomp.components import bool_from_text
from gencomp.model_ids import ModelIdentifier, model_id_string
from gencomp.streaming import GenerationControl, current_control
from gencomp.verdicts import JUDGE_PATH, label
from gencomp_openai import enforcement, protocol
from gencomp_openai.capabilities import LLAMA_CPP, VLLM, ServerAdapter, ServerCapabilities, llama_adapters, probe
from gencomp_openai.errors import BadRequestError, MalformedResponseError, UnknownServerModelError
from gencomp_openai.http import DEFAULT_MAX_RESPONSE_BYTES, HttpLayer, RetryPolicy, Timeouts, display_url, seconds
from gencomp_openai.llama_cpp import metadata_path
from gencomp_openai.locks import SharedExclusiveLock

__all__ = [
    "ALORA_ANSWERS",
    "ALORA_UNCERTAIN_MARGIN",
    "FALLBACK_PATH",
    "OpenAIBackend",
    "OptionValueError",
    "check_option_values",
    "resolve_connection",
]

FALLBACK_PATH = "llm-as-a-judge"
"""``meta["check_path"]`` of a check answered by the model as a judge."""

DEFAULT_MAX_CONNECTIONS = 64
"""The pool size when neither the caller nor the server says how many requests it runs at once."""

ALORA_ANSWERS = ("Y", "N")
"""The answer tokens of gencomp's requirement-check aLoRAs (yes, no), as trained by ``gencomp-alora``."""

ALORA_UNCERTAIN_MARGIN = 0.15
"""An aLoRA verdict on llama-server whose p(yes) is within this of 0.5 is ``"uncertain"``.

The same check's p(yes) moves with how the server batched its tokens with other requests' (up to
0.031 measured here beside other clients; 0.000 by order alone, ``benchmarks/remote_verdicts.py``)
and, in an earlier review with the check as one request, with how the conversation's cache was
computed (up to 0.13): a verdict closer to 0.5 than this could have gone the other way.
"""

CHECK_TRIES = 3
"""How many times an aLoRA check whose prefix the server did not keep is sent again before the judge takes it."""

_NO_WORDS = frozenset({"no", "n", "false", "fail", "failed", "incorrect"})


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number of seconds") from None


def _whole(least: int, *, allow_none: bool = False) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")
        return value

    return check


def _of(kind: type | tuple[type, ...], what: str, *, allow_none: bool = True) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if (value is None and allow_none) or isinstance(value, kind):
            return value
        raise ValueError(f"{name} must be {what}, got {value!r}")

    return check


def _seconds(*, allow_none: bool) -> Callable[[str, Any], Any]:
    return lambda name, value: seconds(name, value, allow_none=allow_none)


_OPTION_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "base_url": _of(str, "the server's address, a string such as 'http://127.0.0.1:8080/v1'"),
    "api_key": _of(str, "a string"),
    "timeout": _seconds(allow_none=True),
    "connect_timeout": _seconds(allow_none=True),
    "read_timeout": _seconds(allow_none=True),
    "max_retries": _whole(0),
    "max_connections": _whole(1, allow_none=True),
    "max_response_bytes": _whole(1024, allow_none=True),
    "default_to_constraint_checking_alora": _of(bool, "true or false", allow_none=False),
    "exclusive_alora_checks": _of(bool, "true or false", allow_none=False),
    "alora_answers": _of(Mapping, "a mapping of adapter names to (yes, no) answer tokens"),
    "alora_metadata": _of(Mapping, "a mapping of adapter names to gencomp_alora.json paths"),
}


class OptionValueError(ConfigError):
    """A backend option of the wrong kind or range; ``option`` names it."""

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


def check_option_values(options: Mapping[str, Any]) -> None:
    """Raise :class:`OptionValueError` (saying what the option takes) for a backend option of the wrong kind
    or range. Options this backend does not know are left alone (the names are checked apart)."""
    for name, value in options.items():
        check = _OPTION_CHECKS.get(name)
        if check is None:
            continue
        try:
            check(name, value)
        except ValueError as exc:
            raise OptionValueError(str(exc), name) from None


def resolve_connection(base_url: str | None, api_key: str | None) -> tuple[str, str | None]:
    """``base_url`` and ``api_key`` from the arguments, else ``GENCOMP_OPENAI_*``, else ``OPENAI_*``."""
    url = base_url or os.environ.get("GENCOMP_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    if not url:
        raise GencompError(
            "the openai backend needs the server's address: pass base_url= (e.g. 'http://127.0.0.1:8080/v1'), "
            "set GENCOMP_OPENAI_BASE_URL or OPENAI_BASE_URL, or put base_url under [backend_options] in gencomp.toml"
        )
    if not url.startswith(("http://", "https://")):
        raise GencompError(f"base_url {display_url(url)!r} must start with http:// or https://")
    key = api_key or os.environ.get("GENCOMP_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY") or None
    return url, key


def tool_schema(func: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI ``tools`` entry of a Python function: its name, docstring and a JSON schema of its parameters."""
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(func).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = p.annotation if p.annotation is not inspect.Parameter.empty else str
        fields[name] = (annotation, ... if p.default is inspect.Parameter.empty else p.default)
    model = pydantic.create_model(f"{func.__name__}_args", **fields)
    params = model.model_json_schema()
    params.pop("title", None)
    for prop in params.get("properties", {}).values():
        prop.pop("title", None)
    doc = inspect.getdoc(func) or ""
    return {
        "type": "function",
        "function": {"name": func.__name__, "description": doc.split("\n\n")[0], "parameters": params},
    }


def _native_calls_as_text(answer: protocol.Answer) -> str:
    """The answer's text, then each native tool call as ``{"name", "arguments"}`` JSON on its own line.

    The base hands the text to the ``gencomp_extract_tool_calls`` hook, whose default reads that form;
    so native calls and calls the model wrote in its text take the same path.
    """
    lines = [answer.text] if answer.text else []
    for c in answer.tool_calls:
        fn = c.get("function") or {}
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                continue
        if isinstance(fn.get("name"), str) and isinstance(args, Mapping):
            lines.append(json.dumps({"name": fn["name"], "arguments": args}))
    return "\n".join(lines)


class _Call:
    """The request of one generation: path, payload, and how its answer is read."""

    def __init__(self, backend: OpenAIBackend, request: GenerationRequest) -> None:
        fields = protocol.request_options(request.options.generate)
        caps = backend.capabilities
        self.judging = request.check is not None and request.format is None and caps.logprobs
        self.check = request.check is not None
        self.chat = request.messages is not None
        if request.messages is not None:
            schema = None
            if request.format is not None:
                if not hasattr(request.format, "model_json_schema"):
                    raise TypeError(f"format= must be a pydantic BaseModel subclass, got {request.format!r}")
                schema = (request.format.__name__, request.format.model_json_schema())
            self.path = "/v1/chat/completions"
            self.payload = protocol.chat_payload(
                backend.model_id_str,
                request.messages,
                fields,
                tools=[tool_schema(t) for t in request.tools.values()],
                schema=schema,
                top_logprobs=protocol.TOP_LOGPROBS if self.judging else None,
            )
        else:
            if request.format is not None:
                raise GencompError(
                    "format= needs a chat context on the openai backend (response_format is a chat field)"
                )
            self.path = "/v1/completions"
            self.payload = protocol.completions_payload(backend.model_id_str, [request.prompt or ""], fields)
        texts = (
            [str(m.get("content") or "") for m in request.messages]
            if request.messages is not None
            else [request.prompt or ""]
        )
        self.payload.update(backend.adapter_fields(texts))
        thinking = request.options.thinking
        if thinking is not None:
            self.payload.update(_thinking_fields(thinking, caps.kind, self.chat))
        # a judge reads the first token's logprobs and tool calls come whole: those are not streamed
        self.streamable = not self.judging and not request.tools
        self.payload.update(
            enforcement.request_fields(request.options.constraint, backend.capabilities, chat=self.chat)
        )

    def parse(self, data: Any) -> protocol.Answer:
        return protocol.parse_chat(data) if self.chat else protocol.parse_completions(data, 1)[0]

    def stream_payload(self) -> dict[str, Any]:
        return {**self.payload, "stream": True, "stream_options": {"include_usage": True}}


def _thinking_fields(thinking: Any, kind: str, chat: bool) -> dict[str, Any]:
    """The request fields of ``ModelOption.THINKING``; refused, by name, where no field carries it."""
    if not chat:
        raise UnknownModelOptionError(
            "ModelOption.THINKING goes to the server's chat template, and this call is not a chat (a raw or "
            "non-chat context): remove the option, or use a chat context"
        )
    if isinstance(thinking, bool):
        if kind in (LLAMA_CPP, VLLM):
            return {"chat_template_kwargs": {"enable_thinking": thinking}}
        raise UnknownModelOptionError(
            f"ModelOption.THINKING={thinking} has no request field on a {kind} server (only llama-server and vLLM "
            f"take enable_thinking): pass a reasoning level instead ('none', 'low', 'medium', 'high'), sent as "
            f"reasoning_effort"
        )
    return {"reasoning_effort": str(thinking)}


def _consumed(control: GenerationControl) -> bool:
    """Whether anyone reads the pieces: a stream's consumer, or requirements that check prefixes."""
    return control.on_text is not None or bool(control.prefix_checks)


def _pusher(
    events: protocol.StreamedAnswer, control: GenerationControl
) -> tuple[Callable[[Any], bool], Callable[[Any], bool]]:
    """The stream's handlers, of an event and of a whole answer (a server that does not stream): each new
    piece of text goes to ``control``; ``False`` (close the stream) once it asks to stop."""

    def on_event(event: Any) -> bool:
        piece = events.add(event)
        if piece:
            return control.push(piece, tokens=len(events.parts))
        return not control.stop_requested()

    def on_whole(data: Any) -> bool:
        piece = events.add_whole(data)
        return control.push(piece, tokens=1) if piece else not control.stop_requested()

    return on_event, on_whole


def _judge_verdict(text: str) -> CheckVerdict | None:
    """The verdict of a judge's answer read from its words, ``"uncertain"`` when it starts with neither yes nor no."""
    if bool_from_text(text):
        return None
    words = text.strip().split()
    first = words[0].strip(".,:;!?\"'()*").lower() if words else ""
    if first in _NO_WORDS:
        return None
    return CheckVerdict(
        False,
        None,
        JUDGE_PATH,
        state="uncertain",
        uncertain_reason=f"the judge answered {text[:60]!r}, which starts with neither yes nor no",
    )


class OpenAIBackend(FormatterBackend):
    """A model behind an OpenAI-compatible server (llama.cpp's ``llama-server``, vLLM, Ollama, hosted APIs).

    ``base_url`` and ``api_key`` default to ``GENCOMP_OPENAI_BASE_URL``/``GENCOMP_OPENAI_API_KEY``, then
    ``OPENAI_BASE_URL``/``OPENAI_API_KEY``; the key is sent as a bearer token and never shown, nor is
    a password in ``base_url``. ``model_id`` defaults to the first model the server lists. At
    construction the server is probed (:attr:`capabilities`); an unreachable server raises then, and
    the probe is made again when the server changes (another adapter list, another model, a lost
    connection). ``timeout`` (default 600 s; ``GENCOMP_OPENAI_TIMEOUT``) bounds each request whole:
    its tries, the connection, the first byte and the whole answer; ``connect_timeout`` (5 s) each
    connection attempt and ``read_timeout`` (none) the longest silence of the server (also
    ``GENCOMP_OPENAI_CONNECT_TIMEOUT``/``..._READ_TIMEOUT``). An answer may be at most
    ``max_response_bytes`` (16 MiB). ``max_retries`` transient failures are retried with exponential
    backoff, or after the server's ``Retry-After``. One backend is safe to share between threads and
    event loops: the sync calls share one connection pool, each event loop gets its own async client
    (:meth:`agenerate`), each pool holding up to ``max_connections``; further requests wait for a free
    connection. By default that is the server's slot count plus two when it tells it (llama-server:
    ``--parallel``; its HTTP workers are at least that many, and a connection beyond them waited for
    an idle keep-alive one to time out, about 5 s), else 64. ``transport`` replaces the network (an
    ``httpx2`` transport; for tests).

    On llama-server every generation states every adapter's scale (0), so that no server setting
    applies a LoRA to it. Requirement checks go to an aLoRA the server activates (:meth:`route_check`,
    answered through ``gencomp_check_requirements``; see :meth:`check_with_alora` for how a check is
    kept apart from other clients of the server), else to the model as a judge, whose ``p_yes`` comes
    from the ``Yes``/``No`` log-probabilities of its first answer token. ``alora_metadata`` names the
    ``gencomp_alora.json`` of an adapter the server loaded (its measured accuracy goes into each
    verdict); by default a ``<name>.gencomp_alora.json`` beside the GGUF file the server reports is
    read when it is on this machine. With ``exclusive_alora_checks`` (the default, when the server
    has an aLoRA) this backend sends an aLoRA check only while none of its other requests runs.
    """

    option_map = protocol.OPENAI_OPTION_MAP
    generate_keys = protocol.REQUEST_OPTIONS

    @property
    def constraint_syntaxes(self) -> frozenset[str]:  # type: ignore[override]
        """What the server enforces (:func:`gencomp_openai.enforcement.syntaxes` of its :attr:`capabilities`)."""
        return enforcement.syntaxes(self.capabilities)

    def __init__(
        self,
        model_id: str | ModelIdentifier | None = None,
        formatter: Formatter | str | None = None,
        model_options: dict[str, Any] | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_retries: int = 2,
        max_connections: int | None = None,
        max_response_bytes: int | None = None,
        default_to_constraint_checking_alora: bool = True,
        alora_answers: Mapping[str, tuple[str, str]] | None = None,
        alora_metadata: Mapping[str, str | os.PathLike[str]] | None = None,
        exclusive_alora_checks: bool = True,
        transport: Any = None,
        use_caches: bool = True,
        cache: Cache | None = None,
        plugin_options: Mapping[str, Any] | None = None,
    ) -> None:
        check_option_values(
            {
                "base_url": base_url,
                "api_key": api_key,
                "timeout": timeout,
                "connect_timeout": connect_timeout,
                "read_timeout": read_timeout,
                "max_retries": max_retries,
                "max_connections": max_connections,
                "max_response_bytes": max_response_bytes,
                "default_to_constraint_checking_alora": default_to_constraint_checking_alora,
                "exclusive_alora_checks": exclusive_alora_checks,
                "alora_answers": alora_answers,
                "alora_metadata": alora_metadata,
            }
        )
        try:
            timeouts = Timeouts(
                total=_first(timeout, _env_float("GENCOMP_OPENAI_TIMEOUT"), Timeouts.total),
                connect=_first(connect_timeout, _env_float("GENCOMP_OPENAI_CONNECT_TIMEOUT"), Timeouts.connect),
                read=read_timeout if read_timeout is not None else _env_float("GENCOMP_OPENAI_READ_TIMEOUT"),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        url, key = resolve_connection(base_url, api_key)
        self.http = HttpLayer(
            url,
            api_key=key,
            timeouts=timeouts,
            retry=RetryPolicy(attempts=max_retries + 1),
            max_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
            max_response_bytes=max_response_bytes or DEFAULT_MAX_RESPONSE_BYTES,
            transport=transport,
        )
        self.http.available_models = self._list_models
        self.http.on_reconnect = self._mark_stale
        self._probe_lock = threading.Lock()
        self._stale = False
        try:
            self.capabilities: ServerCapabilities = probe(self.http)
            model_id = self._served_model(model_id)
            if max_connections is None and self.capabilities.slots:
                self.http.limit_connections(self.capabilities.slots + 2)
        except BaseException:
            self.http.close()
            raise
        if formatter is None:
            formatter = default_formatter(model_id)
        self.default_to_constraint_checking_alora = default_to_constraint_checking_alora
        self.alora_answers: dict[str, tuple[str, str]] = dict(alora_answers or {})
        self.alora_metadata: dict[str, Path] = {k: Path(v) for k, v in (alora_metadata or {}).items()}
        self._metadata: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._turns: SharedExclusiveLock | None = None
        if exclusive_alora_checks and self.capabilities.kind == LLAMA_CPP:
            self._turns = SharedExclusiveLock()
        super().__init__(
            model_id, formatter, model_options, use_caches=use_caches, cache=cache, plugin_options=plugin_options
        )

    def _served_model(self, model_id: str | ModelIdentifier | None) -> str | ModelIdentifier:
        served = self.capabilities.models
        where = self.http.shown
        if model_id is None:
            if not served:
                raise UnknownServerModelError(f"the server at {where} lists no model; pass model_id=", available=served)
            return served[0]
        name = model_id_string(model_id)
        if served and name not in served:
            if self.capabilities.kind != LLAMA_CPP:
                raise UnknownServerModelError(
                    f"the server at {where} does not serve {name!r}; it offers {', '.join(map(repr, served))}",
                    available=served,
                )
            warnings.warn(
                f"the llama-server at {where} serves one model, {served[0]!r}, under any name: {name!r} will be "
                f"answered by it (the logs name the model that answered). Pass model_id={served[0]!r} or leave it "
                f"out to say so",
                stacklevel=4,
            )
        return model_id

    @property
    def endpoint(self) -> str:
        """The server's URL (without ``/v1``), with any credentials in it redacted."""
        return self.http.shown

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model_id_str!r}, {self.http.shown!r}, kind={self.capabilities.kind!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _list_models(self) -> list[str]:
        listing = self.http.get("/v1/models")
        return [str(m["id"]) for m in listing.get("data", []) if isinstance(m, Mapping) and "id" in m]

    # -- the server's identity ---------------------------------------------------------------------

    def _mark_stale(self) -> None:
        self._stale = True

    def reprobe(self, why: str) -> bool:
        """Probe the server again (``why`` it may have changed); ``True``, with a warning, when it changed."""
        with self._probe_lock:
            self._stale = False
            old = self.capabilities
            new = probe(self.http)
            if new == old:
                return False
            self.capabilities = new
            changes = [
                f"{name}: {getattr(old, name)!r} -> {getattr(new, name)!r}"
                for name in ("kind", "models", "adapters", "slots", "context_size")
                if getattr(old, name) != getattr(new, name)
            ]
            self._metadata.clear()
        warnings.warn(
            f"the server at {self.http.shown} changed ({why}; {'; '.join(changes)}): gencomp follows what it "
            f"serves now",
            stacklevel=3,
        )
        return True

    def _fresh(self) -> None:
        if self._stale:
            self.reprobe("a connection to it was lost and made again")

    def _check_identity(self, answer: protocol.Answer) -> None:
        """Probe again when an answer names another model than the server listed (llama-server names its file)."""
        served = self.capabilities.models
        if self.capabilities.kind == LLAMA_CPP and answer.model and served and answer.model not in served:
            self.reprobe(f"an answer came from model {answer.model!r}")

    def adapter_fields(self, texts: Sequence[str] = ()) -> dict[str, Any]:
        """The fields that keep every adapter of the server off a generation whose prompt is made of ``texts``.

        On llama-server every adapter is named (the server's own scales apply otherwise: 1.0 for every
        ``--lora``): plain LoRAs at 0, and the server's first aLoRA at 1 unless ``texts`` contain its
        invocation (then at 0). The server switches an aLoRA off for a prompt without its invocation, so
        nothing is adapted either way; but it keeps a slot's cache across a change from one aLoRA setting
        to another and clears it for a change to no adapter, so naming the aLoRA lets the generation after
        a check reuse the conversation the check's slot holds.
        """
        if self.capabilities.kind != LLAMA_CPP:
            return {}
        adapters = self.capabilities.adapters
        active: dict[int, float] = {}
        for a in adapters:
            if a.is_alora and a.invocation_string:
                if not any(a.invocation_string in t for t in texts):
                    active[a.id] = 1.0
                break
        return {"lora": protocol.lora_field(len(adapters), active)}

    # -- generation (the backend contract's model-specific part) ---------------------------------

    def generate(self, request: GenerationRequest) -> Generation:
        """One answer for ``request``: ``/v1/chat/completions`` for chat messages, else ``/v1/completions``.

        ``format`` goes as ``response_format`` (JSON schema) and the answer is validated with pydantic;
        tools go in the native ``tools`` field; a requirement check asks for the first token's
        log-probabilities and reports ``meta["p_yes"]``. When the call's
        :func:`~gencomp.streaming.current_control` has a consumer (a stream, or a requirement with a
        ``prefix_fn``), the answer is streamed (server-sent events) and each piece pushed to it; the
        stream is closed as soon as the control says stop.
        """
        self._fresh()
        call = _Call(self, request)
        self._check_window(request, call)
        control = current_control()
        if control is not None and call.streamable and _consumed(control):
            events = protocol.StreamedAnswer(call.chat)
            on_event, on_whole = _pusher(events, control)
            payload = call.stream_payload()
            with self._shared():
                try:
                    self.http.stream(call.path, payload, on_event, on_whole)
                except BadRequestError as exc:
                    raise _grammar_refused(exc, payload) or exc from None
            stopped = control.stop_requested()
            return self._generation(request, call, events.answer(stopped=stopped), stopped=stopped)
        with self._shared():
            data = self._post(call.path, call.payload)
        return self._generation(request, call, call.parse(data))

    async def agenerate(self, request: GenerationRequest) -> Generation:
        """:meth:`generate` natively async, on this event loop's ``httpx2.AsyncClient``.

        Many calls awaited together run at once on the server. Cancelling the awaiting task closes
        the HTTP request or stream (the server stops generating).
        """
        if self._stale:
            await asyncio.to_thread(self._fresh)
        call = _Call(self, request)
        if request.options.context_window is not None:
            await asyncio.to_thread(self._check_window, request, call)
        control = current_control()
        if control is not None and call.streamable and _consumed(control):
            events = protocol.StreamedAnswer(call.chat)
            on_event, on_whole = _pusher(events, control)
            payload = call.stream_payload()
            async with self._ashared():
                try:
                    await self.http.astream(call.path, payload, on_event, on_whole)
                except BadRequestError as exc:
                    raise _grammar_refused(exc, payload) or exc from None
            stopped = control.stop_requested()
            return self._generation(request, call, events.answer(stopped=stopped), stopped=stopped)
        async with self._ashared():
            data = await self._apost(call.path, call.payload)
        return self._generation(request, call, call.parse(data))

    def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        try:
            return self.http.post(path, payload)
        except BadRequestError as exc:
            raise self._window_error(exc) or _grammar_refused(exc, payload) or exc from None

    async def _apost(self, path: str, payload: Mapping[str, Any]) -> Any:
        try:
            return await self.http.apost(path, payload)
        except BadRequestError as exc:
            raise self._window_error(exc) or _grammar_refused(exc, payload) or exc from None

    def _window_error(self, exc: BadRequestError) -> ContextWindowError | None:
        """llama-server's refusal of a prompt longer than its context, as gencomp's ``ContextWindowError``."""
        text = str(exc)
        if "exceeds the available context size" not in text:
            return None
        found = re.search(r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)", text)
        prompt, window = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
        return ContextWindowError(
            f"the prompt is {prompt} tokens, but the server's context window is {window} tokens (per slot: "
            f"llama-server's -c divided by --parallel): shorten the prompt or the conversation, or give the "
            f"server a larger -c. Nothing was generated.",
            prompt,
            0,
            window,
        )

    def _check_window(self, request: GenerationRequest, call: _Call) -> None:
        """Honour ``ModelOption.CONTEXT_WINDOW``: the prompt (counted by the server) and the answer's budget
        must fit in it; a server that cannot count tokens refuses the option by name."""
        window = request.options.context_window
        if window is None:
            return
        if self.capabilities.kind != LLAMA_CPP:
            raise UnknownModelOptionError(
                f"ModelOption.CONTEXT_WINDOW cannot be honoured on a {self.capabilities.kind} server: the openai "
                f"backend counts a prompt's tokens with llama-server's /tokenize, which this server does not "
                f"have. Remove the option (the server refuses a prompt longer than its own window)"
            )
        if self.capabilities.context_size:
            window = min(window, self.capabilities.context_size)
        if call.chat:
            rendered = self.http.post("/apply-template", {"messages": call.payload["messages"]})
            text = rendered.get("prompt") if isinstance(rendered, Mapping) else None
        else:
            text = call.payload["prompt"][0]
        if not isinstance(text, str):
            raise MalformedResponseError(f"llama-server's /apply-template answered {str(text)[:200]!r}")
        tokens = self.http.post("/tokenize", {"content": text, "add_special": True, "parse_special": True})
        ids = tokens.get("tokens") if isinstance(tokens, Mapping) else None
        if not isinstance(ids, list):
            raise MalformedResponseError(f"llama-server's /tokenize answered {str(tokens)[:200]!r}")
        budget = request.options.max_new_tokens or 0
        if len(ids) + budget <= window:
            return
        fix = (
            "shorten the prompt or the conversation"
            if len(ids) >= window
            else f"lower max_new_tokens to at most {window - len(ids)}, or shorten the prompt"
        )
        raise ContextWindowError(
            f"the prompt is {len(ids)} tokens and may be followed by up to {budget} new tokens, but the context "
            f"window is {window} tokens (ModelOption.CONTEXT_WINDOW, and the server's own): {fix}. "
            f"Nothing was generated.",
            len(ids),
            budget,
            window,
        )

    def _generation(
        self, request: GenerationRequest, call: _Call, answer: protocol.Answer, *, stopped: bool = False
    ) -> Generation:
        self._check_identity(answer)
        meta: dict[str, Any] = {
            "finish_reason": "stopped" if stopped else answer.finish_reason,
            "server_kind": self.capabilities.kind,
        }
        if answer.timings:
            meta["timings"] = answer.timings
        if call.judging and answer.first_top_logprobs is not None:
            p_yes = protocol.p_yes_from_top(answer.first_top_logprobs, *protocol.JUDGE_WORDS)
            if p_yes is not None:
                meta["p_yes"] = p_yes
        if call.check and "p_yes" not in meta:
            verdict = _judge_verdict(answer.text)
            if verdict is not None:
                meta["check"] = verdict
        if request.format is not None and not stopped:  # a stopped answer is discarded by the caller
            self._validate_format(request.format, answer)
        text = _native_calls_as_text(answer) if request.tools and answer.tool_calls else answer.text
        text = enforcement.complete(request.options.constraint, text, meta) if not stopped else text
        return Generation(text, meta=meta, extra=self._extra(answer))

    def generate_raw(self, request: RawRequest) -> list[Generation]:
        """One ``/v1/completions`` request for all the raw prompts (no chat template); one answer each."""
        self._fresh()
        payload = self._raw_payload(request)
        with self._shared():
            data = self._post("/v1/completions", payload)
        return self._raw_generations(data, len(request.prompts))

    async def agenerate_raw(self, request: RawRequest) -> list[Generation]:
        """:meth:`generate_raw` natively async."""
        if self._stale:
            await asyncio.to_thread(self._fresh)
        payload = self._raw_payload(request)
        async with self._ashared():
            data = await self._apost("/v1/completions", payload)
        return self._raw_generations(data, len(request.prompts))

    def _raw_payload(self, request: RawRequest) -> dict[str, Any]:
        if request.format is not None:
            raise GencompError("format= is not supported for raw generation on the openai backend; use a chat context")
        if request.options.constraint is not None:
            raise GencompError(
                "a constraint needs a chat context on the openai backend; raw prompts are not constrained"
            )
        if request.options.thinking is not None:
            _thinking_fields(request.options.thinking, self.capabilities.kind, chat=False)
        if request.options.context_window is not None:
            raise UnknownModelOptionError(
                "ModelOption.CONTEXT_WINDOW is not checked for raw generation on the openai backend (the server "
                "refuses a prompt longer than its own window): remove the option"
            )
        fields = protocol.request_options(request.options.generate)
        return {
            **protocol.completions_payload(self.model_id_str, request.prompts, fields),
            **self.adapter_fields(request.prompts),
        }

    def _raw_generations(self, data: Any, n: int) -> list[Generation]:
        answers = protocol.parse_completions(data, n)
        return [Generation(a.text, meta={"finish_reason": a.finish_reason}, extra=self._extra(a)) for a in answers]

    def _shared(self) -> contextlib.AbstractContextManager[None]:
        return self._turns.shared() if self._turns is not None else contextlib.nullcontext()

    def _ashared(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self._turns.ashared() if self._turns is not None else contextlib.nullcontext()

    def _extra(self, answer: protocol.Answer) -> dict[str, Any]:
        info: dict[str, Any] = {"server": self.http.shown, "model": answer.model or self.model_id_str}
        prompt_n = answer.usage.get("prompt_tokens", answer.timings.get("prompt_n"))
        new_n = answer.usage.get("completion_tokens", answer.timings.get("predicted_n"))
        if prompt_n is not None:
            info["prompt_tokens"] = prompt_n
        if new_n is not None:
            info["new_tokens"] = new_n
        if "cache_n" in answer.timings:
            info["reused_tokens"] = answer.timings["cache_n"]
        if answer.model:
            info["response_model"] = answer.model
        return info

    def _validate_format(self, format: type[Any], answer: protocol.Answer) -> None:
        try:
            format.model_validate_json(answer.text)
        except pydantic.ValidationError as exc:
            hint = (
                " The answer was cut at the token limit: raise max_new_tokens."
                if answer.finish_reason == "length"
                else " The server may not enforce response_format json_schema."
            )
            raise MalformedResponseError(
                f"the server's answer does not match {format.__name__}'s JSON schema: {exc.errors()[:3]}.{hint}"
            ) from exc

    # -- requirement checks with aLoRA adapters on the server ------------------------------------

    def route_check(self, requirement: Requirement) -> tuple[str | None, str | None]:
        """``(adapter name, None)`` when the server's aLoRA answers ``requirement``; else ``(None, reason or None)``.

        An ``LLMaJRequirement`` or a requirement with a ``validation_fn`` is never an adapter's. An
        ``ALoraRequirement`` names its adapter (``"constraint"`` by default) and the reason says why it
        cannot run; another requirement goes to a ``"constraint"`` aLoRA when the server has one and
        ``default_to_constraint_checking_alora`` is true. An adapter the server applies as a plain LoRA
        (no invocation tokens, or a server that does not activate aLoRAs, such as stock vLLM) is never used.
        """
        if isinstance(requirement, LLMaJRequirement) or requirement.validation_fn is not None:
            return None, None
        if not requirement.description:
            return None, None
        explicit = isinstance(requirement, ALoraRequirement)
        name = (requirement.alora if isinstance(requirement, ALoraRequirement) else None) or "constraint"
        if not explicit and not self.default_to_constraint_checking_alora:
            return None, None
        adapter = self.capabilities.adapter(name)
        reason = self._unusable(name, adapter)
        if reason is None:
            return name, None
        return None, (reason if explicit or adapter is not None else None)

    def _unusable(self, name: str, adapter: ServerAdapter | None) -> str | None:
        caps = self.capabilities
        if adapter is None:
            return f"the server ({caps.kind}) has no adapter named {name!r} loaded"
        if not caps.alora:
            return (
                f"the server ({caps.kind}) serves adapter {name!r} as a plain LoRA applied to every token, "
                f"not as an activated LoRA: its verdicts would not be the trained adapter's"
            )
        if not adapter.is_alora:
            return (
                f"the server loaded {name!r} as a plain LoRA (no alora_invocation_tokens): convert the adapter with "
                f"llama.cpp's convert_lora_to_gguf.py from its aLoRA adapter_config.json"
            )
        return None

    def answer_checks(
        self,
        requirements: Sequence[Requirement],
        ctx: Context,
        model_options: dict[str, Any] | None = None,
        generate_logs: list[GenerateLog] | None = None,
    ) -> list[ModelOutputThunk | CheckFallback | None]:
        """The ``gencomp_check_requirements`` answers: a labelled output per check an aLoRA on the server
        answered, a ``CheckFallback`` (with a warning saying why) per check meant for an adapter that
        cannot answer it, ``None`` for the checks the model judges anyway.

        Before the first aLoRA check the adapter list is asked again: a server restarted with other
        adapters is probed anew, and its checks routed by what it serves now.
        """
        if self.capabilities.kind == LLAMA_CPP and any(self.route_check(r)[0] for r in requirements):
            self._verify_adapters()
        answers: list[ModelOutputThunk | CheckFallback | None] = []
        for requirement in requirements:
            name, reason = self.route_check(requirement)
            if name is not None:
                try:
                    answers.append(self._check_with_alora(requirement, ctx, name, model_options, generate_logs))
                    continue
                except GencompError as exc:
                    reason = f"aLoRA {name!r} on the server failed: {type(exc).__name__}: {exc}"
            if reason is None:
                answers.append(None)
                continue
            warnings.warn(f"{requirement!r}: {reason}; checking it with the model as a judge instead", stacklevel=4)
            answers.append(CheckFallback(reason))
        return answers

    def _verify_adapters(self) -> None:
        """Ask llama-server for its adapters again; probe anew when they are not the ones probed."""
        self._fresh()
        if llama_adapters(self.http.get("/lora-adapters")) != self.capabilities.adapters:
            self.reprobe("its adapters are not the ones it had")

    def _metadata_of(self, name: str, adapter: ServerAdapter) -> dict[str, Any] | None:
        """The adapter's ``gencomp_alora.json`` (``alora_metadata``, else a sidecar of the server's GGUF file on
        this machine), when it is there and was written for this adapter's invocation."""
        key = (name, adapter.path)
        if key in self._metadata:
            return self._metadata[key]
        found: dict[str, Any] | None = None
        given = self.alora_metadata.get(name)
        path = (given / "gencomp_alora.json" if given.is_dir() else given) if given is not None else None
        if path is None and adapter.path.endswith(".gguf"):
            path = metadata_path(adapter.path)
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise GencompError(f"{path}: not a JSON object ({exc}); rewrite it from the adapter's folder") from None
            prompt = data.get("generation_prompt") if isinstance(data, Mapping) else None
            if isinstance(data, Mapping) and (prompt is None or prompt == adapter.invocation_string):
                found = dict(data)
            elif given is not None:
                raise GencompError(
                    f"alora_metadata[{name!r}] ({path}) is for the invocation {prompt!r}, but the server's adapter "
                    f"{name!r} is invoked by {adapter.invocation_string!r}: it describes another adapter"
                )
        elif given is not None:
            raise GencompError(
                f"alora_metadata[{name!r}]: {path} is not a file (give the adapter's gencomp_alora.json)"
            )
        self._metadata[key] = found
        return found

    def _check_with_alora(
        self,
        requirement: Requirement,
        ctx: Context,
        name: str,
        model_options: dict[str, Any] | None,
        generate_logs: list[GenerateLog] | None,
        *,
        cache_prompt: bool = True,
    ) -> ModelOutputThunk:
        """Score ``requirement`` on the last output of ``ctx`` with the server's aLoRA ``name`` (one token's logprobs).

        See :meth:`check_with_alora` for the requests and what makes a verdict trusted.
        """
        adapter = self.capabilities.adapter(name)
        assert adapter is not None and adapter.invocation_string is not None
        start = time.perf_counter()
        options = self.translate_options(model_options)
        if ctx.last_output() is None:
            raise GencompError("the context has no model output to check")
        conv = self.chat_messages(ctx.render_for_generation(), options.system_prompt)
        conv.append({"role": "user", "content": requirement.description})
        rendered = self.http.post("/apply-template", {"messages": conv, "add_generation_prompt": False})
        if not isinstance(rendered, Mapping) or not isinstance(rendered.get("prompt"), str):
            raise MalformedResponseError(f"llama-server's /apply-template answered {str(rendered)[:200]!r}")
        before = rendered["prompt"]
        prompt = before + adapter.invocation_string
        n = len(self.capabilities.adapters)
        metadata = self._metadata_of(name, adapter)
        answers = self.alora_answers.get(name)
        if (
            answers is None
            and metadata
            and isinstance(metadata.get("yes"), str)
            and isinstance(metadata.get("no"), str)
        ):
            answers = (metadata["yes"], metadata["no"])
        yes, no = answers or ALORA_ANSWERS
        # The prefill names the aLoRA at 1: the server turns it off for a prompt without its invocation,
        # and a slot that ran a check keeps its cache only when the next request also names an aLoRA.
        # An invocation already inside the conversation would switch it on there: then scale 0.
        prefill_lora = protocol.lora_field(n, {} if adapter.invocation_string in before else {adapter.id: 1.0})
        trouble = ""
        for _ in range(CHECK_TRIES if cache_prompt else 1):
            slot: int | None = None
            expected: int | None = None
            if cache_prompt:
                pre = self.http.post("/completion", protocol.alora_prefill_payload(before, prefill_lora))
                pre_t = pre.get("timings") if isinstance(pre, Mapping) else None
                slot = pre.get("id_slot") if isinstance(pre, Mapping) else None
                if not isinstance(pre_t, Mapping) or not isinstance(slot, int):
                    raise MalformedResponseError(f"llama-server's prefill answered {str(pre)[:200]!r}")
                expected = int(pre_t.get("prompt_n", 0)) + int(pre_t.get("cache_n", 0)) - 1
            payload = protocol.alora_check_payload(prompt, n, adapter.id, cache_prompt=cache_prompt, id_slot=slot)
            with self._turns.exclusive() if self._turns is not None else contextlib.nullcontext():
                token, top, timings = protocol.parse_alora_check(self.http.post("/completion", payload))
            if not cache_prompt or (timings.get("id_slot") == slot and timings.get("cache_n") == expected):
                break
            trouble = (
                f"the server computed {timings.get('prompt_n')} tokens of the check in slot {timings.get('id_slot')} "
                f"where the prefill left {expected} in slot {slot}: another request took the slot between the two "
                f"(the check's own tokens would have been computed beside another client's, where llama-server may "
                f"apply the wrong adapter)"
            )
        else:
            raise MalformedResponseError(f"aLoRA {name!r}: {trouble}; {CHECK_TRIES} tries")
        p_yes = protocol.p_yes_from_top(top, (yes,), (no,))
        if p_yes is None or token.strip() not in (yes, no):
            # A trained check adapter answers its yes or no token; anything else means the server ran the
            # prompt without the adapter, so its verdict would not be the adapter's.
            raise MalformedResponseError(
                f"aLoRA {name!r} answered {token!r}, not {yes!r} or {no!r} (top tokens {sorted(top)}): "
                f"the server did not activate the adapter for this check"
            )
        thunk = ModelOutputThunk(token, meta={"timings": timings, "server_kind": self.capabilities.kind})
        log = GenerateLog(
            prompt=prompt,
            backend=backend_name(self),
            model_options=dict(options.merged),
            model_output=token,
            action=requirement,
            result=thunk,
            extra={
                "seconds": time.perf_counter() - start,
                "server": self.http.shown,
                "prompt_tokens": timings.get("prompt_n"),
                "reused_tokens": timings.get("cache_n", timings.get("tokens_cached")),
                "id_slot": timings.get("id_slot"),
            },
        )
        thunk.generate_log = log
        if generate_logs is not None:
            generate_logs.append(log)
        validation = metadata.get("validation") if metadata else None
        measured = validation_for(validation, requirement.description or "")
        verdict = CheckVerdict(
            p_yes > 0.5,
            p_yes,
            f"alora:{name}",
            reused_tokens=timings.get("cache_n"),
            computed_tokens=timings.get("prompt_n"),
            validated=measured.validated,
            accuracy=measured.accuracy,
            validation=measured.text,
        )
        if not cache_prompt:
            verdict = dataclasses.replace(
                verdict,
                state="uncertain",
                uncertain_reason="checked without the prompt cache, in one request: on a server shared with other "
                "clients, llama-server may have computed the conversation with another request's adapter",
            )
        elif abs(p_yes - 0.5) < ALORA_UNCERTAIN_MARGIN:
            verdict = dataclasses.replace(
                verdict,
                state="uncertain",
                uncertain_reason=f"p(yes)={p_yes:.2f} is within {ALORA_UNCERTAIN_MARGIN} of 0.5: on llama-server the "
                f"same check moves with how its tokens were batched (up to 0.13 measured)",
            )
        # the adapter's own rules, as in process: its calibrated margin, unmeasured kinds, a measured floor
        return label(thunk, with_measured_state(verdict, validation, measured))

    def check_with_alora(
        self, requirement: Requirement | str, ctx: Context, name: str = "constraint", *, cache_prompt: bool = True
    ) -> ModelOutputThunk:
        """Check ``requirement`` on the last output of ``ctx`` with the server's aLoRA ``name``, with no fallback.

        Three requests to llama-server: ``/apply-template`` renders the conversation with the requirement
        as a user turn; a prefill (``/completion``, one token, the adapter off) puts that prompt in a
        slot's cache, next to the conversation the slot already holds; the check (``/completion`` pinned
        to that slot with ``id_slot``, the adapter on, ``n_probs``) appends the adapter's invocation and
        computes only those few tokens. The verdict is trusted only when the server says it reused all
        the prefill left (``timings.cache_n``) in that slot: a check whose conversation had to be
        computed in the same request goes through llama-server's special case for an aLoRA's
        pre-invocation tokens, which another client's check, batched beside it, disturbs. Such a check
        is sent again (:data:`CHECK_TRIES` in all), then left to the judge. The answer must be the
        adapter's yes or no token. ``cache_prompt=False`` sends one request that recomputes the whole
        prompt (for comparison; its verdict is ``"uncertain"``). Raises when the adapter cannot be used
        (:meth:`route_check`'s reasons).
        """
        req = Requirement(requirement) if isinstance(requirement, str) else requirement
        if self.capabilities.kind == LLAMA_CPP:
            self._verify_adapters()
        reason = self._unusable(name, self.capabilities.adapter(name))
        if reason is not None:
            raise GencompError(reason)
        return self._check_with_alora(req, ctx, name, None, None, cache_prompt=cache_prompt)


def _first(value: float | None, env: float | None, default: float) -> float:
    return value if value is not None else env if env is not None else default


def _grammar_refused(exc: BadRequestError, payload: Mapping[str, Any]) -> ConstraintRefusedError | None:
    """llama-server's refusal of a request's GBNF ``grammar`` ("failed to parse grammar"), as gencomp's error."""
    if "grammar" not in payload or "grammar" not in str(exc).lower():
        return None
    return ConstraintRefusedError(
        f"{exc}. The server could not compile the request's GBNF grammar; nothing was generated (the enforce "
        "strategies generate without it and check instead)"
    )
