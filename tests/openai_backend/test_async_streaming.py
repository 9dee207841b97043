"""The remote backend's async calls, streams, cancellation and early stops, against a real llama-server.

The server of this module runs with ``--metrics``: its ``tokens_predicted_total`` counter says how many
tokens it really generated, so a test can prove that a closed stream or a cancelled task stopped the
server's generation, not only gencomp's reading of it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pydantic
import pytest

from gencomp import ModelOption, Requirement, Session, ValidationResult, simple_validate
from gencomp.testing import loop_stall
from gencomp_openai import OpenAIBackend
from gencomp_openai.llama_cpp import LlamaServer

pytestmark = pytest.mark.embedded  # the server runs the embedded default model's GGUF

GREEDY = {"temperature": 0.0, ModelOption.SEED: 0}
LONG = {ModelOption.MAX_NEW_TOKENS: 400}
SHORT = {ModelOption.MAX_NEW_TOKENS: 24}
ESSAY = "Write a long essay about the sea, with many paragraphs."


@pytest.fixture(scope="module")
def server(smollm2_gguf: Path, alora_gguf: Path) -> Iterator[LlamaServer]:
    with LlamaServer(smollm2_gguf, loras=[alora_gguf], context=8192, parallel=4, extra_args=["--metrics"]) as s:
        yield s


@pytest.fixture
def backend(server: LlamaServer) -> Iterator[OpenAIBackend]:
    b = OpenAIBackend(base_url=server.base_url, model_options=GREEDY)
    yield b
    b.close()


def predicted_total(server: LlamaServer) -> int:
    """How many tokens the server has generated since it started (its Prometheus counter)."""
    root = server.base_url.removesuffix("/v1")
    for line in httpx2.get(root + "/metrics").text.splitlines():
        if line.startswith("llamacpp:tokens_predicted_total"):
            return int(float(line.split()[1]))
    raise AssertionError("llama-server's /metrics has no tokens_predicted_total")


def processing(server: LlamaServer) -> bool:
    """Whether a slot of the server is generating."""
    root = server.base_url.removesuffix("/v1")
    return any(slot.get("is_processing") for slot in httpx2.get(root + "/slots").json())


def settled_total(server: LlamaServer) -> int:
    """The counter once the server is idle (it counts a task's tokens when the task ends)."""
    for _ in range(200):
        if not processing(server):
            break
        threading.Event().wait(0.05)
    return predicted_total(server)


def at_most_words(n: int) -> Requirement:
    def full(text: str) -> tuple[bool, str]:
        count = len(text.split())
        return count <= n, f"{count} words; at most {n} allowed"

    def prefix(text: str) -> ValidationResult | None:
        ok, reason = full(text)
        return None if ok else ValidationResult(False, reason=reason)

    return Requirement(f"At most {n} words.", simple_validate(full), prefix_fn=prefix)


class City(pydantic.BaseModel):
    name: str
    country: str


def test_a_stream_yields_the_answer_a_plain_call_returns(backend: OpenAIBackend) -> None:
    opts = {ModelOption.MAX_NEW_TOKENS: 40}
    plain_session = Session(backend)
    plain = plain_session.instruct("Write two sentences about the moon.", model_options=opts)
    session = Session(backend)
    stream = session.instruct_stream("Write two sentences about the moon.", model_options=opts)
    chunks = [c.text for c in stream]
    assert len(chunks) > 5  # pieces as generated, not one block
    assert "".join(chunks) == stream.result.result.value == plain.value
    assert session.ctx.last_output() is stream.result.result
    # the usage event that ends the stream was read
    assert session.last_logs[-1].extra["new_tokens"] == plain_session.last_logs[-1].extra["new_tokens"] > 5


def test_an_async_stream_yields_the_answer_a_plain_call_returns(backend: OpenAIBackend) -> None:
    opts = {ModelOption.MAX_NEW_TOKENS: 40}
    plain = Session(backend).instruct("Write two sentences about the sun.", model_options=opts)

    async def run() -> tuple[list[str], Any, Session]:
        session = Session(backend)
        stream = session.ainstruct_stream("Write two sentences about the sun.", model_options=opts)
        chunks = [c.text async for c in stream]
        return chunks, await stream.result(), session

    chunks, result, session = asyncio.run(run())
    assert len(chunks) > 5 and "".join(chunks) == result.result.value == plain.value
    assert session.ctx.last_output() is result.result


def test_format_output_streams_and_still_parses(backend: OpenAIBackend) -> None:
    session = Session(backend)
    stream = session.instruct_stream("Name a city and its country.", format=City, model_options={"max_tokens": 60})
    chunks = [c.text for c in stream]
    assert len(chunks) > 3
    City.model_validate_json("".join(chunks))
    assert stream.result.result.value == "".join(chunks)


def test_a_raw_prompt_streams_through_completions(backend: OpenAIBackend) -> None:
    from gencomp import SimpleContext

    opts = {ModelOption.MAX_NEW_TOKENS: 20}
    plain = Session(backend, ctx=SimpleContext()).instruct("Count from one to ten.", model_options=opts)
    stream = Session(backend, ctx=SimpleContext()).instruct_stream("Count from one to ten.", model_options=opts)
    chunks = [c.text for c in stream]
    assert len(chunks) > 3 and "".join(chunks) == plain.value


def test_gathered_ainstruct_calls_run_at_once_on_the_server(backend: OpenAIBackend) -> None:
    order: list[int] = []

    async def one(i: int) -> str:
        stream = Session(backend).ainstruct_stream(f"Write three sentences about city number {i}.", model_options=LONG)
        async for chunk in stream:
            if chunk.text:
                order.append(i)
        return str((await stream.result()).result.value)

    async def run() -> tuple[list[str], float]:
        return await loop_stall(asyncio.gather(*(one(i) for i in range(4))))

    start = time.perf_counter()
    answers, stall = asyncio.run(run())
    took = time.perf_counter() - start
    # A client that blocked the loop would stall it for a whole call, about a quarter of the run; ticking,
    # the longest gap is a few ms on an idle machine, and an eighth of the run leaves room for a loaded one.
    assert all(answers) and stall < took / 8, f"the loop stalled for {stall * 1000:.0f} ms of a {took:.2f} s run"
    # each call's chunks arrived while the others were still generating: the server ran them together
    last = {i: max(k for k, v in enumerate(order) if v == i) for i in range(4)}
    first = {i: order.index(i) for i in range(4)}
    assert all(first[j] < last[i] for i in range(4) for j in range(4))


def _open_connections(port: int) -> int:
    """Established TCP connections from this machine to ``port`` on 127.0.0.1 (client side), from /proc."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for r in rows if (f := r.split())[2] == f"0100007F:{port:04X}" and f[3] == "01")


def test_the_pool_holds_no_more_connections_than_the_server_has_workers(
    backend: OpenAIBackend, server: LlamaServer
) -> None:
    # llama-server serves a kept-alive connection on one HTTP worker (at least slots + 2 of them);
    # a connection beyond them waited until an idle one timed out (5 s)
    assert backend.capabilities.slots == 4 and backend.http.max_connections == 6
    seen: list[int] = []

    async def run() -> list[str]:
        calls = asyncio.gather(
            *(Session(backend).ainstruct(f"Name a colour, number {i}.", model_options=SHORT) for i in range(12))
        )
        while not calls.done():
            seen.append(_open_connections(server.port))
            await asyncio.sleep(0.005)
        return [str(o.value) for o in await calls]

    answers = asyncio.run(run())
    assert len(answers) == 12 and all(answers)
    assert 4 <= max(seen) <= 6


def test_asyncio_run_closes_the_connections_of_its_loop(backend: OpenAIBackend, server: LlamaServer) -> None:
    # an idle kept-alive connection holds one of llama-server's workers until it times out
    before = _open_connections(server.port)

    async def run() -> list[Any]:
        calls = [Session(backend).ainstruct(f"Name a fruit, number {i}.", model_options=SHORT) for i in range(4)]
        out = await asyncio.gather(*calls)
        assert _open_connections(server.port) >= before + 4
        return out

    assert all(o.value for o in asyncio.run(run()))
    assert _open_connections(server.port) <= before


def test_an_explicit_max_connections_wins_over_the_servers_slots(server: LlamaServer) -> None:
    with OpenAIBackend(base_url=server.base_url, max_connections=1) as b:
        assert b.http.max_connections == 1
        assert Session(b).instruct("Say hi.", model_options=SHORT).value


def test_one_backend_serves_several_event_loops_and_threads(backend: OpenAIBackend) -> None:
    want = Session(backend).instruct("Name a colour.", model_options={"max_tokens": 8}).value
    got: list[str] = []

    def in_a_thread() -> None:
        out = asyncio.run(Session(backend).ainstruct("Name a colour.", model_options={"max_tokens": 8}))
        got.append(str(out.value))

    threads = [threading.Thread(target=in_a_thread) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for _ in range(2):  # a new loop after the first one closed gets its own client
        out = asyncio.run(Session(backend).ainstruct("Name a colour.", model_options={"max_tokens": 8}))
        got.append(str(out.value))
    assert got == [want] * 5


def test_sync_and_async_runs_of_one_program_give_the_same_results(backend: OpenAIBackend) -> None:
    def program(s: Session) -> list[Any]:
        a = s.instruct("Write one sentence about a cat.", requirements=[at_most_words(40)], model_options=LONG)
        b = s.chat("Now one about a dog.", model_options={"max_tokens": 30})
        c = s.instruct("A city as JSON.", format=City, model_options={"max_tokens": 60})
        return [a.value, b.content, c.value, [(log.model_output) for log in s.last_logs]]

    async def aprogram(s: Session) -> list[Any]:
        a = await s.ainstruct("Write one sentence about a cat.", requirements=[at_most_words(40)], model_options=LONG)
        b = await s.achat("Now one about a dog.", model_options={"max_tokens": 30})
        c = await s.ainstruct("A city as JSON.", format=City, model_options={"max_tokens": 60})
        return [a.value, b.content, c.value, [(log.model_output) for log in s.last_logs]]

    sync_session, async_session = Session(backend), Session(backend)
    want = program(sync_session)
    assert asyncio.run(aprogram(async_session)) == want
    assert [str(c) for c in async_session.ctx.full_history()] == [str(c) for c in sync_session.ctx.full_history()]


def test_closing_a_stream_stops_the_servers_generation_and_keeps_the_context(
    backend: OpenAIBackend, server: LlamaServer
) -> None:
    session = Session(backend)
    session.chat("Hello.", model_options={"max_tokens": 8})
    before = session.ctx.full_history()
    start = settled_total(server)
    stream = session.instruct_stream(ESSAY, model_options=LONG)
    for n, _ in enumerate(stream):
        if n == 3:
            break
    stream.close()
    assert session.ctx.full_history() == before
    assert settled_total(server) - start < 100  # of the 400 asked for


def test_cancelling_an_ainstruct_task_stops_the_servers_generation_and_keeps_the_context(
    backend: OpenAIBackend, server: LlamaServer
) -> None:
    session = Session(backend)
    session.chat("Hello.", model_options={"max_tokens": 8})
    before = session.ctx.full_history()
    start = settled_total(server)

    async def run(streamed: bool) -> None:
        if streamed:
            started = asyncio.Event()

            async def consume() -> None:
                async for _ in session.ainstruct_stream(ESSAY, model_options=LONG):
                    started.set()

            task = asyncio.create_task(consume())
            await started.wait()
        else:
            task = asyncio.create_task(session.ainstruct(ESSAY, model_options=LONG))
            while not processing(server):  # the server is generating this answer
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The loop goes on (as a service's does) while the closed connection reaches the server. Not
        # polling it meanwhile: llama-server was seen to miss the closed connection while /slots was asked.
        await asyncio.sleep(2.0)

    asyncio.run(run(streamed=False))
    assert session.ctx.full_history() == before
    middle = settled_total(server)
    assert middle - start < 200
    asyncio.run(run(streamed=True))
    assert session.ctx.full_history() == before
    assert settled_total(server) - middle < 200


def test_a_code_check_failing_on_a_prefix_stops_the_servers_generation(
    backend: OpenAIBackend, server: LlamaServer
) -> None:
    session = Session(backend)
    start = settled_total(server)
    result = session.instruct(
        ESSAY, requirements=[at_most_words(10)], loop_budget=1, model_options=LONG, return_sampling_results=True
    )
    ((_, verdict),) = result.sample_validations[0]
    assert not verdict.result and verdict.stopped_at_token is not None and verdict.stopped_at_token < 40
    assert result.sample_generations[0].meta["finish_reason"] == "stopped"
    assert len(str(result.sample_generations[0].value).split()) == 11  # the word that broke the limit
    assert settled_total(server) - start < 100  # of the 400 asked for


def test_async_early_stop_gives_the_sync_verdict(backend: OpenAIBackend) -> None:
    kwargs: dict[str, Any] = {
        "requirements": [at_most_words(10)],
        "loop_budget": 2,
        "model_options": LONG,
        "return_sampling_results": True,
    }
    sync = Session(backend).instruct(ESSAY, **kwargs)
    got = asyncio.run(Session(backend).ainstruct(ESSAY, **kwargs))
    assert [g.value for g in got.sample_generations] == [g.value for g in sync.sample_generations]
    assert [[v.stopped_at_token for _, v in vs] for vs in got.sample_validations] == [
        [v.stopped_at_token for _, v in vs] for vs in sync.sample_validations
    ]
