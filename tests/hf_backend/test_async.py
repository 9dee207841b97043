"""The HF backend under asyncio: the loop keeps running, answers stream, calls cancel promptly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pydantic
import pytest

from gencomp import LinearContext, Requirement, Session, ValidationResult, simple_validate
from gencomp.testing import loop_stall

LONG = {"max_new_tokens": 400, "min_new_tokens": 400}
"""Options that make the tiny model generate 400 tokens, whatever it samples."""


def _session(make_backend: Any, **options: Any) -> Session:
    return Session(make_backend(model_options={"max_new_tokens": 12, **options}), LinearContext())


def test_streamed_chunks_join_to_the_answer_a_plain_call_gives(make_backend):
    plain = _session(make_backend).instruct("Say hello.", loop_budget=1)
    stream = _session(make_backend).instruct_stream("Say hello.", loop_budget=1)
    chunks = [c.text for c in stream]
    assert len(chunks) > 1 and "".join(chunks) == plain.value  # type: ignore[union-attr]
    assert stream.result.result.value == plain.value  # type: ignore[union-attr]


def test_async_results_equal_sync_results(make_backend):
    sync = _session(make_backend).instruct("Say hello.", loop_budget=1)

    async def run() -> Any:
        return await _session(make_backend).ainstruct("Say hello.", loop_budget=1)

    assert asyncio.run(run()).value == sync.value  # type: ignore[union-attr]


def test_the_event_loop_keeps_ticking_while_the_model_generates(make_backend):
    session = _session(make_backend, **LONG)

    async def run() -> tuple[float, float]:
        start = time.perf_counter()
        _, stall = await loop_stall(session.ainstruct("Tell a long story.", loop_budget=1))
        return stall, time.perf_counter() - start

    max_gap, took = asyncio.run(run())
    # A blocked loop stalls for the whole generation. Ticking, the longest gap is a few ms on an idle
    # machine (under 100 ms); a quarter of the generation leaves room for a loaded machine's scheduler.
    assert took > 0.3
    assert max_gap < took / 4, f"the loop stalled for {max_gap * 1000:.0f} ms during a {took:.2f} s generation"


def test_cancelling_an_async_call_stops_generation_releases_the_lock_and_keeps_the_context(make_backend):
    session = _session(make_backend, **LONG)
    session.instruct("First turn.", loop_budget=1, model_options={"max_new_tokens": 4, "min_new_tokens": 0})
    before = list(session.ctx.full_history())

    async def run() -> None:
        task = asyncio.create_task(session.ainstruct("Tell a long story.", loop_budget=1))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert session.ctx.full_history() == before
    assert session.backend.lock.acquire(blocking=False)  # type: ignore[attr-defined]
    session.backend.lock.release()  # type: ignore[attr-defined]
    logs = session.last_logs
    assert logs and logs[-1].extra["new_tokens"] < 400  # stopped by the cancellation, not by the limit


def test_closing_a_stream_stops_generation_and_keeps_the_context(make_backend):
    session = _session(make_backend, **LONG)
    stream = session.instruct_stream("Tell a long story.", loop_budget=1)
    next(iter(stream))
    stream.close()
    assert len(session.ctx) == 0
    assert session.last_logs[-1].extra["new_tokens"] < 400


def test_a_code_check_failing_on_the_prefix_stops_the_generation_and_says_where(make_backend):
    def full(text: str) -> tuple[bool, str]:
        return len(text) <= 20, f"{len(text)} characters; at most 20 allowed"

    def prefix(text: str) -> ValidationResult | None:
        ok, reason = full(text)
        return None if ok else ValidationResult(False, reason=reason)

    short = Requirement("At most 20 characters.", simple_validate(full), prefix_fn=prefix)
    session = _session(make_backend, **LONG)
    result = session.instruct("Write a lot.", requirements=[short], loop_budget=1, return_sampling_results=True)
    ((_, verdict),) = result.sample_validations[0]
    assert not verdict.result and verdict.stopped_at_token is not None
    new_tokens = session.last_logs[0].extra["new_tokens"]
    assert verdict.stopped_at_token <= new_tokens < 400


def test_kv_cache_reuse_keeps_working_after_a_streamed_turn(make_backend):
    session = _session(make_backend)
    list(session.instruct_stream("First question.", loop_budget=1))
    session.instruct("Second question.", loop_budget=1)
    assert session.last_logs[-1].extra["reused_tokens"] > 0


class Pet(pydantic.BaseModel):
    name: str
    age: int


def test_structured_output_streams_and_still_parses(make_backend):
    session = _session(make_backend)
    stream = session.instruct_stream("A pet as JSON.", loop_budget=1, format=Pet)
    text = "".join(c.text for c in stream)
    Pet.model_validate_json(text)
    assert stream.result.result.value == text
