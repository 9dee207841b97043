"""Fixtures shared by every distribution's tests (kept free of torch at import: the isolated run has none)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def check_strategy_result(result: Any, strategy: str, budget: int) -> None:
    """What every built-in strategy's result must satisfy, on any backend."""
    from gencomp.strategies import rank

    attempts = result.attempts
    assert 1 <= len(attempts) <= budget and [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    answered = [a for a in attempts if a.output is not None]
    assert all(a.verdicts is not None for a in answered)  # every answer was checked, none lost
    assert [o for o in result.sample_generations] == [a.output for a in answered]
    kept = result.selected
    assert kept in answered and result.result is kept.output and result.success == kept.passed
    assert result.strategy == strategy and result.selection
    if strategy in ("repair", "rejection"):
        passing = [a for a in answered if a.passed]
        assert kept is (passing[0] if passing else max(answered, key=rank))
        assert not passing or passing[0] is answered[-1]  # it stopped at the first that passed
    if strategy == "best-of-n":
        assert len(attempts) == budget and kept is max(answered, key=rank)
    if not result.success:  # select from failure: the most requirements met, never merely the last
        assert kept.met_count == max(a.met_count for a in answered)
    cost = result.cost
    assert cost.attempts == len(answered) and cost.seconds >= cost.generation_seconds > 0
    counts = [a.generated_tokens for a in answered]
    assert cost.generated_tokens == sum(counts) and all(c is not None and c > 0 for c in counts)


@pytest.fixture
def strategy_result_check() -> Callable[[Any, str, int], None]:
    """:func:`check_strategy_result`: the invariants every built-in strategy keeps, on any backend."""
    return check_strategy_result
