"""Fixtures of gencomp-otel's tests: the OpenTelemetry SDK's in-memory exporter and metric reader, a tiny model.

The plugin is the installed distribution, found through its entry point; each test gives it SDK
providers of its own through ``gencomp_otel.configure`` (the global providers stay unset) and puts
the default back after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import gencomp_otel
from gencomp import ModelOption

from .telemetry import Telemetry, make_telemetry


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """The plugin sending to in-memory SDK providers, message content off."""
    yield make_telemetry()
    gencomp_otel.configure()


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_path: str) -> Any:
    """The HF backend on the tiny model, 8 new tokens per answer (one per module: loading is the slow part)."""
    from gencomp_hf_backend import LocalHFBackend

    return LocalHFBackend(tiny_model_path, model_options={ModelOption.MAX_NEW_TOKENS: 8})
