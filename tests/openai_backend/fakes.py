"""Fault injection for the remote backend's tests: a mock transport and a raw socket server.

These add failures a real llama-server cannot be made to produce on demand; the behaviour on a real
server is proven by the tests that start one (test_llama_server.py).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx2

MODELS = {"object": "list", "data": [{"id": "m1", "object": "model", "owned_by": "someone"}]}


def chat_answer(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        **extra,
    }


class ScriptedTransport(httpx2.MockTransport):
    """Answers ``GET /v1/models`` with one model, and every other request with the next scripted reply.

    A reply is an ``httpx2.Response``, an exception to raise, or a callable of the request.
    ``requests`` records the non-probe requests (method, path, JSON body).
    """

    def __init__(self, replies: list[Any], models: dict[str, Any] | None = None) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, str, Any]] = []
        self.models = models or MODELS
        super().__init__(self._handle)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and request.url.path == "/v1/models":
            return httpx2.Response(200, json=self.models)
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url.path}")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(request)
        return reply


class RawServer:
    """A TCP server on 127.0.0.1 that answers ``GET /v1/models`` properly and hands any other request to ``fault``.

    ``fault(conn, request_bytes)`` writes what it wants (or nothing) to the socket; the connection is
    closed after it returns. Used for truncated bodies, dropped connections and silent servers.
    """

    def __init__(self, fault: Callable[[socket.socket, bytes], None]) -> None:
        self.fault = fault
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            while True:
                request = self._read_request(conn)
                if not request:
                    return
                if request.startswith(b"GET /v1/models"):
                    body = json.dumps(MODELS).encode()
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(body)).encode()
                        + b"\r\n\r\n"
                        + body
                    )
                    continue
                self.hits += 1
                self.fault(conn, request)
                return

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(timeout=5)
