"""Every built-in strategy on the embedded model, in-process: the rules hold on a real model's answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import gencomp
from gencomp import ModelOption, Session

pytestmark = pytest.mark.embedded

PROMPT = "Write one sentence about the moon."
REQUIREMENTS = ["Answer in fewer than 12 words.", "Do not use any commas."]  # recognised: checked by code
OPTIONS = {ModelOption.MAX_NEW_TOKENS: 24}


@pytest.fixture(scope="module")
def backend() -> Iterator[gencomp.Backend]:
    yield gencomp.start_session().backend


@pytest.mark.parametrize(("strategy", "budget"), [("repair", 3), ("rejection", 3), ("best-of-n", 4), ("majority", 3)])
def test_each_built_in_strategy_keeps_its_rules_on_the_embedded_model(backend, strategy, budget, strategy_result_check):
    s = Session(backend)
    result = s.instruct(PROMPT, requirements=REQUIREMENTS, strategy=strategy, loop_budget=budget, model_options=OPTIONS,
                        return_sampling_results=True)  # fmt: skip
    strategy_result_check(result, strategy, budget)
    assert len(s.ctx) == 2 and s.ctx.last_output() is result.result
    if strategy in ("best-of-n", "majority"):  # one batched generation for all candidates
        logs = [log for log in s.last_logs if "candidate" in log.extra]
        assert sorted(log.extra["candidate"] for log in logs) == list(range(budget))


def test_a_seed_makes_a_sampling_strategy_reproducible_on_the_embedded_model(backend):
    def run() -> list[str | None]:
        result = Session(backend).instruct(PROMPT, requirements=REQUIREMENTS, strategy="rejection", loop_budget=2,
                                           model_options={**OPTIONS, ModelOption.SEED: 11},
                                           return_sampling_results=True)  # fmt: skip
        return [a.text for a in result.attempts]

    assert run() == run()


def test_best_of_n_gives_the_same_candidates_sync_and_async_on_the_embedded_model(backend):
    kwargs = dict(requirements=[*REQUIREMENTS, "The answer mentions the moon."], strategy="best-of-n", loop_budget=3,
                  model_options=OPTIONS, return_sampling_results=True)  # fmt: skip
    sync = Session(backend).instruct(PROMPT, **kwargs)
    asynced = asyncio.run(Session(backend).ainstruct(PROMPT, **kwargs))

    def seen(result):
        return [(a.text, [(v.result, v.check_path) for _, v in a.verdicts or []]) for a in result.attempts]

    assert seen(sync) == seen(asynced) and sync.selection == asynced.selection
    model_checks = [v for a in sync.attempts for _, v in a.verdicts or [] if v.thunk is not None and v.ran]
    assert model_checks and all(v.check_path == "alora:constraint" for v in model_checks)
