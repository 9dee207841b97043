"""Failures of the server or the network: each is a named gencomp error that says what to do; nothing hangs.

Mock transports and a raw socket server inject the faults; test_llama_server.py proves the backend on
a real llama-server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx2
import pytest

import gencomp
from gencomp import GencompError, Instruction, LinearContext, Session
from gencomp_openai import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    OpenAIBackend,
    ServerDisconnectedError,
    ServerInternalError,
    ServerRedirectError,
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


def trickle(conn: socket.socket, request: bytes) -> None:
    """Headers at once, then the body one byte at a time, 0.2 s apart, for ever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    try:
        while True:
            conn.sendall(b" ")
            time.sleep(0.2)
    except OSError:
        return


def test_a_server_that_trickles_its_answer_is_cut_at_the_total_timeout_sync_and_async() -> None:
    with RawServer(trickle) as server:
        backend = OpenAIBackend(base_url=server.base_url, timeout=1.0, read_timeout=3, max_retries=2)
        start = time.monotonic()
        with pytest.raises(ServerTimeoutError, match=r"within the total timeout of 1 s"):
            backend.generate_from_context(Instruction("x"), LinearContext())
        assert time.monotonic() - start < 3  # the read timeout alone (3 s per byte) would never end it
        start = time.monotonic()
        with pytest.raises(ServerTimeoutError, match=r"total timeout of 1 s"):
            asyncio.run(Session(backend).ainstruct("x", loop_budget=1))
        assert time.monotonic() - start < 3
        assert server.hits == 2  # a timeout is never retried
        backend.close()


def test_a_server_that_goes_silent_after_part_of_its_answer_is_cut_at_the_total_timeout() -> None:
    def half(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        time.sleep(5)

    with RawServer(half) as server:
        backend = OpenAIBackend(base_url=server.base_url, timeout=1.0)
        start = time.monotonic()
        with pytest.raises(ServerTimeoutError, match="total timeout"):
            backend.generate_from_context(Instruction("x"), LinearContext())
        assert time.monotonic() - start < 3
        backend.close()


def test_the_probe_at_construction_is_bounded_by_the_total_timeout() -> None:
    def silent(conn: socket.socket, request: bytes) -> None:
        time.sleep(5)

    with RawServer(silent, probe=True) as server:
        start = time.monotonic()
        with pytest.raises(ServerTimeoutError):
            OpenAIBackend(base_url=server.base_url, timeout=0.5)
        assert time.monotonic() - start < 3


@pytest.mark.parametrize(
    ("option", "value"),
    [("read_timeout", 0), ("timeout", 0), ("timeout", -1), ("connect_timeout", float("nan")), ("timeout", "600")],
)
def test_a_timeout_that_is_not_a_positive_number_is_refused(option: str, value: object) -> None:
    with pytest.raises(GencompError, match=f"{option} must be a number of seconds more than 0"):
        OpenAIBackend(base_url=f"http://127.0.0.1:{free_port()}", **{option: value})  # type: ignore[arg-type]


def test_the_default_total_timeout_is_600_seconds_and_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_on(ScriptedTransport([])).http.timeouts.total == 600
    monkeypatch.setenv("GENCOMP_OPENAI_TIMEOUT", "42")
    assert backend_on(ScriptedTransport([])).http.timeouts.total == 42


def endless(piece: bytes, times: int) -> httpx2.Response:
    return httpx2.Response(200, content=iter([piece] * times), headers={"Content-Type": "application/json"})


def test_an_answer_larger_than_max_response_bytes_is_refused_without_reading_it_whole() -> None:
    transport = ScriptedTransport([endless(b" " * 65536, 1600)])  # 100 MiB
    backend = backend_on(transport, max_response_bytes=2**20)
    with pytest.raises(MalformedResponseError, match=r"more than 1048576 bytes of answer \(max_response_bytes=\)"):
        backend.generate_from_context(Instruction("x"), LinearContext())


def test_a_huge_error_body_is_read_only_as_far_as_its_message() -> None:
    body = iter([b'{"error": {"message": "' + b"x" * 60000] + [b"y" * 65536] * 1600)  # 100 MiB
    transport = ScriptedTransport([httpx2.Response(400, content=body)])
    with pytest.raises(BadRequestError) as info:
        backend_on(transport).generate_from_context(Instruction("x"), LinearContext())
    assert len(str(info.value)) < 1000


def test_retry_after_is_waited_for_and_a_longer_one_is_not() -> None:
    transport = ScriptedTransport(
        [
            httpx2.Response(429, headers={"Retry-After": "3"}, json={"error": {"message": "slow down"}}),
            httpx2.Response(200, json=chat_answer("ok")),
            httpx2.Response(503, headers={"Retry-After": "3600"}, json={"error": {"message": "maintenance"}}),
        ]
    )
    backend = backend_on(transport)
    waits: list[float] = []
    backend.http._sleep = waits.append
    assert backend.generate_from_context(Instruction("x"), LinearContext()).value == "ok"
    assert waits == [3.0]
    with pytest.raises(ServerInternalError, match=r"retry after 3600 s \(Retry-After\), over 60 s"):
        backend.generate_from_context(Instruction("x"), LinearContext())
    assert waits == [3.0] and len(transport.requests) == 3


def test_a_retry_that_would_pass_the_total_timeout_is_not_made() -> None:
    transport = ScriptedTransport(
        [httpx2.Response(503, headers={"Retry-After": "30"}, json={"error": {"message": "busy"}})]
    )
    backend = backend_on(transport, timeout=10)
    with pytest.raises(ServerInternalError, match="would pass the total timeout of 10 s"):
        backend.generate_from_context(Instruction("x"), LinearContext())


def test_a_redirect_is_named_and_not_followed() -> None:
    moved = httpx2.Response(307, headers={"Location": "https://elsewhere.test/v1/chat/completions?key=abcd1234"})
    transport = ScriptedTransport([moved, moved])
    backend = backend_on(transport)
    with pytest.raises(ServerRedirectError, match=r"redirect \(HTTP 307\) to https://elsewhere.test/.*key=\*\*\*"):
        backend.generate_from_context(Instruction("x"), LinearContext())
    with pytest.raises(ServerRedirectError, match="Set base_url to the address"):
        list(Session(backend).instruct_stream("x"))
    assert [p for _, p, _ in transport.requests] == ["/v1/chat/completions"] * 2


SECRET_URL = "http://alice:s3cret-pass@127.0.0.1:{port}/v1"


def test_credentials_in_base_url_and_the_api_key_are_never_shown(capsys: pytest.CaptureFixture[str]) -> None:
    def echo(conn: socket.socket, request: bytes) -> None:
        # a server whose error message repeats the request's headers
        head = request.split(b"\r\n\r\n")[0].decode()
        body = json.dumps({"error": {"message": f"bad request; headers were {head}"}}).encode()
        conn.sendall(b"HTTP/1.1 500 Error\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    with RawServer(echo) as server:
        url = SECRET_URL.format(port=server.port)
        backend = OpenAIBackend(base_url=url, api_key=KEY)
        logs: list[gencomp.GenerateLog] = []
        with pytest.raises(ServerInternalError) as info:
            backend.generate_from_context(Instruction("x"), LinearContext(), generate_logs=logs)
        shown = [repr(backend), repr(backend.http), str(info.value), repr(info.value.__cause__)]
        assert "***@127.0.0.1" in repr(backend) and "headers were" in str(info.value)
        for text in shown:
            assert "s3cret-pass" not in text and KEY not in text and "YWxpY2U6czNjcmV0LXBhc3M" not in text
        backend.close()


def test_credentials_never_reach_the_cli_error_debug_traceback_logs_or_plugin_trace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gencomp import cli, plugins

    answered = {"n": 0}

    def answer_then_fail(conn: socket.socket, request: bytes) -> None:
        answered["n"] += 1
        if answered["n"] == 1:
            body = json.dumps(chat_answer("hello")).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        else:
            conn.shutdown(socket.SHUT_RDWR)

    with RawServer(answer_then_fail) as server:
        url = SECRET_URL.format(port=server.port)
        monkeypatch.setenv("GENCOMP_TRACE_PLUGINS", "1")
        plugins.reset()
        try:
            session = gencomp.start_session(backend="openai", base_url=url, api_key=KEY)
            session.instruct("Say hello.", loop_budget=1)
            assert session.last_logs[0].extra["server"] == f"http://***@127.0.0.1:{server.port}"
            monkeypatch.setenv("GENCOMP_BACKEND", "openai")
            monkeypatch.setenv("GENCOMP_OPENAI_BASE_URL", url)
            monkeypatch.setenv("GENCOMP_OPENAI_API_KEY", KEY)
            code = cli.main(["--debug", "instruct", "Say hello.", "--max-new-tokens", "4", "--no-stream"])
        finally:
            monkeypatch.delenv("GENCOMP_TRACE_PLUGINS")
            plugins.reset()
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2 and "gencomp: error:" in text and "Traceback" in text  # the --debug traceback
    assert "gencomp_backend_created" in text and "OpenAIBackend('" in text  # the plugin trace, with the backend
    assert "s3cret-pass" not in text and KEY not in text and "***@127.0.0.1" in text


def test_a_bad_backend_option_value_in_gencomp_toml_is_named_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gencomp.toml"
    config.write_text(
        'backend = "openai"\n[backend_options]\nbase_url = "http://127.0.0.1:9/v1"\nmax_retries = "two"\n'
    )
    monkeypatch.setenv("GENCOMP_CONFIG", str(config))
    with pytest.raises(gencomp.ConfigError, match=rf"{config} \[backend_options\]: max_retries must be a whole number"):
        gencomp.start_session()
    config.write_text('backend = "openai"\n[backend_options]\nbase_url = "http://127.0.0.1:9/v1"\nread_timeout = 0\n')
    with pytest.raises(
        gencomp.ConfigError, match=rf"{config} \[backend_options\]: read_timeout must be .* more than 0"
    ):
        gencomp.start_session()
    config.write_text('backend = "openai"\n[backend_options]\nbase_url = "http://127.0.0.1:9/v1"\n')
    with pytest.raises(gencomp.ConfigError, match=r"^max_connections must be a whole number of at least 1, got 0$"):
        gencomp.start_session(max_connections=0)
