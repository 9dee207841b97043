"""Where spans and metrics go: the application's providers, else an OTLP exporter set by the standard variables.

An application that set a global tracer or meter provider (``opentelemetry.trace.set_tracer_provider``)
gets gencomp's spans there. When it set none and ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``) is set, gencomp-otel sets one up
itself, once, with the SDK and the OTLP exporter (the ``gencomp-otel[otlp]`` extra), which read the
other ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout, protocol). ``OTEL_SDK_DISABLED=true``,
``OTEL_TRACES_EXPORTER=none`` and ``OTEL_METRICS_EXPORTER=none`` are honoured.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

from opentelemetry import metrics, trace

__all__ = ["configured_meter_provider", "configured_tracer_provider", "install_from_environment"]

_lock = threading.Lock()
_installed = False


def _is_set(provider: Any, noop: type) -> bool:
    # The API's stand-ins until an application sets a provider: a proxy (its class is private in the
    # metrics API, hence the name), or a no-op one.
    return not isinstance(provider, noop) and type(provider).__name__ not in (
        "ProxyTracerProvider",
        "_ProxyMeterProvider",
    )


def configured_tracer_provider() -> Any | None:
    """The global tracer provider when an application (or :func:`install_from_environment`) set one, else ``None``."""
    provider = trace.get_tracer_provider()
    return provider if _is_set(provider, trace.NoOpTracerProvider) else None


def configured_meter_provider() -> Any | None:
    """The global meter provider when one was set, else ``None``."""
    provider = metrics.get_meter_provider()
    return provider if _is_set(provider, metrics.NoOpMeterProvider) else None


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _wanted(signal: str) -> bool:
    """Whether the OTLP variables ask for ``signal`` ("traces" or "metrics") to be exported."""
    if _env("OTEL_SDK_DISABLED").lower() == "true":
        return False
    exporter = _env(f"OTEL_{signal.upper()}_EXPORTER").lower() or "otlp"
    if exporter == "none":
        return False
    if exporter != "otlp":
        warnings.warn(
            f"gencomp-otel: OTEL_{signal.upper()}_EXPORTER={exporter!r} is not set up by gencomp-otel (it sets up "
            "'otlp' only); set up that exporter in your application, or use 'otlp'",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return bool(_env("OTEL_EXPORTER_OTLP_ENDPOINT") or _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"))


def _protocol(signal: str) -> str:
    return (
        _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    )


def install_from_environment() -> None:
    """Set up the global providers from the ``OTEL_*`` variables, once, where the application set none."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        _installed = True
        traces = _wanted("traces") and configured_tracer_provider() is None
        meters = _wanted("metrics") and configured_meter_provider() is None
        if not (traces or meters):
            return
        try:
            from opentelemetry.sdk.resources import Resource
        except ImportError:
            warnings.warn(
                "gencomp-otel: OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed, so "
                "nothing is exported; install it with `pip install 'gencomp-otel[otlp]'`",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
        if traces:
            _install_traces(resource)
        if meters:
            _install_metrics(resource)


def _exporter(signal: str) -> Any:
    protocol = _protocol(signal)
    module = {"http/protobuf": "http", "grpc": "grpc"}.get(protocol)
    if module is None:
        warnings.warn(
            f"gencomp-otel: OTLP protocol {protocol!r} is not one of 'http/protobuf' and 'grpc', so no {signal} are "
            "exported; fix OTEL_EXPORTER_OTLP_PROTOCOL",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    name = {"traces": "trace_exporter", "metrics": "metric_exporter"}[signal]
    cls = {"traces": "OTLPSpanExporter", "metrics": "OTLPMetricExporter"}[signal]
    dist = f"opentelemetry-exporter-otlp-proto-{module}"
    try:
        mod = __import__(f"opentelemetry.exporter.otlp.proto.{module}.{name}", fromlist=[cls])
    except ImportError:
        warnings.warn(
            f"gencomp-otel: OTLP over {protocol} needs {dist}, which is not installed, so no {signal} are "
            f"exported; install it with `pip install {dist}`",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    return getattr(mod, cls)()


def _install_traces(resource: Any) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = _exporter("traces")
    if exporter is None:
        return
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def _install_metrics(resource: Any) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = _exporter("metrics")
    if exporter is None:
        return
    metrics.set_meter_provider(
        MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(exporter)])
    )
