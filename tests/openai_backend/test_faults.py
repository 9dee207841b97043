"""Failures of the server or the network: each is a named gencomp error that says what to do; nothing hangs.

Mock transports and a raw socket server inject the faults; test_llama_server.py proves the backend on
a real llama-server.
"""

from __future__ import annotations

import json
import socket
import time

import httpx2
import pytest

import gencomp
from gencomp import GencompError, Instruction, LinearContext, Session
from gencomp_openai import (
    AuthenticationError,
    MalformedResponseError,
    OpenAIBackend,
    ServerDisconnectedError,
    ServerInternalError,
    ServerTimeoutError,
    ServerUnreachableError,
    UnknownServerModelError,
)
from gencomp_openai.llama_cpp import free_port

from .fakes import RawServer, ScriptedTransport, chat_answer

KEY = "sk-secret-key-that-must-not-leak"


def backend_on(transport: ScriptedTransport, **kwargs: object) -> OpenAIBackend:
    b = OpenAIBackend(base_url="http://fake.test/v1", api_key=KEY, transport=transport, **kwargs)  # type: ignore[arg-type]
    b.http._sleep = lambda s: None  # no real waiting between retries in tests
    return b


def test_transient_503_is_retried_and_the_turn_is_added_once() -> None:
    transport = ScriptedTransport(
        [
            httpx2.Response(503, json={"error": {"message": "loading model"}}),
            httpx2.Response(200, json=chat_answer("hello")),
        ]
    )
    session = Session(backend_on(transport))
    out = session.instruct("Say hello.", loop_budget=1)
    assert out.value == "hello"
    assert [p for _, p, _ in transport.requests] == ["/v1/chat/completions"] * 2
    assert transport.requests[0][2] == transport.requests[1][2]  # the retry resent the same conversation
    turns = session.ctx.render_for_generation()
    assert len(turns) == 2 and isinstance(turns[0], Instruction) and turns[1].value == "hello"
    assert len(json.dumps(transport.requests[1][2]["messages"]).split("Say hello.")) == 2


def test_retries_are_bounded_and_then_raise_a_named_error() -> None:
    busy = [httpx2.Response(503, json={"error": {"message": "busy"}}) for _ in range(3)]
    transport = ScriptedTransport(busy)
    backend = backend_on(transport, max_retries=2)
    with pytest.raises(ServerInternalError, match=r"busy or not ready.*after 3 tries"):
        backend.generate_from_context(Instruction("x"), LinearContext())
    assert len(transport.requests) == 3


def test_backoff_grows_between_retries() -> None:
    transport = ScriptedTransport(
        [httpx2.Response(502, text="bad gateway")] * 3 + [httpx2.Response(200, json=chat_answer("ok"))]
    )
    backend = backend_on(transport, max_retries=3)
    waits: list[float] = []
    backend.http._sleep = waits.append
    backend.generate_from_context(Instruction("x"), LinearContext())
    assert len(waits) == 3
    assert waits[0] < waits[2] and all(w > 0 for w in waits)


def test_http_500_is_not_retried() -> None:
    transport = ScriptedTransport([httpx2.Response(500, json={"error": {"message": "kaboom"}})])
    with pytest.raises(ServerInternalError, match="kaboom.*not retried"):
        backend_on(transport).generate_from_context(Instruction("x"), LinearContext())
    assert len(transport.requests) == 1


def test_bad_key_is_an_authentication_error_that_never_shows_the_key() -> None:
    transport = ScriptedTransport([httpx2.Response(401, json={"error": {"message": "invalid api key"}})])
    backend = backend_on(transport)
    with pytest.raises(AuthenticationError) as info:
        backend.generate_from_context(Instruction("x"), LinearContext())
    assert "OPENAI_API_KEY" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(backend) and KEY not in repr(backend.http)


def test_unknown_model_lists_the_models_the_server_offers() -> None:
    with pytest.raises(UnknownServerModelError, match="'m1'") as info:
        backend_on(ScriptedTransport([]), model_id="gpt-nonexistent")
    assert info.value.available == ["m1"]
    transport = ScriptedTransport([httpx2.Response(404, json={"error": {"message": "model 'm1' not found"}})])
    with pytest.raises(UnknownServerModelError, match="It offers: 'm1'"):
        backend_on(transport).generate_from_context(Instruction("x"), LinearContext())


def test_a_body_that_is_not_json_is_a_malformed_response() -> None:
    transport = ScriptedTransport([httpx2.Response(200, text="<html>proxy login</html>")])
    with pytest.raises(MalformedResponseError, match="not JSON"):
        backend_on(transport).generate_from_context(Instruction("x"), LinearContext())


def test_json_without_choices_is_a_malformed_response() -> None:
    transport = ScriptedTransport([httpx2.Response(200, json={"result": "hi"})])
    with pytest.raises(MalformedResponseError, match=r"choices\[0\]\.message"):
        backend_on(transport).generate_from_context(Instruction("x"), LinearContext())


def test_connection_refused_is_server_unreachable() -> None:
    port = free_port()
    with pytest.raises(ServerUnreachableError, match="cannot connect"):
        OpenAIBackend(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)


def test_unresolvable_host_is_server_unreachable_naming_dns() -> None:
    with pytest.raises(ServerUnreachableError, match="does not resolve"):
        OpenAIBackend(base_url="http://no-such-host.invalid/v1", max_retries=0, connect_timeout=5)


def test_connect_timeout_is_a_timeout_error() -> None:
    with socket.socket() as full:  # a listening socket with a full backlog never accepts
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        fillers = []
        try:
            for _ in range(8):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(full.getsockname())
                fillers.append(s)
            start = time.monotonic()
            with pytest.raises((ServerTimeoutError, ServerUnreachableError)):
                OpenAIBackend(
                    base_url=f"http://127.0.0.1:{full.getsockname()[1]}/v1", connect_timeout=0.3, max_retries=0
                )
            assert time.monotonic() - start < 10
        finally:
            for s in fillers:
                s.close()


def test_a_silent_server_times_out_on_read_and_is_not_retried() -> None:
    def silent(conn: socket.socket, request: bytes) -> None:
        time.sleep(1.5)

    with RawServer(silent) as server:
        backend = OpenAIBackend(base_url=server.base_url, read_timeout=0.3, max_retries=2)
        start = time.monotonic()
        with pytest.raises(ServerTimeoutError, match="read timeout"):
            backend.generate_from_context(Instruction("x"), LinearContext())
        assert time.monotonic() - start < 1.4
        assert server.hits == 1


def test_a_truncated_body_is_a_disconnect_and_is_retried() -> None:
    def truncated(conn: socket.socket, request: bytes) -> None:
        body = json.dumps(chat_answer("a long answer")).encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:20]
        )

    with RawServer(truncated) as server:
        backend = OpenAIBackend(base_url=server.base_url, max_retries=1)
        backend.http._sleep = lambda s: None
        with pytest.raises(ServerDisconnectedError, match="truncated"):
            backend.generate_from_context(Instruction("x"), LinearContext())
        assert server.hits == 2


def test_a_server_that_drops_mid_request_is_a_disconnect() -> None:
    def drop(conn: socket.socket, request: bytes) -> None:
        conn.shutdown(socket.SHUT_RDWR)

    with RawServer(drop) as server:
        backend = OpenAIBackend(base_url=server.base_url, max_retries=0)
        with pytest.raises(ServerDisconnectedError, match="closed the connection"):
            backend.generate_from_context(Instruction("x"), LinearContext())


def test_every_remote_failure_is_a_gencomp_error() -> None:
    for cls in (
        ServerUnreachableError,
        ServerTimeoutError,
        ServerDisconnectedError,
        AuthenticationError,
        UnknownServerModelError,
        ServerInternalError,
        MalformedResponseError,
    ):
        assert issubclass(cls, GencompError)
    assert gencomp.GencompError is GencompError


@pytest.mark.parametrize(("option", "value"), [("max_connections", 0), ("max_retries", -1)])
def test_a_bad_pool_setting_is_refused_before_connecting(option: str, value: int) -> None:
    with pytest.raises(GencompError, match=f"{option} must be"):
        OpenAIBackend(base_url=f"http://127.0.0.1:{free_port()}", **{option: value})  # type: ignore[arg-type]


def test_a_server_that_does_not_say_its_slots_gets_the_default_pool() -> None:
    b = backend_on(ScriptedTransport([]))
    assert b.capabilities.slots is None and b.http.max_connections == 64
