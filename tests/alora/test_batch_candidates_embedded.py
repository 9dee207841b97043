"""best-of-n on the embedded model with its shipped ``constraint`` aLoRA: the candidates' checks in one batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gencomp import LinearContext, ModelOption, Session
from gencomp_alora import check_requirement

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

REQS = ["The answer mentions the moon.", "The answer is polite."]


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    from gencomp_hf_backend import LocalHFBackend

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        b = LocalHFBackend("smollm2-135m-instruct")
        assert b.get_alora("constraint") is not None  # the shipped adapter, loaded for the default model
        yield b


def test_best_of_n_checks_the_candidates_of_a_real_answer_in_one_batch_equal_to_each_alone(backend):
    s = Session(backend, LinearContext(), strategy="best-of-n")
    options = {ModelOption.MAX_NEW_TOKENS: 24, ModelOption.SEED: 5, ModelOption.TEMPERATURE: 0.9}
    result = s.instruct(
        "Write one sentence about the moon.", requirements=REQS, model_options=options, return_sampling_results=True
    )
    assert len(result.attempts) == 4 and len({a.text for a in result.attempts}) > 1
    for attempt in result.attempts:
        ctx = LinearContext()
        ctx.insert_turn(attempt.action, attempt.output)
        entry = backend.cache_entry(attempt.output)
        for requirement, verdict in attempt.verdicts:
            meta = verdict.thunk.meta
            assert meta["check_path"] == "alora:constraint" and meta["batch_size"] == len(REQS) * 4
            alone = check_requirement(backend, requirement.description, ctx)
            assert abs(meta["yes_logit"] - alone.yes_logit) < 1e-4 and abs(meta["no_logit"] - alone.no_logit) < 1e-4
            assert verdict.verdict.reused_tokens == alone.reused_tokens == entry.kv_cache.get_seq_length()
