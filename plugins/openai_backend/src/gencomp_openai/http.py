"""The HTTP layer: one pooled ``httpx2`` client per backend, retries with backoff, failures as named errors.

Everything that decides (which failures are retried, how long to wait, which error a status or an
exception becomes) is a plain function of the request's outcome, so an asynchronous twin of
:class:`HttpLayer` on ``httpx2.AsyncClient`` reuses it unchanged. Nothing here knows the protocol's
payloads: :mod:`gencomp_openai.protocol` builds and reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from gencomp.tracing import current_span
from gencomp_openai.errors import (
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    RemoteBackendError,
    ServerDisconnectedError,
    ServerInternalError,
    ServerTimeoutError,
    ServerUnreachableError,
    UnknownServerModelError,
)

__all__ = [
    "HttpLayer",
    "RetryPolicy",
    "SSEDecoder",
    "Timeouts",
    "decode_json",
    "error_for_exception",
    "error_for_status",
    "server_root",
]

RETRIED_STATUS = frozenset({429, 502, 503, 504})
"""Statuses that mean "try again later": rate limited, or a proxy or a loading server not ready."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection and for each read of the answer (``None``: no limit)."""

    connect: float | None = 5.0
    read: float | None = 600.0

    def to_httpx(self) -> httpx2.Timeout:
        return httpx2.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.read)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: at most ``attempts`` tries in all, waiting ``backoff * 2**n`` seconds
    (capped at ``max_backoff``, with jitter) between them."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): full exponential, half of it jittered."""
        base = min(self.max_backoff, self.backoff * (2**retry))
        return float(base * (0.5 + 0.5 * rng()))


def _retrying(delay: float, retry: int, error: BaseException | None) -> float:
    """``delay``, after recording retry number ``retry`` on the current span (``gencomp.retry``, for observers)."""
    span = current_span()
    if span is not None:
        span.event(
            "gencomp.retry", **{"gencomp.retry": retry, "error.type": type(error).__name__, "gencomp.delay_s": delay}
        )
    return delay


def _limits(max_connections: int) -> httpx2.Limits:
    if max_connections < 1:
        raise ValueError(f"max_connections must be 1 or more, got {max_connections}")
    return httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


def server_root(base_url: str) -> str:
    """``base_url`` without a trailing ``/v1`` (and slash): the OpenAI paths are ``/v1/...`` under it."""
    url = base_url.rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


def _server_message(body: bytes) -> str:
    """The ``error.message`` (or ``detail``) of an error body, else its first 300 characters."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300].strip()
    if isinstance(data, Mapping):
        err = data.get("error", data)
        if isinstance(err, Mapping):
            msg = err.get("message") or err.get("detail")
            if msg:
                return str(msg)
        elif isinstance(err, str):
            return err
        if "detail" in data:
            return str(data["detail"])
    return text[:300].strip()


def error_for_status(
    status: int, body: bytes, url: str, available_models: Callable[[], list[str]] | None = None
) -> RemoteBackendError:
    """The named error for an HTTP error ``status`` with ``body`` from ``url``."""
    msg = _server_message(body)
    if status in (401, 403):
        return AuthenticationError(
            f"the server at {url} refused the API key (HTTP {status}: {msg}). Set the right key with api_key=, "
            f"GENCOMP_OPENAI_API_KEY or OPENAI_API_KEY",
            status=status,
        )
    low = msg.lower()
    if "model" in low and (status == 404 or (status == 400 and ("not found" in low or "does not exist" in low))):
        models = []
        if available_models is not None:
            try:
                models = available_models()
            except RemoteBackendError:
                models = []
        offered = ", ".join(repr(m) for m in models) if models else "(the server lists none)"
        return UnknownServerModelError(
            f"the server at {url} does not serve the model asked for (HTTP {status}: {msg}). "
            f"It offers: {offered}; pass one of them as model_id=",
            available=models,
            status=status,
        )
    if status == 404:
        return BadRequestError(
            f"{url} does not exist on the server (HTTP 404: {msg}). Check base_url: it should be the server's "
            f"address, with or without the trailing /v1",
            status=status,
        )
    if 400 <= status < 500 and status not in RETRIED_STATUS:
        return BadRequestError(f"the server at {url} rejected the request (HTTP {status}): {msg}", status=status)
    if status in RETRIED_STATUS:
        err = ServerInternalError(
            f"the server at {url} is busy or not ready (HTTP {status}: {msg}); retried and gave up. "
            f"Try again later or raise max_retries=",
            status=status,
        )
        err.retryable = True
        return err
    return ServerInternalError(
        f"the server at {url} failed (HTTP {status}: {msg}). See the server's log; the request was not retried",
        status=status,
    )


def _is_dns_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror):
            return True
        text = str(cur).lower()
        if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def error_for_exception(exc: httpx2.HTTPError, url: str) -> RemoteBackendError:
    """The named error for a transport failure of a request to ``url``."""
    if isinstance(exc, httpx2.ConnectTimeout):
        return ServerTimeoutError(
            f"no connection to {url} within the connect timeout ({exc}). Is the server up and reachable? "
            f"Raise connect_timeout= if it is slow to accept"
        )
    if isinstance(exc, httpx2.TimeoutException):
        return ServerTimeoutError(
            f"{url} did not answer within the read timeout ({type(exc).__name__}). The request may be too long "
            f"for the server: raise read_timeout= or ask for fewer tokens. It was not retried, so that the "
            f"server does not run it twice"
        )
    if isinstance(exc, httpx2.ConnectError):
        if _is_dns_failure(exc):
            return ServerUnreachableError(f"the host of {url} does not resolve ({exc}); check base_url")
        return ServerUnreachableError(
            f"cannot connect to {url} ({exc}). Is the server running at that address? Check base_url"
        )
    if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.WriteError):
        return ServerDisconnectedError(
            f"the server closed the connection during the request to {url} ({type(exc).__name__}: {exc}); "
            f"the answer was lost or truncated. If it repeats, see the server's log"
        )
    return RemoteBackendError(f"the request to {url} failed: {type(exc).__name__}: {exc}")


class HttpLayer:
    """A thread-safe, pooled JSON client of one server, synchronous and (``a...`` methods) asynchronous.

    ``base_url`` may end with ``/v1`` or not; ``api_key`` is sent as a bearer token and never shown
    (not in ``repr``, errors or logs). ``transport`` replaces the network (tests give an
    ``httpx2.MockTransport``, which serves the async client too). ``max_connections`` bounds the pool
    shared by all threads, and that of each event loop's async client (one per loop, made on first use):
    requests beyond it wait for a free connection (up to the read timeout) instead of opening more.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        max_connections: int = 64,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.root = server_root(base_url)
        self.timeouts = timeouts
        self.retry = retry
        self._sleep = sleep
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.max_connections = max_connections
        self._transport = transport
        self._client_args: dict[str, Any] = {
            "base_url": self.root,
            "headers": headers,
            "timeout": timeouts.to_httpx(),
            "limits": _limits(max_connections),
        }
        self._client = httpx2.Client(**self._client_args, transport=transport)
        self._atransport = transport if isinstance(transport, httpx2.AsyncBaseTransport) else None
        self._aclients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx2.AsyncClient, AsyncIterator[None]]
        ] = weakref.WeakKeyDictionary()
        self._asleep = asleep
        self._closed = threading.Event()
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self.available_models: Callable[[], list[str]] | None = None
        """Set by the backend: lists the server's models for the unknown-model error."""

    def __repr__(self) -> str:
        return f"HttpLayer({self.root!r})"

    def limit_connections(self, max_connections: int) -> None:
        """Bound the pools to ``max_connections`` from now on; for the owner, before it shares the layer.

        The backend calls it right after its probe, once it knows how many requests the server runs
        at once (no event loop has used the layer yet; the sync pool's idle connections are closed).
        """
        if self._aclients:
            raise RuntimeError("limit_connections() after an event loop has used this HttpLayer")
        if max_connections == self.max_connections:
            return
        self.max_connections = max_connections
        self._client_args["limits"] = _limits(max_connections)
        old, self._client = self._client, httpx2.Client(**self._client_args, transport=self._transport)
        old.close()

    def url(self, path: str) -> str:
        return self.root + path

    def get(self, path: str) -> Any:
        """GET ``path`` and return its decoded JSON."""
        return self.request("GET", path)

    def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``path`` and return the decoded JSON answer."""
        return self.request("POST", path, payload)

    def request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Send one request, retrying transient failures per :attr:`retry`; the decoded JSON answer.

        The requests of this backend carry the whole conversation and change nothing on the server
        but its caches, so a retry never adds a turn twice: the caller's context is extended only with
        the answer returned here.
        """
        self._check_open()
        url = self.url(path)
        last: RemoteBackendError | None = None
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                self._sleep(_retrying(self.retry.delay(attempt - 1), attempt, last))
            self._count()
            try:
                response = self._client.request(method, path, json=payload)
                body = response.read()
            except httpx2.HTTPError as exc:
                last = _transport_error(exc, url)
                continue
            last = self._status_error(response.status_code, body, url)
            if last is None:
                return decode_json(response.status_code, body, url)
        raise _gave_up(last, self.retry.attempts)

    def stream(self, path: str, payload: Mapping[str, Any], on_event: Callable[[Any], bool]) -> bool:
        """POST ``payload`` and hand each server-sent event's decoded JSON to ``on_event``; ``True`` at ``[DONE]``.

        ``on_event`` returning ``False`` closes the stream at once (the server stops generating) and
        this returns ``False``. Failures before the first event are retried as :meth:`request` does;
        after it never (the caller has already handed text on), so a retry cannot repeat an answer.
        A stream that ends without ``[DONE]`` raises ``ServerDisconnectedError``; an event that is not
        JSON raises ``MalformedResponseError``.
        """
        self._check_open()
        url = self.url(path)
        last: RemoteBackendError | None = None
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                self._sleep(_retrying(self.retry.delay(attempt - 1), attempt, last))
            self._count()
            events = SSEDecoder(url)
            try:
                with self._client.stream("POST", path, json=payload, headers=SSE_HEADERS) as response:
                    if response.status_code >= 400:
                        last = self._status_error(response.status_code, response.read(), url)
                        continue
                    for line in response.iter_lines():
                        for data in events.feed(line):
                            if not on_event(data):
                                return False
                        if events.done:
                            return True
            except httpx2.HTTPError as exc:
                last = _transport_error(exc, url)
                if events.started:
                    raise last from exc
                continue
            events.finish()
        raise _gave_up(last, self.retry.attempts)

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise RemoteBackendError("this backend was closed; create a new one")

    def _count(self) -> None:
        with self._count_lock:
            self.requests_sent += 1

    def _status_error(self, status: int, body: bytes, url: str) -> RemoteBackendError | None:
        """``None`` for a success; the error of an HTTP error status, raised at once unless it is retried."""
        if status < 400:
            return None
        err = error_for_status(status, body, url, self.available_models)
        if not err.retryable:
            raise err
        return err

    # -- the asynchronous twin: one httpx2.AsyncClient per event loop ----------------------------

    async def _aclient(self) -> httpx2.AsyncClient:
        """This event loop's client (an async client is bound to the loop it was made on).

        It is closed when the loop shuts down its async generators, as ``asyncio.run`` does before
        it closes the loop: a program that calls ``asyncio.run`` many times leaves no idle connection
        behind to hold one of the server's workers.
        """
        loop = asyncio.get_running_loop()
        with self._count_lock:
            entry = self._aclients.get(loop)
            if entry is not None:
                return entry[0]
            client = httpx2.AsyncClient(**self._client_args, transport=self._atransport)
            keeper = self._close_at_shutdown(weakref.ref(loop), client)  # weak: the loop is this entry's key
            self._aclients[loop] = (client, keeper)
        await keeper.__anext__()  # the loop now tracks it: shutdown_asyncgens() runs its finally
        return client

    async def _close_at_shutdown(
        self, loop_ref: weakref.ref[asyncio.AbstractEventLoop], client: httpx2.AsyncClient
    ) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with self._count_lock:
                loop = loop_ref()
                entry = self._aclients.get(loop) if loop is not None else None
                if loop is not None and entry is not None and entry[0] is client:
                    del self._aclients[loop]
            await client.aclose()

    async def arequest(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """:meth:`request` on the running event loop: the same retries, errors and timeouts."""
        self._check_open()
        url = self.url(path)
        client = await self._aclient()
        last: RemoteBackendError | None = None
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                await self._asleep(_retrying(self.retry.delay(attempt - 1), attempt, last))
            self._count()
            try:
                response = await client.request(method, path, json=payload)
                body = await response.aread()
            except httpx2.HTTPError as exc:
                last = _transport_error(exc, url)
                continue
            last = self._status_error(response.status_code, body, url)
            if last is None:
                return decode_json(response.status_code, body, url)
        raise _gave_up(last, self.retry.attempts)

    async def apost(self, path: str, payload: Mapping[str, Any]) -> Any:
        """:meth:`post` on the running event loop."""
        return await self.arequest("POST", path, payload)

    async def astream(self, path: str, payload: Mapping[str, Any], on_event: Callable[[Any], bool]) -> bool:
        """:meth:`stream` on the running event loop; cancelling the awaiting task closes the stream."""
        self._check_open()
        url = self.url(path)
        client = await self._aclient()
        last: RemoteBackendError | None = None
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                await self._asleep(_retrying(self.retry.delay(attempt - 1), attempt, last))
            self._count()
            events = SSEDecoder(url)
            try:
                async with client.stream("POST", path, json=payload, headers=SSE_HEADERS) as response:
                    if response.status_code >= 400:
                        last = self._status_error(response.status_code, await response.aread(), url)
                        continue
                    async for line in response.aiter_lines():
                        for data in events.feed(line):
                            if not on_event(data):
                                return False
                        if events.done:
                            return True
            except httpx2.HTTPError as exc:
                last = _transport_error(exc, url)
                if events.started:
                    raise last from exc
                continue
            events.finish()
        raise _gave_up(last, self.retry.attempts)

    def close(self) -> None:
        """Close the pooled connections (the async clients' too, on their loops); later requests raise."""
        self._closed.set()
        self._client.close()
        with self._count_lock:
            clients = list(self._aclients.items())
            self._aclients.clear()
        for loop, (client, _) in clients:
            if loop.is_closed():
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(client.aclose())
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                with contextlib.suppress(RuntimeError):  # another loop runs in this thread: leave it to the collector
                    loop.run_until_complete(client.aclose())


SSE_HEADERS = {"Accept": "text/event-stream"}


class SSEDecoder:
    """Reads server-sent events line by line: the decoded JSON of each ``data:`` event, until ``data: [DONE]``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done = False
        self.started = False
        """Whether an event has been handed on (after that a failure is never retried)."""
        self._data: list[str] = []

    def feed(self, line: str) -> list[Any]:
        """The events that ``line`` completes (an empty line ends an event; comments are skipped)."""
        line = line.rstrip("\r\n")
        if self.done:
            return []
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            if value.strip() == "[DONE]":
                self.done = True
                return self._dispatch()
            self._data.append(value)
        elif name == "error":
            self._data.append(value)
        # other fields (event:, id:, retry:) carry nothing the protocol uses
        return []

    def _dispatch(self) -> list[Any]:
        if not self._data:
            return []
        text, self._data = "\n".join(self._data), []
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MalformedResponseError(
                f"{self.url} sent a server-sent event that is not JSON ({text[:120]!r}); "
                f"is base_url an OpenAI-compatible server?"
            ) from exc
        if isinstance(data, Mapping) and "error" in data and "choices" not in data:
            status = _field_int(data["error"], "code")
            msg = _server_message(json.dumps(data).encode())
            raise ServerInternalError(f"the server at {self.url} failed during the stream: {msg}", status=status)
        self.started = True
        return [data]

    def finish(self) -> None:
        """The stream ended: raise ``ServerDisconnectedError`` unless ``[DONE]`` came."""
        events = self.feed("")
        if events:
            self.started = True
        if not self.done:
            raise ServerDisconnectedError(
                f"the stream from {self.url} ended before its [DONE] event"
                f"{' (after part of the answer)' if self.started else ''}: the answer is truncated. "
                f"If it repeats, see the server's log"
            )


def _field_int(data: Any, key: str) -> int | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, int) else None


def decode_json(status: int, body: bytes, url: str) -> Any:
    """The decoded JSON body of a successful answer, else ``MalformedResponseError``."""
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedResponseError(
            f"{url} answered HTTP {status} with a body that is not JSON "
            f"({body[:120].decode('utf-8', 'replace')!r}...). Is base_url an OpenAI-compatible server?",
            status=status,
        ) from exc


def _transport_error(exc: httpx2.HTTPError, url: str) -> RemoteBackendError:
    """The named error of a transport failure; raised at once unless it is retried."""
    err = error_for_exception(exc, url)
    if not err.retryable:
        raise err from exc
    err.__cause__ = exc
    return err


def _gave_up(last: RemoteBackendError | None, attempts: int) -> RemoteBackendError:
    assert last is not None
    err = type(last)(f"{last} (after {attempts} tries)", status=last.status)
    err.__cause__ = last
    return err
