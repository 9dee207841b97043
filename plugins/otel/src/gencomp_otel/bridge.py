"""gencomp's spans (:mod:`gencomp.tracing`) as OpenTelemetry spans, and the GenAI client metrics.

Each gencomp span becomes one OpenTelemetry span with the same parent, start and end: a session call
(``instruct``, ``chat``, ``act``, ``validate``), an attempt, a generation, a requirement check. A
generation follows the GenAI inference-span conventions (name ``{gen_ai.operation.name}
{gen_ai.request.model}``; ``CLIENT`` kind for a backend that calls a server, ``INTERNAL`` in process);
the others carry gencomp's own ``gencomp.*`` attributes. Parents come from gencomp's spans, not from
the thread or task that ends them, so one call is one trace wherever its parts ran; a call made under
an application's current span becomes its child.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from gencomp.model_options import ModelOption
from gencomp.tracing import Span
from gencomp_otel import conventions as c
from gencomp_otel.setup import configured_meter_provider, configured_tracer_provider, install_from_environment

__all__ = ["Observer", "provider_name"]

KEY = "gencomp_otel"
"""The key of this plugin's data in :attr:`gencomp.tracing.Span.state`."""

_CONTENT = frozenset({"gencomp.reason", "gencomp.early_stop_reasons"})
"""gencomp attributes that may quote the answer (a check's reason): recorded only with content capture on."""

_NOT_FORWARDED = frozenset(
    {
        "gencomp.options",  # holds the system prompt and tool schemas: its parts go out as gen_ai.request.*
        "gencomp.operation",
        "gencomp.model",
        "gencomp.choices",
        "gencomp.stream",
        "gencomp.endpoint",
        "gencomp.input_tokens",
        "gencomp.output_tokens",
        "gencomp.finish_reasons",
        "gencomp.response_model",
        "gencomp.first_chunk_ns",
    }
)
"""Generation attributes that go out under their GenAI names instead."""

_PROVIDERS = {"gencomp_hf_backend": "huggingface", "gencomp_openai": "openai"}

_REQUEST_OPTIONS: tuple[tuple[str, str, type], ...] = (
    (ModelOption.TEMPERATURE, c.REQUEST_TEMPERATURE, float),
    ("top_p", c.REQUEST_TOP_P, float),
    ("top_k", c.REQUEST_TOP_K, float),
    (ModelOption.MAX_NEW_TOKENS, c.REQUEST_MAX_TOKENS, int),
    (ModelOption.SEED, c.REQUEST_SEED, int),
    ("frequency_penalty", c.REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", c.REQUEST_PRESENCE_PENALTY, float),
)
"""Merged-option keys (``ModelOption`` keys, or the backends' own names) and the request attribute each gives."""


def provider_name(backend: Any) -> str:
    """``gen_ai.provider.name`` of a backend: the kind of server a remote backend found, else its plugin's name.

    The OpenAI-compatible backend reports the server it probed (``llama.cpp``, ``vllm``, ``ollama``;
    ``openai`` for any other); the HF backend ``huggingface``; another backend the name of its
    top-level package without ``gencomp_``.
    """
    kind = getattr(getattr(backend, "capabilities", None), "kind", None)
    if isinstance(kind, str) and kind:
        return "openai" if kind == "openai-compatible" else kind
    package = type(backend).__module__.split(".")[0]
    return _PROVIDERS.get(package, package.removeprefix("gencomp_"))


def _server(endpoint: str | None) -> tuple[str, int] | None:
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _value(v: Any) -> Any:
    """``v`` as an OpenTelemetry attribute value (a primitive or a list of one kind); ``None`` to leave it out."""
    if isinstance(v, str | bool | int | float):
        return v
    if isinstance(v, Sequence) and all(isinstance(x, str) for x in v):
        return list(v)
    if isinstance(v, Sequence) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        return list(v)
    return None if v is None else str(v)


def _capture_from_env() -> bool:
    raw = os.environ.get(c.CAPTURE_CONTENT_ENV, "")
    value = raw.strip().lower()
    if value in c.CAPTURE_ON:
        return True
    if value not in c.CAPTURE_OFF:
        warnings.warn(
            f"gencomp-otel: {c.CAPTURE_CONTENT_ENV}={raw!r} is not understood, so prompts and answers are not "
            "recorded; set it to 'true' to record them on the spans, or 'false'",
            RuntimeWarning,
            stacklevel=2,
        )
    return False


class Observer:
    """Makes OpenTelemetry spans and metrics of gencomp's spans (the plugin's hooks call :meth:`started`/:meth:`ended`).

    ``tracer_provider`` / ``meter_provider``: where to send them (default: the global providers, set
    up from the ``OTEL_*`` variables when the application set none). ``capture_content``: record
    prompts and answers (``gen_ai.input.messages``, ``gen_ai.output.messages``) and check reasons;
    ``None`` reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (off unless ``true``).
    With no provider anywhere, a span costs a type check and nothing is made.
    """

    def __init__(
        self, tracer_provider: Any = None, meter_provider: Any = None, *, capture_content: bool | None = None
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.capture_content = _capture_from_env() if capture_content is None else capture_content
        self._tracers: dict[int, Any] = {}
        self._instruments: dict[int, tuple[Any, Any, Any]] = {}
        self._lock = threading.Lock()

    # -- providers --------------------------------------------------------------------------------

    def _tracer(self) -> Any | None:
        if self.tracer_provider is not None:
            provider = self.tracer_provider
        else:
            install_from_environment()  # once; a flag after
            provider = configured_tracer_provider()
            if provider is None:
                return None
        tracer = self._tracers.get(id(provider))
        if tracer is None:
            from gencomp_otel import __version__

            tracer = provider.get_tracer("gencomp_otel", __version__, schema_url=c.SCHEMA_URL)
            self._tracers[id(provider)] = tracer
        return tracer

    def _meters(self) -> tuple[Any, Any, Any] | None:
        if self.meter_provider is not None:
            provider = self.meter_provider
        else:
            install_from_environment()
            provider = configured_meter_provider()
            if provider is None:
                return None
        instruments = self._instruments.get(id(provider))
        if instruments is None:
            from gencomp_otel import __version__

            with self._lock:
                meter = provider.get_meter("gencomp_otel", __version__, schema_url=c.SCHEMA_URL)
                instruments = (
                    meter.create_histogram(
                        c.OPERATION_DURATION, unit="s", description="GenAI operation duration.",
                        explicit_bucket_boundaries_advisory=list(c.DURATION_BUCKETS),
                    ),
                    meter.create_histogram(
                        c.TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used.",
                        explicit_bucket_boundaries_advisory=list(c.TOKEN_BUCKETS),
                    ),
                    meter.create_histogram(
                        c.TIME_TO_FIRST_CHUNK, unit="s",
                        description="Time to receive the first chunk, from when the client issues the generation "
                        "request to when the first chunk is received in the response stream.",
                        explicit_bucket_boundaries_advisory=list(c.DURATION_BUCKETS),
                    ),
                )  # fmt: skip
                self._instruments[id(provider)] = instruments
        return instruments

    # -- the hooks --------------------------------------------------------------------------------

    def started(self, s: Span) -> None:
        """Start the OpenTelemetry span of ``s`` (under its parent's; a root under the current context)."""
        if s.parent is None:
            tracer = self._tracer()
            if tracer is None:
                return
            parent_context = None  # the application's current span, if any, becomes the parent
        else:
            parent = s.parent.state.get(KEY)
            if parent is None:  # the parent started while nothing was traced
                return
            tracer = parent["tracer"]
            parent_context = trace.set_span_in_context(parent["span"])
        if s.kind == "generation":
            name, kind, attributes = _generation_start(s)
        else:
            name, kind, attributes = s.name, SpanKind.INTERNAL, self._gencomp_attributes(s.attributes)
        span = tracer.start_span(name, context=parent_context, kind=kind, attributes=attributes, start_time=s.start_ns)
        state: dict[str, Any] = {"tracer": tracer, "span": span, "token": None}
        if s.kind == "generation" and s.end_ns is None:
            # Current for the generation's own work, so that spans made inside it (an instrumented HTTP
            # client) are its children; a generation starts and ends in one block of one context.
            state["token"] = otel_context.attach(trace.set_span_in_context(span))
        s.state[KEY] = state

    def ended(self, s: Span) -> None:
        """End the OpenTelemetry span of ``s`` with its final attributes and error; record a generation's metrics."""
        state = s.state.get(KEY)
        if s.kind == "generation":
            self._record_metrics(s)
        if state is None:
            return
        span = state["span"]
        if state["token"] is not None and trace.get_current_span() is span:
            otel_context.detach(state["token"])
        if span.is_recording():
            if s.kind == "generation":
                span.set_attributes(self._generation_end(s))
            else:
                span.set_attributes(self._gencomp_attributes(s.attributes))
            for name, time_ns, attributes in s.events:
                span.add_event(
                    name, {k: v for k, v in ((k, _value(v)) for k, v in attributes.items()) if v is not None}, time_ns
                )
            if s.error is not None:
                error_type = type(s.error).__qualname__
                span.set_attribute(c.ERROR_TYPE, error_type)
                if s.cancelled:
                    span.set_attribute("gencomp.cancelled", True)
                span.record_exception(s.error, timestamp=s.end_ns)
                span.set_status(Status(StatusCode.ERROR, f"{error_type}: {s.error}"))
        span.end(end_time=s.end_ns)

    # -- attributes -------------------------------------------------------------------------------

    def _gencomp_attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in attributes.items():
            if k in _CONTENT and not self.capture_content:
                continue
            value = _value(v)
            if value is not None:
                out[k] = value
        return out

    def _generation_end(self, s: Span) -> dict[str, Any]:
        a = s.attributes
        out: dict[str, Any] = {}
        options = a.get("gencomp.options") or {}
        for key, name, kind in _REQUEST_OPTIONS:
            v = options.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[name] = kind(v)
        stops = options.get("stop", options.get("stop_strings"))
        if isinstance(stops, str):
            stops = [stops]
        if isinstance(stops, Sequence) and stops and all(isinstance(x, str) for x in stops):
            out[c.REQUEST_STOP_SEQUENCES] = list(stops)
        if a.get("gencomp.finish_reasons"):
            out[c.RESPONSE_FINISH_REASONS] = list(a["gencomp.finish_reasons"])
        if isinstance(a.get("gencomp.input_tokens"), int):
            out[c.USAGE_INPUT_TOKENS] = a["gencomp.input_tokens"]
        if isinstance(a.get("gencomp.output_tokens"), int):
            out[c.USAGE_OUTPUT_TOKENS] = a["gencomp.output_tokens"]
        response_model = _response_model(s)
        if response_model:
            out[c.RESPONSE_MODEL] = response_model
        first = _time_to_first_chunk(s)
        if first is not None:
            out[c.RESPONSE_TIME_TO_FIRST_CHUNK] = first
        if self.capture_content:
            out.update(_messages(s))
        out.update(self._gencomp_attributes({k: v for k, v in a.items() if k not in _NOT_FORWARDED}))
        return out

    # -- metrics ----------------------------------------------------------------------------------

    def _record_metrics(self, s: Span) -> None:
        if s.end_ns is None:
            return
        instruments = self._meters()
        if instruments is None:
            return
        duration, tokens, first_chunk = instruments
        a = s.attributes
        attributes: dict[str, Any] = {
            c.OPERATION_NAME: a.get("gencomp.operation", "chat"),
            c.PROVIDER_NAME: provider_name(s.refs.get("backend")),
        }
        if a.get("gencomp.model"):
            attributes[c.REQUEST_MODEL] = a["gencomp.model"]
        response_model = _response_model(s)
        if response_model:
            attributes[c.RESPONSE_MODEL] = response_model
        server = _server(a.get("gencomp.endpoint"))
        if server is not None:
            attributes[c.SERVER_ADDRESS], attributes[c.SERVER_PORT] = server
        timed = dict(attributes)
        if s.error is not None:
            timed[c.ERROR_TYPE] = type(s.error).__qualname__
        duration.record((s.end_ns - s.start_ns) / 1e9, timed)
        if s.error is None:
            for key, token_type in (("gencomp.input_tokens", "input"), ("gencomp.output_tokens", "output")):
                if isinstance(a.get(key), int):
                    tokens.record(a[key], {**attributes, c.TOKEN_TYPE: token_type})
        first = _time_to_first_chunk(s)
        if first is not None:
            first_chunk.record(first, attributes)


def _generation_start(s: Span) -> tuple[str, SpanKind, dict[str, Any]]:
    a = s.attributes
    operation = a.get("gencomp.operation", "chat")
    model = a.get("gencomp.model")
    attributes: dict[str, Any] = {
        c.OPERATION_NAME: operation,
        c.PROVIDER_NAME: provider_name(s.refs.get("backend")),
    }
    if model:
        attributes[c.REQUEST_MODEL] = model
    choices = a.get("gencomp.choices", 1)
    if choices != 1:
        attributes[c.REQUEST_CHOICE_COUNT] = choices
    if a.get("gencomp.stream"):
        attributes[c.REQUEST_STREAM] = True
    server = _server(a.get("gencomp.endpoint"))
    if server is not None:
        attributes[c.SERVER_ADDRESS], attributes[c.SERVER_PORT] = server
    for k in ("gencomp.backend", "gencomp.check"):
        if k in a:
            attributes[k] = _value(a[k])
    name = f"{operation} {model}" if model else operation
    return name, SpanKind.CLIENT if server is not None else SpanKind.INTERNAL, attributes


def _response_model(s: Span) -> str | None:
    """The model that answered: as the server said, or the model asked for when it runs in this process."""
    model = s.attributes.get("gencomp.response_model")
    if isinstance(model, str) and model:
        return model
    if not s.attributes.get("gencomp.endpoint") and s.error is None:
        return s.attributes.get("gencomp.model") or None
    return None


def _time_to_first_chunk(s: Span) -> float | None:
    first = s.attributes.get("gencomp.first_chunk_ns")
    if not s.attributes.get("gencomp.stream") or not isinstance(first, int):
        return None
    return max(0, first - s.start_ns) / 1e9


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    if isinstance(content, Sequence):
        return [{"type": "text", "content": p["text"]} for p in content if isinstance(p, Mapping) and "text" in p]
    return []


def _input_message(m: Mapping[str, Any]) -> dict[str, Any]:
    role = str(m.get("role", "user"))
    if role == "tool":
        parts: list[dict[str, Any]] = [
            {"type": "tool_call_response", "id": m.get("tool_call_id"), "response": m.get("content")}
        ]
    else:
        parts = _text_parts(m.get("content"))
    for call in m.get("tool_calls") or ():
        function = call.get("function", {}) if isinstance(call, Mapping) else {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    return {"role": role, "parts": parts}


def _messages(s: Span) -> dict[str, str]:
    """``gen_ai.input.messages`` and ``gen_ai.output.messages`` (JSON, the conventions' schemas) of a generation."""
    out: dict[str, str] = {}
    request = s.refs.get("request")
    messages = getattr(request, "messages", None)
    prompts = getattr(request, "prompts", None)
    prompt = getattr(request, "prompt", None)
    if messages:
        inputs = [_input_message(m) for m in messages]
    elif prompts:
        inputs = [{"role": "user", "parts": _text_parts(p)} for p in prompts]
    elif isinstance(prompt, str):
        inputs = [{"role": "user", "parts": _text_parts(prompt)}]
    else:
        inputs = []
    if inputs:
        out[c.INPUT_MESSAGES] = json.dumps(inputs, ensure_ascii=False, default=str)
    outputs = s.refs.get("outputs") or []
    if outputs:
        answers = []
        for o in outputs:
            parts = _text_parts(o.value or "")
            for call in (getattr(o, "tool_calls", None) or {}).values():
                parts.append(
                    {"type": "tool_call", "name": getattr(call, "name", None), "arguments": getattr(call, "args", None)}
                )
            reason = o.meta.get("finish_reason")
            answers.append({"role": "assistant", "parts": parts, "finish_reason": str(reason) if reason else "unknown"})
        out[c.OUTPUT_MESSAGES] = json.dumps(answers, ensure_ascii=False, default=str)
    return out
