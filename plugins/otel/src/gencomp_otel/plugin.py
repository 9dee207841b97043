"""Entry-point module of gencomp-otel (loaded at discovery: OpenTelemetry is imported at the first span)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gencomp import hookimpl

if TYPE_CHECKING:
    from gencomp.tracing import Span


@hookimpl
def gencomp_span_started(span: Span) -> None:
    from gencomp_otel import observer

    observer().started(span)


@hookimpl
def gencomp_span_ended(span: Span) -> None:
    from gencomp_otel import observer

    observer().ended(span)
