"""The conformance kit against the example third-party backend (really installed from tests/plugins)."""

from __future__ import annotations

from typing import Any

import pytest

from gencomp import ModelOption
from gencomp.testing import BackendConformance

CITY = '{"name": "Paris", "population": 2100000}'


def script(prompt: str) -> str:
    """Echo the prompt, except where the kit asks for JSON."""
    return CITY if "as JSON" in prompt else prompt


class TestEchoBackend(BackendConformance):
    backend_name = "echo"
    streams = False  # a scripted reply comes whole
    model_judges = False  # a script, not a model, answers requirement checks
    refused_options = frozenset({ModelOption.TEMPERATURE, "stop"})  # nothing to sample, nothing to stop

    @pytest.fixture(autouse=True)
    def _installed(self, install: Any) -> None:
        install("gencomp-echo-backend")

    def make_backend(self, **kwargs: Any) -> Any:
        from gencomp_echo_backend import EchoBackend

        return EchoBackend(script=script, **kwargs)

    def discovery_kwargs(self) -> dict[str, Any]:
        return {"script": script}
