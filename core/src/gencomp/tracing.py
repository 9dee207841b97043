"""Spans: the units of work of a call, for observers (tracing, metrics) built on hooks.

A :class:`Span` is one piece of work with a start, an end and a parent: a session **call**
(``instruct``, ``chat``, ``act``, ``validate``), an **attempt** of that call (one generation step of
its strategy, with the candidates it produced), a **generation** (one ``generate_from_context``, a
batch of candidates, or a raw batch) and a **check** (one requirement checked against one output).
gencomp opens and ends spans around that work and reports them to ``gencomp_span_started`` and
``gencomp_span_ended`` (see :mod:`gencomp.hookspecs`); an observer such as ``gencomp-otel`` turns
them into its own spans.

When no plugin implements those hooks, no span is made: the cost is one check of the hook's
implementations per unit of work. Parents follow :mod:`contextvars`, which gencomp carries into
the worker threads and tasks it starts, so one logical call is one tree whatever thread or event
loop ran its parts.

Attributes are gencomp's own names (documented per kind in :data:`SPAN_ATTRIBUTES`); ``refs``
holds the live objects the work was about (the backend, the output, the log...), for observers
that need more than the attributes.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gencomp import plugins

__all__ = [
    "SPAN_ATTRIBUTES",
    "SPAN_EVENTS",
    "Span",
    "SpanKind",
    "current_span",
    "end_span",
    "observed",
    "record_span",
    "span",
    "start_span",
    "using",
]

SpanKind = Literal["call", "attempt", "generation", "check"]

SPAN_ATTRIBUTES: dict[str, dict[str, str]] = {
    "call": {
        "gencomp.call": "the session method: instruct, chat, act or validate",
        "gencomp.strategy": "the strategy's name (calls that generate)",
        "gencomp.loop_budget": "how many generations the strategy may spend",
        "gencomp.requirements": "how many requirements the call checks",
        "gencomp.success (at end)": "whether the kept answer met every requirement",
        "gencomp.attempts (at end)": "how many candidates were generated",
        "gencomp.selected (at end)": "the attempt number of the kept answer",
        "gencomp.selection (at end)": "why it was kept",
        "gencomp.generated_tokens (at end)": "answer tokens generated over all attempts",
        "gencomp.check_tokens_computed (at end)": "tokens model checks ran through the model",
        "gencomp.check_tokens_reused (at end)": "tokens model checks read from a cache",
    },
    "attempt": {
        "gencomp.attempt": "the number of the step's first candidate (from 1)",
        "gencomp.candidates": "how many candidates the step generates",
        "gencomp.passed (at end)": "how many of them met every requirement",
        "gencomp.early_stops (at end)": "how many were stopped early by a check failing on a prefix",
        "gencomp.early_stop_reasons (at end)": "why, one entry per stopped candidate",
    },
    "generation": {
        "gencomp.operation": "chat (a chat context) or text_completion (a text prompt, a raw batch)",
        "gencomp.backend": "the backend's registered name (or class name)",
        "gencomp.model": "the model id asked for",
        "gencomp.choices": "how many outputs the one generation produces",
        "gencomp.stream": "whether the answer was streamed to a consumer",
        "gencomp.check": "true when the generation answers a requirement check (the model as judge)",
        "gencomp.options (at end)": "the merged options, in ModelOption keys (GenerateLog.model_options)",
        "gencomp.input_tokens (at end)": "prompt tokens, where the backend counts them",
        "gencomp.output_tokens (at end)": "generated tokens, where the backend counts them",
        "gencomp.finish_reasons (at end)": "why each output ended (stop, length, stopped...), where known",
        "gencomp.endpoint": "the URL of the server that generates (Backend.endpoint); absent in process",
        "gencomp.response_model (at end)": "the model the server says answered, where it says (GenerateLog.extra)",
        "gencomp.first_chunk_ns (at end)": "wall-clock ns when the first streamed piece reached gencomp (streams)",
    },
    "check": {
        "gencomp.requirement": "the requirement's description",
        "gencomp.candidate (if several)": "the attempt number of the output under test",
        "gencomp.check_path (at end)": "what decided it: code:<kind>, alora:<name>, llm-as-a-judge",
        "gencomp.passed (at end)": "the verdict (absent when the check did not run)",
        "gencomp.state (at end)": "decided, uncertain, or not run",
        "gencomp.p_yes (at end)": "the model's probability of yes, for model paths",
        "gencomp.reused_tokens (at end)": "tokens the check read from a cache",
        "gencomp.computed_tokens (at end)": "tokens the check ran through the model",
        "gencomp.reason (at end)": "a code check's reason, a fallback's reason",
    },
}
"""Every attribute gencomp sets, per span kind: name -> meaning. ``(at end)`` attributes are set before
``gencomp_span_ended``; the others at ``gencomp_span_started``."""

SPAN_EVENTS: dict[str, str] = {
    "gencomp.retry": "a backend sent a request again after a transient failure: gencomp.retry (the retry's "
    "number, from 1), error.type (what failed), gencomp.delay_s (the wait before it)",
}
"""Events a span may carry (:attr:`Span.events`), by name -> meaning; backends add them with :meth:`Span.event`."""

_ids = itertools.count(1)


@dataclass(eq=False)
class Span:
    """One unit of work: its ``kind``, a ``name`` for people, ``attributes``, and its ``parent``.

    ``start_ns``/``end_ns`` are wall-clock nanoseconds (:func:`time.time_ns`); ``error`` is the
    exception that ended the work (``cancelled`` when the caller cancelled it). ``refs`` holds the
    objects the work was about (``backend``, ``action``, ``request`` (the ``GenerationRequest`` or
    ``RawRequest`` a backend got), ``outputs``, ``logs``, ``requirement``, ``result``...). ``state``
    is for observers: each keeps its own data under its own key. ``events`` are ``(name, time_ns,
    attributes)`` of moments within the work (:data:`SPAN_EVENTS`).
    """

    kind: SpanKind
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    parent: Span | None = None
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: int | None = None
    error: BaseException | None = None
    cancelled: bool = False
    refs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    def event(self, name: str, **attributes: Any) -> None:
        """Record that ``name`` happened now (observers see it in :attr:`events` when the span ends)."""
        self.events.append((name, time.time_ns(), {k: v for k, v in attributes.items() if v is not None}))

    def set(self, **attributes: Any) -> None:
        """Set attributes; ``None`` values are left out."""
        self.attributes.update({k: v for k, v in attributes.items() if v is not None})

    @property
    def root(self) -> Span:
        """The outermost span of this span's tree."""
        s = self
        while s.parent is not None:
            s = s.parent
        return s


_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("gencomp_span", default=None)


def current_span() -> Span | None:
    """The span of the work running in this context, or ``None``."""
    return _current.get()


def observed() -> bool:
    """Whether any plugin observes spans (implements ``gencomp_span_started`` or ``gencomp_span_ended``)."""
    relay = plugins.hook()
    return bool(relay.gencomp_span_started.get_hookimpls() or relay.gencomp_span_ended.get_hookimpls())


@contextlib.contextmanager
def span(kind: SpanKind, name: str, attributes: Mapping[str, Any] | None = None, **refs: Any) -> Iterator[Span | None]:
    """Run the body as a span of ``kind``; yields the :class:`Span`, or ``None`` when nobody observes spans.

    The span is the current one for the body (child spans find it as their parent); an exception
    ends it with ``error`` set (and ``cancelled`` for a cancellation) and propagates.
    """
    if not observed():
        yield None
        return
    s = Span(kind, name, {k: v for k, v in (attributes or {}).items() if v is not None}, _current.get(), refs=refs)
    relay = plugins.hook()
    relay.gencomp_span_started(span=s)
    token = _current.set(s)
    try:
        yield s
    except BaseException as exc:
        s.error = exc
        s.cancelled = _is_cancellation(exc)
        raise
    finally:
        _current.reset(token)
        s.end_ns = time.time_ns()
        relay.gencomp_span_ended(span=s)


def start_span(
    kind: SpanKind, name: str, attributes: Mapping[str, Any] | None = None, *, parent: Span | None = None, **refs: Any
) -> Span | None:
    """Start a span that :func:`end_span` ends later (work that is not one block of code); ``None`` when unobserved.

    Its parent is ``parent``, else the current span; it does not become the current span (see :func:`using`).
    """
    if not observed():
        return None
    s = Span(
        kind,
        name,
        {k: v for k, v in (attributes or {}).items() if v is not None},
        parent if parent is not None else _current.get(),
        refs=refs,
    )
    plugins.hook().gencomp_span_started(span=s)
    return s


def end_span(s: Span | None, error: BaseException | None = None) -> None:
    """End a span of :func:`start_span` (nothing for ``None`` or a span already ended)."""
    if s is None or s.end_ns is not None:
        return
    if error is not None:
        s.error = error
        s.cancelled = _is_cancellation(error)
    s.end_ns = time.time_ns()
    plugins.hook().gencomp_span_ended(span=s)


@contextlib.contextmanager
def using(s: Span | None) -> Iterator[None]:
    """Run the body with ``s`` as the current span (the parent of the spans it starts); ``None`` changes nothing."""
    if s is None:
        yield
        return
    token = _current.set(s)
    try:
        yield
    finally:
        _current.reset(token)


def record_span(
    kind: SpanKind,
    name: str,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: Span | None = None,
    error: BaseException | None = None,
    **refs: Any,
) -> Span | None:
    """Report a span of work that already happened (a check answered inside a batch); ``None`` when unobserved.

    Its parent is ``parent``, else the current span.
    """
    if not observed():
        return None
    s = Span(
        kind,
        name,
        {k: v for k, v in (attributes or {}).items() if v is not None},
        parent if parent is not None else _current.get(),
        start_ns,
        end_ns,
        error,
        _is_cancellation(error) if error is not None else False,
        refs,
    )
    relay = plugins.hook()
    relay.gencomp_span_started(span=s)
    relay.gencomp_span_ended(span=s)
    return s


def _is_cancellation(exc: BaseException) -> bool:
    from gencomp.streaming import GenerationCancelled

    return isinstance(exc, GenerationCancelled) or type(exc).__name__ == "CancelledError"
