"""Async sessions, streams, early stops and cancellation, on backends written the simplest ways."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from gencomp import (
    Backend,
    CBlock,
    Generation,
    GenerationRequest,
    Requirement,
    Session,
    SimpleContext,
    ValidationResult,
    simple_validate,
    start_session,
)
from gencomp.base import plain_text
from gencomp.streaming import current_control


@pytest.fixture
def echo(install):
    install("gencomp-echo-backend")
    return lambda script: start_session("echo", script=script)


def upper() -> Requirement:
    return Requirement("Use capitals.", simple_validate(str.isupper))


def _program(s: Session) -> list[Any]:
    result = s.instruct("Shout.", requirements=[upper(), "Is loud."], loop_budget=3, return_sampling_results=True)
    reply = s.chat("And now?")
    verdicts = s.validate(["Is short.", upper()])
    return [
        [o.value for o in result.sample_generations],
        [[(r.description, v.result) for r, v in checks] for checks in result.sample_validations],
        reply.content,
        [v.result for v in verdicts],
        len(s.ctx),
        [log.prompt for log in s.last_logs],
    ]


async def _aprogram(s: Session) -> list[Any]:
    result = await s.ainstruct(
        "Shout.", requirements=[upper(), "Is loud."], loop_budget=3, return_sampling_results=True
    )
    reply = await s.achat("And now?")
    verdicts = await s.avalidate(["Is short.", upper()])
    return [
        [o.value for o in result.sample_generations],
        [[(r.description, v.result) for r, v in checks] for checks in result.sample_validations],
        reply.content,
        [v.result for v in verdicts],
        len(s.ctx),
        [log.prompt for log in s.last_logs],
    ]


SCRIPT = ["quiet", "Yes", "LOUD", "Yes", "fine", "No"]


def test_the_same_program_gives_the_same_results_sync_and_async(echo):
    assert _program(echo(SCRIPT)) == asyncio.run(_aprogram(echo(SCRIPT)))


class AsyncOnly(Backend):
    """A natively async backend: it implements only ``agenerate``."""

    def __init__(self) -> None:
        super().__init__("async-only")

    async def agenerate(self, request: GenerationRequest) -> Generation:
        await asyncio.sleep(0)
        return Generation(plain_text(request.action).upper())


def test_a_natively_async_backend_gets_the_sync_method_for_free():
    b = AsyncOnly()
    out = b.generate_from_context(CBlock("hi"), SimpleContext())
    assert out.value == "HI"

    async def inside_a_loop() -> str | None:  # a sync call made while an event loop runs in this thread
        return b.generate_from_context(CBlock("yo"), SimpleContext()).value

    assert asyncio.run(inside_a_loop()) == "YO"
    assert asyncio.run(Session(b).achat("x")).content.endswith("CONTENT: X")


def test_a_backend_that_implements_no_generation_is_refused_at_construction():
    class Nothing(Backend):
        pass

    with pytest.raises(TypeError, match="implements no generation"):
        Nothing("m")


def test_a_sync_backend_runs_off_the_event_loop_thread(echo):
    s = echo(lambda prompt: threading.current_thread().name)

    async def run() -> tuple[str, str]:
        out = await s.ainstruct("which thread?", loop_budget=1)
        return out.value, threading.current_thread().name  # type: ignore[union-attr,return-value]

    worker, loop_thread = asyncio.run(run())
    assert worker != loop_thread


def test_many_async_sessions_run_at_once_from_one_loop(echo):
    barrier = threading.Barrier(4, timeout=10)

    def meet(prompt: str) -> str:  # returns only when four calls are in flight together
        barrier.wait()
        return "done"

    async def run() -> list[str | None]:
        sessions = [echo(meet) for _ in range(4)]
        outs = await asyncio.gather(*(s.ainstruct("go", loop_budget=1) for s in sessions))
        return [o.value for o in outs]  # type: ignore[union-attr]

    assert asyncio.run(run()) == ["done"] * 4


class Streaming(Backend):
    """Streams its scripted answers word by word through the current control, as a real backend would."""

    def __init__(self, answers: list[str], hold: bool = False) -> None:
        super().__init__("stream")
        self.answers = iter(answers)
        self.hold = hold
        self.started = threading.Event()
        self.words_sent: list[int] = []

    def generate(self, request: GenerationRequest) -> Generation:
        self.started.set()
        control = current_control()
        text, sent = "", 0
        for n, word in enumerate(next(self.answers).split(" "), 1):
            if self.hold and n == 2 and control is not None:  # a slow step: the test stops the call here
                deadline = time.monotonic() + 10
                while not control.stop_requested() and time.monotonic() < deadline:
                    time.sleep(0.005)
            piece = word if not text else " " + word
            text += piece
            sent = n
            if control is not None and not control.push(piece, tokens=n):
                break
        self.words_sent.append(sent)
        return Generation(text)


def at_most_words(n: int) -> Requirement:
    def full(text: str) -> tuple[bool, str]:
        count = len(text.split())
        return count <= n, f"{count} words; at most {n} allowed"

    def prefix(text: str) -> ValidationResult | None:
        ok, reason = full(text)
        return None if ok else ValidationResult(False, reason=reason)

    return Requirement(f"At most {n} words.", simple_validate(full), prefix_fn=prefix)


def test_a_stream_yields_each_attempts_chunks_then_the_validated_result():
    s = Session(Streaming(["one two three", "one"]))
    stream = s.instruct_stream("Count.", requirements=[at_most_words(1)], loop_budget=2)
    chunks = list(stream)
    assert [(c.text, c.attempt) for c in chunks if c.text] == [("one", 1), (" two", 1), ("one", 2)]
    ends = [(c.attempt, [v.result for _, v in c.checks]) for c in chunks if c.checks is not None]
    assert ends == [(1, [False]), (2, [True])]  # each attempt's verdicts follow its text
    result = stream.result
    assert result.success and result.result.value == "one"
    assert s.ctx.last_output() is result.result


def test_a_code_check_that_fails_on_a_prefix_stops_the_answer_early_and_repairs_it():
    backend = Streaming(["a b c d e f g h", "short", "Yes"])  # answer, retry, the judge of the retry
    s = Session(backend)
    other = Requirement("Is in English.")  # a model-judged check: not run on a stopped answer
    result = s.instruct(
        "Be brief.", requirements=[at_most_words(3), other], loop_budget=2, return_sampling_results=True
    )
    assert backend.words_sent[0] == 4  # the fourth word broke the rule: nothing after it was generated
    first = dict(result.sample_validations[0])
    assert first[result.sample_validations[0][0][0]].stopped_at_token == 4
    assert "4 words; at most 3 allowed" in (result.sample_validations[0][0][1].reason or "")
    assert not first[other].ran and not first[other].result  # reported as not run, never as failed
    assert "not run" in (first[other].reason or "")
    assert result.sample_generations[1].value == "short"


def test_without_streaming_a_prefix_check_never_reports_an_early_stop(echo):
    s = echo(["a b c d", "Yes"])
    result = s.instruct("Be brief.", requirements=[at_most_words(3)], loop_budget=1, return_sampling_results=True)
    ((_, verdict),) = result.sample_validations[0]
    assert not verdict.result and verdict.stopped_at_token is None and verdict.reason == "4 words; at most 3 allowed"


def test_closing_a_stream_stops_the_generation_and_leaves_the_context_as_it_was():
    backend = Streaming(["one two three four"], hold=True)
    s = Session(backend)
    s.ctx.insert(CBlock("earlier"))
    stream = s.instruct_stream("Count.", loop_budget=1)
    first = next(iter(stream))
    assert first.text == "one"
    stream.close()
    assert backend.words_sent == [2]  # stopped at the next piece after the close
    assert len(s.ctx) == 1


def test_cancelling_an_async_call_leaves_the_context_as_it_was():
    backend = Streaming(["one two three"], hold=True)
    s = Session(backend)

    async def run() -> None:
        task = asyncio.create_task(s.ainstruct("Count.", loop_budget=1))
        while not backend.started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert len(s.ctx) == 0 and backend.words_sent == [2]


def test_an_async_stream_yields_chunks_and_its_close_cancels():
    async def run() -> tuple[list[str], Any]:
        s = Session(Streaming(["one two"]))
        stream = s.ainstruct_stream("Count.", loop_budget=1)
        texts = [c.text async for c in stream]
        return texts, await stream.result()

    texts, result = asyncio.run(run())
    assert texts == ["one", " two"] and result.result.value == "one two"


def test_a_recognised_word_limit_stops_a_streamed_answer_at_the_first_word_too_many():
    backend = Streaming(["a b c d e f g h", "short answer"])
    s = Session(backend)
    result = s.instruct("Be brief.", requirements=["Answer in at most 3 words."], return_sampling_results=True)
    ((_, verdict),) = result.sample_validations[0]
    assert verdict.check_path == "code:number_words" and verdict.stopped_at_token == 4
    assert backend.words_sent == [4, 2] and result.success


def test_a_natively_async_backend_refuses_a_format_instance_like_a_sync_one():
    import pydantic

    class City(pydantic.BaseModel):
        name: str

    with pytest.raises(TypeError, match="format= takes a class"):
        asyncio.run(AsyncOnly().agenerate_from_context(CBlock("x"), SimpleContext(), format=City(name="Paris")))  # type: ignore[arg-type]
