"""Several candidates in one batched generate: a shared prompt cache, exact row caches, one control per row."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

from gencomp import Message, ModelOption, Requirement, Session, SimpleContext, ValidationResult, simple_validate
from gencomp.streaming import GenerationControl, controlled_candidates
from gencomp_hf_backend.compat import output_cache

OPTIONS = {ModelOption.MAX_NEW_TOKENS: 8, ModelOption.SEED: 3, "temperature": 1.0}


def _candidates(backend, n: int, controls=None, options=OPTIONS, logs=None):
    with controlled_candidates(controls):
        return backend.generate_candidates(
            Message("user", "Tell me about the sea"), SimpleContext(), n, model_options=options, generate_logs=logs
        )


def test_n_candidates_come_from_one_batched_generate_with_one_log_each(backend):
    calls = []
    generate = backend.model.generate

    def counted(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape)
        return generate(*args, **kwargs)

    backend.model.generate = counted
    logs = []
    outs = _candidates(backend, 4, logs=logs)
    assert len(outs) == 4 and len(logs) == 4 and calls == [torch.Size([4, calls[0][1]])]
    assert {log.extra["candidate"] for log in logs} == {0, 1, 2, 3} and len({o.value for o in outs}) > 1
    assert all(log.extra["shared_prompt_tokens"] == log.extra["prompt_tokens"] - 1 for log in logs)


def test_a_seed_makes_the_candidates_reproducible(backend, make_backend):
    first = [o.value for o in _candidates(backend, 3)]
    assert [o.value for o in _candidates(make_backend(), 3)] == first


def test_each_candidates_cache_is_a_row_view_equal_to_a_fresh_forward_pass(backend):
    outs = _candidates(backend, 3)
    keys = {o.meta["hf_cache_key"].split("/")[0] for o in outs}
    assert len(keys) == 1 and backend.cache.keys() == list(keys)  # one slot of the cache for the whole batch
    for out in outs:
        info = backend.cache_entry(out)
        kv_len = info.kv_cache.get_seq_length()
        assert kv_len == info.merged_token_ids.shape[1] - 1
        assert info.merged_token_ids[0, info.q_end :].tolist()[: len(out.generate_log.model_output)] == (
            out.generate_log.model_output.tolist()
        )
        with torch.no_grad():
            fresh = output_cache(backend.model(input_ids=info.merged_token_ids[:, :kv_len], use_cache=True))
        for cached, recomputed in zip(info.kv_cache.layers, fresh.layers, strict=True):
            torch.testing.assert_close(cached.keys, recomputed.keys, rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(cached.values, recomputed.values, rtol=1e-4, atol=1e-4)


def test_a_candidate_whose_prefix_fails_stops_alone_and_the_others_go_on(backend):
    def stop_first(text: str) -> ValidationResult | None:
        return ValidationResult(False, reason="stop") if text else None

    stopper = Requirement("never", simple_validate(lambda t: False), prefix_fn=stop_first)
    controls = [GenerationControl(None, [stopper] if i == 0 else []) for i in range(3)]
    outs = _candidates(backend, 3, controls, options={**OPTIONS, ModelOption.MAX_NEW_TOKENS: 12})
    assert controls[0].early_stop is not None and controls[0].early_stop.token == 1
    assert outs[0].meta["finish_reason"] == "stopped" and outs[0].generate_log.extra["new_tokens"] == 1
    assert all(c.early_stop is None for c in controls[1:])
    assert all(o.generate_log.extra["new_tokens"] > 1 for o in outs[1:])


def test_each_candidate_streams_its_own_text_to_its_own_control(backend):
    pieces: list[list[str]] = [[], []]
    controls = [GenerationControl(pieces[i].append) for i in range(2)]
    outs = _candidates(backend, 2, controls)
    assert ["".join(p) for p in pieces] == [o.value for o in outs]


def test_cancelling_the_batch_stops_every_candidate(backend):
    cancelled = threading.Event()
    seen = []

    def first_piece(text: str) -> None:
        seen.append(text)
        cancelled.set()

    controls = [GenerationControl(first_piece, cancelled=cancelled) for _ in range(3)]
    outs = _candidates(backend, 3, controls, options={**OPTIONS, ModelOption.MAX_NEW_TOKENS: 32})
    assert all(o.generate_log.extra["new_tokens"] <= 2 for o in outs)


def test_best_of_n_on_the_hf_backend_is_the_same_sync_and_async(make_backend):
    def run(result):
        return [(a.number, a.text, a.seed) for a in result.attempts], result.selection

    kwargs = dict(requirements=[Requirement("Is short.", simple_validate(lambda t: len(t) < 40))],
                  strategy="best-of-n", loop_budget=3, model_options={ModelOption.MAX_NEW_TOKENS: 6},
                  return_sampling_results=True)  # fmt: skip
    sync = Session(make_backend()).instruct("Tell me about the sea", **kwargs)
    asynced = asyncio.run(Session(make_backend()).ainstruct("Tell me about the sea", **kwargs))
    assert run(sync) == run(asynced) and len(sync.attempts) == 3


@pytest.mark.parametrize("n", [1, 2])
def test_generate_candidates_refuses_a_bad_n(backend, n):
    with pytest.raises(ValueError, match="n must be a whole number >= 1"):
        backend.generate_candidates(Message("user", "x"), SimpleContext(), n - 2)
