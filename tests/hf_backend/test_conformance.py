"""The conformance kit against ``LocalHFBackend`` on the tiny model (loaded with the real loading code)."""

from __future__ import annotations

from typing import Any

import pytest

from gencomp.testing import BackendConformance


class TestLocalHFBackend(BackendConformance):
    backend_name = "hf"
    stop_option = "stop_strings"  # transformers' name
    slow_max_new_tokens = 128  # the tiny model makes 64 tokens in about 0.14 s: the cancellation tests want longer

    @pytest.fixture(autouse=True)
    def _model(self, tiny_model_path: str) -> None:
        self.path = tiny_model_path

    def make_backend(self, **kwargs: Any) -> Any:
        from gencomp_hf_backend import LocalHFBackend

        return LocalHFBackend(self.path, **kwargs)

    def discovery_kwargs(self) -> dict[str, Any]:
        return {"model_id": self.path}
