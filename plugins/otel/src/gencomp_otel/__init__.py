"""gencomp-otel: every gencomp call, attempt, generation and requirement check as an OpenTelemetry span.

Installed, it needs no change to the program: spans go to the tracer provider the application set
up, or, when it set none, to the OTLP endpoint of ``OTEL_EXPORTER_OTLP_ENDPOINT`` (with the
``gencomp-otel[otlp]`` extra). Generations follow the OpenTelemetry GenAI semantic conventions
(:data:`SEMCONV_VERSION`) and feed the GenAI client metrics; prompts and answers are recorded only
when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``. :func:`configure` sets providers
or content capture in code instead.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from gencomp_otel.conventions import SEMCONV_VERSION

if TYPE_CHECKING:
    from gencomp_otel.bridge import Observer

__version__ = "0.1.0"

__all__ = ["SEMCONV_VERSION", "__version__", "configure", "observer", "observing"]

_observer: Observer | None = None
_lock = threading.Lock()
_endpoint: bool | None = None
_ENDPOINTS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)


def observing() -> bool:
    """Whether gencomp's spans can go anywhere: :func:`configure` was called, OpenTelemetry is imported (the
    application may have set a provider), or an OTLP endpoint variable was set at the first span.

    When none holds, the plugin's hooks return at once and OpenTelemetry is never imported.
    """
    global _endpoint
    if _observer is not None or "opentelemetry.trace" in sys.modules:
        return True
    if _endpoint is None:
        _endpoint = any(os.environ.get(name) for name in _ENDPOINTS)
    return _endpoint


def observer() -> Observer:
    """The :class:`~gencomp_otel.bridge.Observer` the plugin's hooks use (made at the first span)."""
    global _observer
    if _observer is None:
        with _lock:
            if _observer is None:
                from gencomp_otel.bridge import Observer

                _observer = Observer()
    return _observer


def configure(
    tracer_provider: Any = None, meter_provider: Any = None, *, capture_content: bool | None = None
) -> Observer:
    """Send gencomp's spans to ``tracer_provider`` and its metrics to ``meter_provider`` (``None``: the global ones).

    ``capture_content`` records prompts, answers and check reasons (``None``: as
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` says). Applies from the next call that
    starts; returns the new observer.
    """
    global _observer
    from gencomp_otel.bridge import Observer

    with _lock:
        _observer = Observer(tracer_provider, meter_provider, capture_content=capture_content)
        return _observer
