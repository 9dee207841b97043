"""The conformance kit's own test subjects: a reference backend, five deliberately broken variants, a fake server.

``ReferenceBackend`` speaks an Ollama-like ``/api/chat`` protocol (JSON request, newline-delimited
JSON pieces back) to ``FakeModelServer``, a local HTTP server over a small word model that honours
``num_predict``, ``temperature``, ``seed``, ``stop`` and a JSON-schema ``format``, and refuses other
options with a 400 as a real server does. Only the standard library is used (the core's tests run
without third-party HTTP clients). Each variant breaks one thing the way a backend author might;
the kit must fail each with a message that names the fix (``tests/core/test_conformance_kit.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import random
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from gencomp import (
    FormatterBackend,
    GencompError,
    Generation,
    GenerationRequest,
    ModelOption,
    hookimpl,
    plugins,
)
from gencomp.base import CBlock, Component
from gencomp.formatter import PlainFormatter
from gencomp.streaming import GenerationControl, current_control
from gencomp.testing import BackendConformance
from gencomp.verdicts import RequirementCheck

WORDS = [
    "amber",
    "river",
    "stone",
    "lantern",
    "harbor",
    "maple",
    "quiet",
    "silver",
    "meadow",
    "falcon",
    "ember",
    "willow",
    "copper",
    "thunder",
    "garden",
    "velvet",
    "orbit",
    "pebble",
    "canyon",
    "lotus",
    "cedar",
    "glacier",
    "hollow",
    "indigo",
    "juniper",
    "kettle",
    "lagoon",
    "marble",
    "nectar",
    "onyx",
    "prairie",
    "quartz",
    "raven",
    "saffron",
    "tundra",
    "umber",
    "violet",
    "walnut",
    "yarrow",
    "zephyr",
]
OPTIONS = frozenset({"num_predict", "temperature", "seed", "stop"})
DEFAULTS = {"num_predict": 128, "temperature": 0.0}
"""What the server does with an option it is not sent: a long, greedy answer."""


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _fill(schema: dict[str, Any], prompt: str) -> dict[str, Any]:
    """A JSON object of ``schema``'s properties: a word for a string, a number for an integer."""
    value: dict[str, Any] = {}
    for i, (name, prop) in enumerate(schema.get("properties", {}).items()):
        h = _digest(f"{prompt}|{name}")
        kind = prop.get("type")
        value[name] = WORDS[h[0] % len(WORDS)].title() if kind == "string" else 1000 * (h[1] + i) if kind else None
    return value


def answer(messages: list[dict[str, Any]], options: dict[str, Any], schema: dict[str, Any] | None) -> list[str]:
    """The word model: the pieces of its answer to ``messages`` (greedy words from the prompt, or sampled)."""
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    if schema is not None:
        text = json.dumps(_fill(schema, prompt))
        return [text[i : i + 8] for i in range(0, len(text), 8)]
    options = {**DEFAULTS, **options}
    rng = random.Random(options.get("seed"))  # no seed: a fresh random state, as a server does
    temperature = float(options["temperature"])
    words = []
    for i in range(int(options["num_predict"])):
        greedy = WORDS[_digest(f"{prompt}|{i}")[0] % len(WORDS)]
        words.append(rng.choice(WORDS) if rng.random() < min(temperature, 1.0) else greedy)
    text = " ".join(words)
    for stop in options.get("stop") or []:
        if stop in text:
            text = text[: text.index(stop)]
    return re.findall(r"\S+\s*", text)


class FakeModelServer:
    """An Ollama-like ``POST /api/chat`` on 127.0.0.1 over :func:`answer`; ``delay`` seconds before each piece."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.disconnected = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection, the body read until it closes

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                options = body.get("options") or {}
                unknown = sorted(set(options) - OPTIONS)
                if self.path != "/api/chat" or unknown:
                    error = f"unknown option {unknown[0]!r}" if unknown else f"no route {self.path}"
                    return self._send(400 if unknown else 404, {"error": error})
                pieces = answer(body["messages"], options, body.get("format"))
                if not body.get("stream", True):
                    time.sleep(fake.delay * len(pieces))
                    return self._send(200, {"message": {"role": "assistant", "content": "".join(pieces)}, "done": True})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                try:
                    for piece in pieces:
                        time.sleep(fake.delay)
                        self._line({"message": {"role": "assistant", "content": piece}, "done": False})
                    self._line({"done": True})
                except (BrokenPipeError, ConnectionResetError):
                    fake.disconnected += 1

            def _line(self, event: dict[str, Any]) -> None:
                self.wfile.write(json.dumps(event).encode() + b"\n")
                self.wfile.flush()

            def _send(self, status: int, event: dict[str, Any]) -> None:
                data = json.dumps(event).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.01,), name="fake-model-server", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def unused_url() -> str:
    """An address where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class ServerUnreachableError(GencompError, ConnectionError):
    """Nothing answers at the backend's address."""


class ServerError(GencompError):
    """The server refused the request."""


class JudgeFormatter(PlainFormatter):
    """Plain rendering, except that a requirement check asks for a yes/no verdict."""

    def print(self, c: Component | CBlock) -> str:
        if isinstance(c, RequirementCheck):
            return (
                f"Here is an answer:\n{c.output}\n\nDoes it meet this requirement? {c.description}\n"
                'Reply with "Yes" or "No" first.'
            )
        return super().print(c)


class ReferenceBackend(FormatterBackend):
    """A correct backend for :class:`FakeModelServer`: options translated, pieces streamed, stops when told."""

    option_map = {"num_predict": ModelOption.MAX_NEW_TOKENS, "seed": ModelOption.SEED}
    generate_keys = frozenset({"num_predict", "seed", "temperature", "stop"})

    def __init__(self, model_id: str = "reference", *, base_url: str, **kwargs: Any) -> None:
        parts = urlsplit(base_url)
        self.base_url, self.host, self.port = base_url, parts.hostname or "127.0.0.1", parts.port or 80
        super().__init__(model_id, JudgeFormatter(), **kwargs)

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        messages = request.messages or [{"role": "user", "content": request.prompt or ""}]
        body: dict[str, Any] = {"model": self.model_id_str, "messages": messages, "stream": True}
        body["options"] = dict(request.options.generate)
        if request.format is not None:
            body["format"] = request.format.model_json_schema()
        return body

    def handle(self, control: GenerationControl | None, piece: str) -> bool:
        """Hand on one piece; whether to go on reading."""
        return control is None or control.push(piece)

    def _unreachable(self, exc: OSError) -> ServerUnreachableError:
        return ServerUnreachableError(f"nothing answers at {self.base_url} ({exc}): start the server or fix base_url")

    def _refused(self, status: int, body: bytes) -> ServerError:
        return ServerError(f"the server at {self.base_url} answered {status}: {body.decode(errors='replace')}")

    def take(self, line: bytes, control: GenerationControl | None) -> tuple[str, bool]:
        """One line of the answer: its piece (handed on), and whether to read on."""
        event = json.loads(line)
        piece = event.get("message", {}).get("content", "")
        go_on = self.handle(control, piece) if piece else True
        return piece, go_on and not event.get("done")

    def generate(self, request: GenerationRequest) -> Generation:
        control = current_control()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            try:
                body = json.dumps(self.payload(request))
                conn.request("POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
            except OSError as exc:
                raise self._unreachable(exc) from exc
            if response.status != 200:
                raise self._refused(response.status, response.read())
            text = ""
            for line in response:
                piece, more = self.take(line, control)
                text += piece
                if not more:
                    break
            return Generation(text)
        finally:
            conn.close()  # an early stop closes the connection: the server stops generating

    async def agenerate(self, request: GenerationRequest) -> Generation:
        control = current_control()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise self._unreachable(exc) from exc
        try:
            body = json.dumps(self.payload(request)).encode()
            head = f"POST /api/chat HTTP/1.0\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            while (await reader.readline()).strip():  # the headers
                pass
            if status != 200:
                raise self._refused(status, await reader.read())
            text = ""
            async for line in reader:
                piece, more = self.take(line, control)
                text += piece
                if not more:
                    break
            return Generation(text)
        finally:
            writer.close()


# -- the deliberately broken variants: each one mistake a backend author might make ----------------


class SendsNoOptions(ReferenceBackend):
    """Never sends the options: the server answers with its defaults."""

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        body = super().payload(request)
        del body["options"]
        return body


class RejectsTemperature(ReferenceBackend):
    """Sends temperature under a name the server does not know, which the server refuses."""

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        body = super().payload(request)
        if "temperature" in body["options"]:
            body["options"]["temp"] = body["options"].pop("temperature")
        return body


class BlocksTheEventLoop(ReferenceBackend):
    """Its agenerate runs the blocking HTTP call on the event loop."""

    async def agenerate(self, request: GenerationRequest) -> Generation:
        return self.generate(request)


class IgnoresCancellation(ReferenceBackend):
    """Pushes every piece and never looks at push()'s answer: it reads the whole answer after a stop."""

    def handle(self, control: GenerationControl | None, piece: str) -> bool:
        if control is not None:
            control.push(piece)
        return True


class NeverStreams(ReferenceBackend):
    """Asks for the whole answer at once and hands nothing on while it generates."""

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        return {**super().payload(request), "stream": False}

    def handle(self, control: GenerationControl | None, piece: str) -> bool:
        return True


VARIANTS = (SendsNoOptions, RejectsTemperature, BlocksTheEventLoop, IgnoresCancellation, NeverStreams)


class ReferenceKit(BackendConformance):
    """The kit against ``backend_class`` on a fake server (and a slowed one), registered as ``reference``."""

    backend_name = "reference"
    backend_class: ClassVar[type[ReferenceBackend]] = ReferenceBackend
    slow_delay: ClassVar[float] = 0.006
    """Seconds before each piece on the slowed server: 64 pieces take about 0.4 s (the kit wants 0.3 s)."""

    @pytest.fixture(autouse=True)
    def _servers(self) -> Iterator[None]:
        backend_class = self.backend_class

        class Registers:
            @hookimpl
            def gencomp_register_backends(self, register: Any) -> None:
                register("reference", lambda model_id, **kwargs: backend_class(model_id or "reference", **kwargs))

        self.server, self.slow_server = FakeModelServer(), FakeModelServer(delay=self.slow_delay)
        plugin = Registers()
        plugins.register_plugin(plugin, name="kit-reference")
        yield
        plugins.unregister_plugin(plugin)
        self.server.close()
        self.slow_server.close()

    def make_backend(self, **kwargs: Any) -> ReferenceBackend:
        return self.backend_class(base_url=self.server.url, **kwargs)

    def make_slow_backend(self, **kwargs: Any) -> ReferenceBackend:
        return self.backend_class(base_url=self.slow_server.url, **kwargs)

    def make_unreachable_backend(self) -> ReferenceBackend:
        return self.backend_class(base_url=unused_url())

    def discovery_kwargs(self) -> dict[str, Any]:
        return {"model_id": "reference", "base_url": self.server.url}
