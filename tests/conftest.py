"""Fixtures shared by every distribution's tests (kept free of torch at import: the isolated run has none)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

_GENCOMP_SOURCES = tuple(str(p) for p in (Path(__file__).parents[1] / "core", Path(__file__).parents[1] / "plugins"))


def _gencomp_warnings(records: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in records if str(Path(w.filename).resolve()).startswith(_GENCOMP_SOURCES)]


@pytest.fixture
def gencomp_warnings() -> Callable[[list[warnings.WarningMessage]], list[warnings.WarningMessage]]:
    """A filter: of recorded warnings, those gencomp's code issued or caused by a call it made (its line)."""
    return _gencomp_warnings


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny Llama chat model folder (BPE tokenizer, ChatML template), built once with the real save code."""
    from gencomp_hf_backend.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
