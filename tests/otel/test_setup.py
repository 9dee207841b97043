"""Where spans go when the application set no provider: the standard OTEL_* variables, read once, in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import warnings\n"
    "warnings.simplefilter('always')\n"
    "from opentelemetry import metrics, trace\n"
    "from gencomp_otel.setup import install_from_environment\n"
    "install_from_environment()\n"
    "print(type(trace.get_tracer_provider()).__module__, type(metrics.get_meter_provider()).__module__)\n"
)


def probe(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | variables
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)


def test_an_otlp_endpoint_sets_up_the_sdk_for_traces_and_metrics():
    done = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert done.stdout.split() == ["opentelemetry.sdk.trace", "opentelemetry.sdk.metrics._internal"]
    assert done.stderr == ""


def test_no_endpoint_sets_up_nothing():
    assert probe().stdout.split() == ["opentelemetry.trace", "opentelemetry.metrics._internal"]


def test_a_signal_set_to_none_is_not_set_up():
    done = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", OTEL_METRICS_EXPORTER="none")
    assert done.stdout.split() == ["opentelemetry.sdk.trace", "opentelemetry.metrics._internal"]


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, "OTLP protocol 'thrift' is not one of"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "pip install opentelemetry-exporter-otlp-proto-grpc"),
        ({"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_METRICS_EXPORTER": "none"}, "OTEL_TRACES_EXPORTER='zipkin'"),
    ],
)
def test_a_setting_it_cannot_honour_is_said_and_nothing_is_exported(variables, says):
    done = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", **variables)
    assert says in done.stderr and "RuntimeWarning" in done.stderr
    assert done.stdout.split()[0] == "opentelemetry.trace"  # no tracer provider was set up
