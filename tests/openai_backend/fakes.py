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
    """A TCP server on 127.0.0.1 that answers ``GET /v1/models`` properly (unless ``probe``) and hands any other
    request to ``fault``.

    ``fault(conn, request_bytes)`` writes what it wants (or nothing) to the socket; the connection is
    closed after it returns. Used for truncated bodies, dropped connections and silent servers.
    """

    def __init__(self, fault: Callable[[socket.socket, bytes], None], *, probe: bool = False) -> None:
        self.fault = fault
        self.probe = probe
        """Whether ``GET /v1/models`` (the probe at construction) gets the fault too."""
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
                if request.startswith(b"GET /v1/models") and not self.probe:
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


INVOCATION = "<|im_start|>check\n"
ALORA_ENTRY = {
    "id": 0,
    "path": "/adapters/constraint.gguf",
    "scale": 1.0,
    "alora_invocation_tokens": [1, 5875, 198],
    "alora_invocation_string": INVOCATION,
}


def check_answer(token: str, p_yes: float, **timings: Any) -> dict[str, Any]:
    """A llama-server ``/completion`` answer of a check: ``token`` generated, Y/N log-probabilities from ``p_yes``."""
    import math

    top = [{"token": "Y", "logprob": math.log(p_yes)}, {"token": "N", "logprob": math.log(1 - p_yes)}]
    return {"content": token, "completion_probabilities": [{"top_logprobs": top}], "timings": dict(timings)}


class FakeLlamaServer(httpx2.MockTransport):
    """A scripted llama-server: the probe's endpoints, ``/apply-template`` (ChatML), ``/tokenize`` (a token a
    word), ``/completion`` (a check's prefill, and the check: the prompt ends with the invocation) and
    ``/v1/chat/completions``.

    By default a prefill lands in slot 1 with 40 tokens reused and 12 computed, and a check reuses all but
    the prefill's last token in that slot (what llama-server answers when nothing disturbs it) and
    answers ``Y`` at p(yes) ``p_yes``. ``check`` (a callable of the check's body and the last prefill's
    ``(slot, tokens)``) replaces that answer; ``chat`` the chat answers. ``requests`` records every
    request but the probe's ``GET /v1/models`` and ``/props`` as ``(method, path, body)``.
    """

    def __init__(
        self,
        *,
        adapters: list[dict[str, Any]] | None = None,
        p_yes: float = 0.9,
        check: Callable[[dict[str, Any], tuple[int, int]], dict[str, Any]] | None = None,
        chat: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        model: str = "/models/smol.gguf",
        slots: int = 2,
    ) -> None:
        self.adapters = [dict(ALORA_ENTRY)] if adapters is None else adapters
        self.p_yes = p_yes
        self.check = check
        self.chat = chat
        self.model = model
        self.slots = slots
        self.requests: list[tuple[str, str, Any]] = []
        self.prefill = (1, 52)
        super().__init__(self._handle)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method == "GET" and path == "/v1/models":
            return httpx2.Response(200, json={"data": [{"id": self.model, "owned_by": "llamacpp"}]})
        if request.method == "GET" and path == "/props":
            return httpx2.Response(
                200, json={"total_slots": self.slots, "default_generation_settings": {"n_ctx": 4096}}
            )
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, body))
        if path == "/lora-adapters":
            return httpx2.Response(200, json=self.adapters)
        if path == "/apply-template":
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in body["messages"])
            return httpx2.Response(200, json={"prompt": text})
        if path == "/tokenize":
            return httpx2.Response(200, json={"tokens": list(range(len(body["content"].split())))})
        if path == "/completion" and body["prompt"].endswith(INVOCATION):
            if self.check is not None:
                return httpx2.Response(200, json=self.check(body, self.prefill))
            slot, total = self.prefill
            answer = check_answer("Y" if self.p_yes > 0.5 else "N", self.p_yes, prompt_n=4, cache_n=total - 1)
            return httpx2.Response(200, json={**answer, "id_slot": slot})
        if path == "/completion":
            slot, total = self.prefill
            return httpx2.Response(
                200, json={"content": "x", "id_slot": slot, "timings": {"prompt_n": 12, "cache_n": total - 12}}
            )
        if path == "/v1/chat/completions":
            answer = self.chat(body) if self.chat is not None else chat_answer("Yes", model=self.model)
            return httpx2.Response(200, json=answer)
        raise AssertionError(f"unexpected request {request.method} {path}")

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]


class KeepAliveServer:
    """An HTTP/1.1 server on 127.0.0.1 that keeps connections open: ``GET /v1/models`` and a chat answer to any
    POST. ``open`` counts the connections a client holds now."""

    def __init__(self) -> None:
        import http.server

        outer = self
        self.open = 0
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer.open += 1

            def finish(self) -> None:
                super().finish()
                with outer._lock:
                    outer.open -= 1

            def _send(self, data: Any) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send(MODELS)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send(chat_answer("hello"))

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> KeepAliveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
