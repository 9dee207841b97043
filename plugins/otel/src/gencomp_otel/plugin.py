"""Entry-point module of gencomp-otel (loaded at discovery: OpenTelemetry is imported at the first span)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gencomp_otel  # light: OpenTelemetry itself is imported with the observer
from gencomp import hookimpl

if TYPE_CHECKING:
    from gencomp.tracing import Span


@hookimpl
def gencomp_span_started(span: Span) -> None:
    if gencomp_otel.observing():
        gencomp_otel.observer().started(span)


@hookimpl
def gencomp_span_ended(span: Span) -> None:
    if gencomp_otel.observing():
        gencomp_otel.observer().ended(span)
