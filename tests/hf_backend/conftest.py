"""Fixtures of the hf_backend tests: a tiny random chat model built once per session."""

from __future__ import annotations

import os

import pytest

from gencomp_hf_backend.testing import build_tiny_model

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny Llama chat model folder (BPE tokenizer, ChatML template), built with the real save code."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
