"""Faults of streamed and async requests: named errors, bounded retries, never a turn twice.

A real llama-server cannot be made to cut a stream or send a broken event on demand; mock transports
and a raw socket server do. test_async_streaming.py proves the same paths on a real server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx2
import pytest

from gencomp import Session
from gencomp_openai import (
    AuthenticationError,
    MalformedResponseError,
    OpenAIBackend,
    RemoteBackendError,
    ServerDisconnectedError,
    ServerInternalError,
    ServerRedirectError,
)
from gencomp_openai.http import SSEDecoder

from .fakes import KeepAliveServer, RawServer, ScriptedTransport, chat_answer


def delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def sse(*events: Any, done: bool = True) -> bytes:
    body = "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


def stream_reply(body: bytes) -> httpx2.Response:
    return httpx2.Response(200, content=body, headers={"Content-Type": "text/event-stream"})


async def _no_wait(seconds: float) -> None:
    return None


def backend_on(transport: Any) -> OpenAIBackend:
    b = OpenAIBackend(base_url="http://fake.test/v1", transport=transport)
    b.http._sleep = lambda s: None  # no real waiting between retries in tests
    b.http._asleep = _no_wait
    return b


def test_a_streamed_answer_is_pushed_piece_by_piece_and_asked_with_stream_true() -> None:
    transport = ScriptedTransport([stream_reply(sse(delta("Hel"), delta("lo"), delta("", "stop")))])
    session = Session(backend_on(transport))
    stream = session.instruct_stream("Say hello.")
    assert [c.text for c in stream] == ["Hel", "lo"]
    assert stream.result.result.value == "Hello" and stream.result.result.meta["finish_reason"] == "stop"
    assert transport.requests[0][2]["stream"] is True


def test_a_stream_cut_before_done_is_a_named_error_and_not_retried() -> None:
    transport = ScriptedTransport([stream_reply(sse(delta("Hel"), done=False))])
    session = Session(backend_on(transport))
    with pytest.raises(ServerDisconnectedError, match=r"ended before its \[DONE\].*truncated"):
        list(session.instruct_stream("Say hello."))
    assert len(transport.requests) == 1  # text was handed on: a retry would repeat it
    assert session.ctx.full_history() == []


def test_an_event_that_is_not_json_is_a_malformed_response_error() -> None:
    transport = ScriptedTransport([stream_reply(sse(delta("Hel"), "{not json"))])
    session = Session(backend_on(transport))
    with pytest.raises(MalformedResponseError, match="not JSON"):
        list(session.instruct_stream("Say hello."))
    assert session.ctx.full_history() == []


def test_an_error_event_in_the_stream_is_a_server_error() -> None:
    transport = ScriptedTransport([stream_reply(sse({"error": {"code": 500, "message": "out of memory"}}))])
    with pytest.raises(ServerInternalError, match="out of memory"):
        list(Session(backend_on(transport)).instruct_stream("Say hello."))


def test_a_failure_before_the_first_event_is_retried_and_the_turn_added_once() -> None:
    transport = ScriptedTransport(
        [
            httpx2.Response(503, json={"error": {"message": "loading model"}}),
            stream_reply(sse(delta("hello"), delta("", "stop"))),
        ]
    )
    session = Session(backend_on(transport))
    stream = session.instruct_stream("Say hello.")
    assert "".join(c.text for c in stream) == "hello"
    assert len(transport.requests) == 2 and transport.requests[0][2] == transport.requests[1][2]
    assert len(session.ctx.full_history()) == 2  # the instruction and one answer


def test_a_connection_dropped_mid_stream_is_a_named_error_and_not_retried() -> None:
    def cut(conn: socket.socket, request: bytes) -> None:
        event = sse(delta("Hel"), done=False)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(event):x}\r\n".encode()
            + event
            + b"\r\n"
        )  # then the connection closes without the last chunk

    with RawServer(cut) as server:
        backend = OpenAIBackend(base_url=server.base_url)
        session = Session(backend)
        with pytest.raises(ServerDisconnectedError):
            list(session.instruct_stream("Say hello."))
        assert server.hits == 1 and session.ctx.full_history() == []

        async def run() -> None:
            async for _ in Session(backend).ainstruct_stream("Say hello."):
                pass

        with pytest.raises(ServerDisconnectedError):
            asyncio.run(run())
        assert server.hits == 2
        backend.close()


def test_async_calls_retry_and_name_errors_as_sync_ones_do() -> None:
    transport = ScriptedTransport(
        [
            httpx2.Response(503, json={"error": {"message": "loading model"}}),
            httpx2.Response(200, json=chat_answer("hello")),
            httpx2.Response(401, json={"error": {"message": "bad key"}}),
        ]
    )
    session = Session(backend_on(transport))
    out = asyncio.run(session.ainstruct("Say hello.", loop_budget=1))
    assert out.value == "hello" and len(transport.requests) == 2
    with pytest.raises(AuthenticationError, match="refused the API key"):
        asyncio.run(session.ainstruct("Again.", loop_budget=1))
    assert len(session.ctx.full_history()) == 2


def test_the_sse_decoder_skips_comments_and_joins_multi_line_data() -> None:
    decoder = SSEDecoder("http://x/v1/chat/completions")
    lines = [": keep-alive", "event: message", 'data: {"a":', "data: 1}", "", "data: [DONE]"]
    assert [e for line in lines for e in decoder.feed(line)] == [{"a": 1}]
    assert decoder.done
    decoder.finish()  # [DONE] came: nothing to raise


def test_closing_a_backend_used_from_event_loops_closes_it_for_every_loop() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer("one"))])
    backend = backend_on(transport)
    assert asyncio.run(Session(backend).ainstruct("Say one.", loop_budget=1)).value == "one"
    backend.close()
    with pytest.raises(RemoteBackendError, match="closed"):
        asyncio.run(Session(backend).ainstruct("Again.", loop_budget=1))


@pytest.mark.parametrize(
    "body",
    [sse(), sse({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}), sse(done=False) + b": hi\n\n"],
    ids=["only-done", "no-choices", "nothing"],
)
def test_a_stream_without_a_single_choice_is_an_error_and_adds_no_turn(body: bytes) -> None:
    transport = ScriptedTransport([stream_reply(body)])
    session = Session(backend_on(transport))
    with pytest.raises((MalformedResponseError, ServerDisconnectedError), match="without an answer|before its"):
        list(session.instruct_stream("Say hello."))
    assert session.ctx.full_history() == []


def test_an_empty_answer_that_the_server_gave_as_a_choice_is_an_answer() -> None:
    transport = ScriptedTransport([stream_reply(sse(delta("", "stop")))])
    session = Session(backend_on(transport))
    stream = session.instruct_stream("Say nothing.")
    assert [c.text for c in stream] == [] and stream.result.result.value == ""


def test_a_line_separator_inside_a_streamed_piece_stays_in_its_event() -> None:
    # U+2028 and U+0085 are not line ends in an event stream (only CR and LF are), and JSON keeps them raw
    body = "data: " + json.dumps(delta("a\u2028b\x85c"), ensure_ascii=False) + "\r\n\r\ndata: [DONE]\r\n\r\n"
    transport = ScriptedTransport([stream_reply(body.encode())])
    stream = Session(backend_on(transport)).instruct_stream("x")
    assert "".join(c.text for c in stream) == "a\u2028b\x85c"


def test_a_server_that_ignores_stream_true_gives_its_answer_as_one_piece() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json=chat_answer("Hello there."))])
    session = Session(backend_on(transport))
    stream = session.instruct_stream("Say hello.")
    assert [c.text for c in stream] == ["Hello there."]
    assert stream.result.result.value == "Hello there." and len(session.ctx.full_history()) == 2


def test_a_redirected_stream_is_not_called_a_truncated_stream() -> None:
    transport = ScriptedTransport([httpx2.Response(302, headers={"Location": "http://other.test/v1"})])
    with pytest.raises(ServerRedirectError, match=r"redirect \(HTTP 302\) to http://other.test/v1"):
        list(Session(backend_on(transport)).instruct_stream("x"))


def test_an_endless_event_line_is_refused() -> None:
    transport = ScriptedTransport([stream_reply(b"data: " + b"x" * (2**20 + 10))])
    with pytest.raises(MalformedResponseError, match="a line of more than 1048576 bytes"):
        list(Session(backend_on(transport)).instruct_stream("x"))


def test_a_streamed_answer_larger_than_max_response_bytes_is_refused() -> None:
    events = sse(*[delta("word " * 100)] * 5000)  # about 3 MB
    transport = ScriptedTransport([stream_reply(events)])
    backend = OpenAIBackend(base_url="http://fake.test/v1", transport=transport, max_response_bytes=2**20)
    with pytest.raises(MalformedResponseError, match="max_response_bytes"):
        list(Session(backend).instruct_stream("x"))


def test_a_loop_closed_without_shutting_down_has_its_connection_closed_by_the_next_call() -> None:
    with KeepAliveServer() as server:
        backend = OpenAIBackend(base_url=server.base_url, max_connections=4)
        backend.http._client.close()  # the probe's idle connection: only the loop's is counted below
        time.sleep(0.2)
        assert server.open == 0
        loop = asyncio.new_event_loop()
        assert loop.run_until_complete(Session(backend).ainstruct("Say hello.", loop_budget=1)).value == "hello"
        loop.close()  # bare: no shutdown_asyncgens, the loop's client is never closed on it
        time.sleep(0.2)
        assert server.open == 1
        other = asyncio.new_event_loop()
        other.run_until_complete(Session(backend).ainstruct("Again.", loop_budget=1))
        time.sleep(0.2)
        assert server.open == 1  # the closed loop's connection is gone; this loop's is open
        other.close()
        backend.close()
        time.sleep(0.2)
        assert server.open == 0
