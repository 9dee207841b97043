"""The HTTP layer: one pooled ``httpx2`` client per backend, retries with backoff, failures as named errors.

Everything that decides (which failures are retried, how long to wait, which error a status or an
exception becomes) is a plain function of the request's outcome, so the asynchronous twin of
:class:`HttpLayer` on ``httpx2.AsyncClient`` reuses it unchanged. Nothing here knows the protocol's
payloads: :mod:`gencomp_openai.protocol` builds and reads them.

Every request has one total deadline (:attr:`Timeouts.total`: its tries, the waits between them, the
connection, the first byte and the whole answer) and a bounded answer (``max_response_bytes``;
an error body is read up to :data:`MAX_ERROR_BODY_BYTES`). Credentials never leave this layer:
every URL it shows goes through :func:`display_url`, every message from the server or the
network through :class:`Redactor`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import heapq
import itertools
import json
import math
import random
import socket
import threading
import time
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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
    ServerRedirectError,
    ServerTimeoutError,
    ServerUnreachableError,
    UnknownServerModelError,
)

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "HttpLayer",
    "Redactor",
    "RetryPolicy",
    "SSEDecoder",
    "Timeouts",
    "decode_json",
    "display_url",
    "error_for_exception",
    "error_for_status",
    "server_root",
]

RETRIED_STATUS = frozenset({429, 502, 503, 504})
"""Statuses that mean "try again later": rate limited, or a proxy or a loading server not ready."""

DEFAULT_MAX_RESPONSE_BYTES = 16 * 2**20
"""The largest answer read (16 MiB, decoded): a streamed answer counts every event's bytes."""

MAX_ERROR_BODY_BYTES = 64 * 2**10
"""How much of an error body is read to show its message (the rest is not read)."""

MAX_LINE_BYTES = 2**20
"""The longest line of a server-sent event stream (an event carries one token's text, a few hundred bytes)."""

REDACTED = "***"

_SECRET_QUERY_WORDS = ("key", "token", "secret", "pass", "sig", "auth", "credential")


def seconds(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """``value`` as a positive, finite number of seconds, else ``ValueError`` saying what ``name`` takes."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        none = " (or None: no limit of its own)" if allow_none else ""
        raise ValueError(f"{name} must be a number of seconds more than 0{none}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Timeouts:
    """Seconds a request may take.

    ``total`` bounds one request from start to its whole answer: every try, the waits between them,
    the connection, the first byte and the last one. ``connect`` bounds each connection attempt;
    ``read`` the longest silence of the server (``None``: only ``total`` applies).
    """

    total: float = 600.0
    connect: float = 5.0
    read: float | None = None

    def __post_init__(self) -> None:
        seconds("timeout", self.total)
        seconds("connect_timeout", self.connect)
        seconds("read_timeout", self.read, allow_none=True)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: at most ``attempts`` tries in all, waiting ``backoff * 2**n`` seconds
    (capped at ``max_backoff``, with jitter) between them, or longer when the server's ``Retry-After``
    asks (at most ``max_retry_after`` seconds: a server that asks for more is not retried)."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

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


def display_url(url: str) -> str:
    """``url`` as it may be shown: a user name and password replaced by ``***``, and the values of query
    parameters that carry credentials (``key``, ``token``, ``sig``...) too."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}={REDACTED if any(w in k.lower() for w in _SECRET_QUERY_WORDS) else v}" for k, v in pairs)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The credentials written in ``url``: its password (as written and decoded), the basic-auth token they
    make, and the values of query parameters that carry credentials."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        found += [userinfo, password, urllib.parse.unquote(password)]
        plain = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
        found.append(base64.b64encode(plain.encode()).decode())
    for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if any(w in k.lower() for w in _SECRET_QUERY_WORDS):
            found.append(v)
    return found


class Redactor:
    """Replaces known secrets (an API key, a URL's password...) by ``***`` in any text shown to people."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # a secret of a few characters would blank out ordinary words of a message
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


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
                return str(msg)[:1000]
        elif isinstance(err, str):
            return err[:1000]
        if "detail" in data:
            return str(data["detail"])[:1000]
    return text[:300].strip()


def _identity(text: str) -> str:
    return text


def error_for_status(
    status: int,
    body: bytes,
    url: str,
    available_models: Callable[[], list[str]] | None = None,
    redact: Callable[[str], str] = _identity,
) -> RemoteBackendError:
    """The named error for an HTTP error ``status`` with ``body`` from ``url`` (a URL fit to show)."""
    msg = redact(_server_message(body))
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


def redirect_error(status: int, location: str | None, url: str) -> ServerRedirectError:
    """The error of a redirect answer (never followed: it could carry the API key to another host)."""
    where = f" to {display_url(location)}" if location else ""
    return ServerRedirectError(
        f"{url} answered with a redirect (HTTP {status}){where}, which gencomp does not follow (the request "
        f"carries the API key). Set base_url to the address the server redirects to",
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


def error_for_exception(
    exc: httpx2.HTTPError, url: str, redact: Callable[[str], str] = _identity
) -> RemoteBackendError:
    """The named error for a transport failure of a request to ``url`` (a URL fit to show)."""
    text = redact(str(exc))
    if isinstance(exc, httpx2.ConnectTimeout):
        return ServerTimeoutError(
            f"no connection to {url} within the connect timeout ({text}). Is the server up and reachable? "
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
            return ServerUnreachableError(f"the host of {url} does not resolve ({text}); check base_url")
        return ServerUnreachableError(
            f"cannot connect to {url} ({text}). Is the server running at that address? Check base_url"
        )
    if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.WriteError):
        return ServerDisconnectedError(
            f"the server closed the connection during the request to {url} ({type(exc).__name__}: {text}); "
            f"the answer was lost or truncated. If it repeats, see the server's log"
        )
    return RemoteBackendError(f"the request to {url} failed: {type(exc).__name__}: {text}")


def _scrub(exc: BaseException, redact: Callable[[str], str]) -> None:
    """Redact the messages of ``exc`` and the exceptions it chains (a traceback prints them all)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if cur.args and any(isinstance(a, str) for a in cur.args):
            cur.args = tuple(redact(a) if isinstance(a, str) else a for a in cur.args)
        cur = cur.__cause__ or cur.__context__


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (a number or an HTTP date), else ``None``."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        wait = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        wait = when.timestamp() - time.time()
    return max(0.0, wait) if math.isfinite(wait) else None


class _Deadline:
    """The end of one request (all its tries), and the ``httpx2`` timeouts of a try that cannot pass it."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        self.end = time.monotonic() + timeouts.total

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def httpx(self) -> httpx2.Timeout:
        left = max(self.left(), 0.001)
        read = left if self.timeouts.read is None else min(self.timeouts.read, left)
        return httpx2.Timeout(connect=min(self.timeouts.connect, left), read=read, write=read, pool=left)


class _Watchdog:
    """One daemon thread that calls each armed callback at its time (a heap of deadlines).

    It cuts a synchronous read that blocks past its request's deadline: the callback shuts the
    connection's socket down, and the blocked read returns.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, at: float, callback: Callable[[], None]) -> int:
        with self._cond:
            handle = next(self._ids)
            heapq.heappush(self._heap, (at, handle, callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gencomp-openai-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
            return handle

    def disarm(self, handle: int) -> None:
        with self._cond:
            self._cancelled.add(handle)
            if len(self._cancelled) > 64 and 2 * len(self._cancelled) > len(self._heap):
                # most entries are requests that ended long before their deadline: drop them at once
                self._heap = [e for e in self._heap if e[1] not in self._cancelled]
                heapq.heapify(self._heap)
                self._cancelled.clear()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] in self._cancelled:
                    self._cancelled.discard(heapq.heappop(self._heap)[1])
                if not self._heap:
                    self._cond.wait()
                    continue
                at, _, callback = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            with contextlib.suppress(Exception):
                callback()


_WATCHDOG = _Watchdog()


def _socket_of(response: httpx2.Response) -> Any:
    stream = response.extensions.get("network_stream")
    return stream.get_extra_info("socket") if stream is not None else None


def _shutdown(sock: Any) -> None:
    with contextlib.suppress(OSError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)


class _Lines:
    """Splits a byte stream into lines at CR, LF or CRLF (the server-sent events rule, and no other
    character: a U+2028 inside an event's JSON is text), each at most ``limit`` bytes."""

    def __init__(self, url: str, limit: int = MAX_LINE_BYTES) -> None:
        self.url = url
        self.limit = limit
        self._buf = bytearray()
        self._cr = False

    def feed(self, chunk: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        buf = self._buf
        for i, byte in enumerate(chunk):
            if byte == 10 and self._cr:  # the LF of a CRLF whose CR ended the previous line
                self._cr = False
                start = i + 1
                continue
            self._cr = False
            if byte in (10, 13):
                buf += chunk[start:i]
                lines.append(buf.decode("utf-8", "replace"))
                buf.clear()
                start = i + 1
                self._cr = byte == 13
        buf += chunk[start:]
        if len(buf) > self.limit:
            raise MalformedResponseError(
                f"{self.url} sent a line of more than {self.limit} bytes in its event stream; "
                f"is base_url an OpenAI-compatible server?"
            )
        return lines

    def flush(self) -> list[str]:
        if not self._buf:
            return []
        line = self._buf.decode("utf-8", "replace")
        self._buf.clear()
        return [line]


@dataclass
class _LoopClient:
    """An event loop's async client, the keeper that closes it at loop shutdown, and its connections."""

    client: httpx2.AsyncClient
    keeper: AsyncIterator[None]
    streams: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)

    def cut(self) -> None:
        """Close this client's connections from any thread, without its loop (which may be closed)."""
        for stream in list(self.streams):
            with contextlib.suppress(Exception):
                _shutdown(stream.get_extra_info("socket"))


class HttpLayer:
    """A thread-safe, pooled JSON client of one server, synchronous and (``a...`` methods) asynchronous.

    ``base_url`` may end with ``/v1`` or not; ``api_key`` is sent as a bearer token and never shown;
    nor is a password in ``base_url`` (:attr:`shown` is the address as it may be printed).
    ``transport`` replaces the network (tests give an ``httpx2.MockTransport``, which serves the async
    client too). ``max_connections`` bounds the pool shared by all threads, and that of each event
    loop's async client (one per loop, made on first use): requests beyond it wait for a free
    connection instead of opening more. Each request ends within ``timeouts.total`` seconds, and reads
    at most ``max_response_bytes`` of answer.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        max_connections: int = 64,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        asleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.root = server_root(base_url)
        self.shown = display_url(self.root)
        """The server's address as it may be shown: credentials replaced by ``***``."""
        self.redact = Redactor([api_key, *url_secrets(base_url)])
        self.timeouts = timeouts
        self.retry = retry
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.max_connections = max_connections
        self._transport = transport
        self._client_args: dict[str, Any] = {
            "base_url": self.root,
            "headers": headers,
            "timeout": httpx2.Timeout(timeouts.total),
            "limits": _limits(max_connections),
        }
        self._client = httpx2.Client(**self._client_args, transport=transport)
        self._atransport = transport if isinstance(transport, httpx2.AsyncBaseTransport) else None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = weakref.WeakKeyDictionary()
        self._asleep = asleep
        self._closed = threading.Event()
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self.available_models: Callable[[], list[str]] | None = None
        """Set by the backend: lists the server's models for the unknown-model error."""
        self.on_reconnect: Callable[[], None] | None = None
        """Set by the backend: called after a request that failed at the connection succeeded on a retry
        (the server may have restarted)."""

    def __repr__(self) -> str:
        return f"HttpLayer({self.shown!r})"

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
        """The URL of ``path`` as it may be shown (credentials redacted)."""
        return self.shown + path

    def get(self, path: str) -> Any:
        """GET ``path`` and return its decoded JSON."""
        return self.request("GET", path)

    def post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``path`` and return the decoded JSON answer."""
        return self.request("POST", path, payload)

    # -- what the sync and async paths share ------------------------------------------------------

    def _begin(self) -> _Deadline:
        if self._closed.is_set():
            raise RemoteBackendError("this backend was closed; create a new one")
        self._sweep()
        return _Deadline(self.timeouts)

    def _count(self) -> None:
        with self._count_lock:
            self.requests_sent += 1

    def _wait(self, attempt: int, last: RemoteBackendError | None, deadline: _Deadline) -> float:
        """Seconds to wait before try ``attempt`` (1-based retry); raises ``last`` when the wait cannot be made."""
        assert last is not None
        wait = self.retry.delay(attempt - 1)
        asked = last.retry_after
        if asked is not None:
            cap = self.retry.max_retry_after
            if asked > cap:
                raise self._final(last, f"the server asks to retry after {asked:.0f} s (Retry-After), over {cap:.0f} s")
            wait = max(wait, asked)
        if wait >= deadline.left():
            raise self._final(
                last, f"a retry after {wait:.1f} s would pass the total timeout of {self.timeouts.total:g} s"
            )
        return wait

    def _final(self, last: RemoteBackendError, why: str) -> RemoteBackendError:
        err = type(last)(f"{last} (not retried: {why})", status=last.status)
        err.__cause__ = last
        return err

    def _status_error(self, response: httpx2.Response, body: bytes, url: str) -> RemoteBackendError | None:
        """``None`` for a success; the error of an HTTP error status, raised at once unless it is retried."""
        status = response.status_code
        if 300 <= status < 400:
            raise redirect_error(status, response.headers.get("location"), url)
        if status < 400:
            return None
        err = error_for_status(status, body, url, self.available_models, self.redact)
        if not err.retryable:
            raise err
        err.retry_after = retry_after(response.headers)
        return err

    def _transport_error(self, exc: httpx2.HTTPError, url: str, deadline: _Deadline) -> RemoteBackendError:
        """The named error of a transport failure; raised at once unless it is retried."""
        _scrub(exc, self.redact)
        if deadline.passed():
            raise self._timed_out(url) from exc
        err = error_for_exception(exc, url, self.redact)
        if not err.retryable:
            raise err from exc
        err.__cause__ = exc
        return err

    def _timed_out(self, url: str) -> ServerTimeoutError:
        return ServerTimeoutError(
            f"no complete answer from {url} within the total timeout of {self.timeouts.total:g} s (timeout=, "
            f"GENCOMP_OPENAI_TIMEOUT). Raise it for long answers, or ask for fewer tokens"
        )

    def _too_large(self, url: str) -> MalformedResponseError:
        return MalformedResponseError(
            f"{url} sent more than {self.max_response_bytes} bytes of answer (max_response_bytes=); the rest was "
            f"not read. Ask for fewer tokens, or raise max_response_bytes= if the answer is meant to be that long"
        )

    def _gave_up(self, last: RemoteBackendError | None) -> RemoteBackendError:
        assert last is not None
        err = type(last)(f"{last} (after {self.retry.attempts} tries)", status=last.status)
        err.__cause__ = last
        return err

    def _reconnected(self, failures: int) -> None:
        if failures and self.on_reconnect is not None:
            self.on_reconnect()

    # -- synchronous ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _cut_at(self, response: httpx2.Response, deadline: _Deadline) -> Iterator[None]:
        """Shut the connection down if the answer is still being read at the deadline."""
        sock = _socket_of(response)
        if sock is None:
            yield
            return
        handle = _WATCHDOG.arm(deadline.end, lambda: _shutdown(sock))
        try:
            yield
        finally:
            _WATCHDOG.disarm(handle)

    def _read(self, chunks: Iterable[bytes], deadline: _Deadline, url: str, *, limit: int | None = None) -> bytes:
        """The body from ``chunks``: at most ``limit`` bytes (an error body: the rest is dropped), else at most
        ``max_response_bytes`` (more raises)."""
        parts: list[bytes] = []
        size = 0
        cap = self.max_response_bytes if limit is None else limit
        for chunk in chunks:
            if deadline.passed():
                raise self._timed_out(url)
            size += len(chunk)
            if size > cap:
                if limit is not None:
                    parts.append(chunk[: len(chunk) - (size - cap)])
                    break
                raise self._too_large(url)
            parts.append(chunk)
        return b"".join(parts)

    def request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Send one request, retrying transient failures per :attr:`retry`; the decoded JSON answer.

        The requests of this backend carry the whole conversation and change nothing on the server
        but its caches, so a retry never adds a turn twice: the caller's context is extended only with
        the answer returned here.
        """
        deadline = self._begin()
        url = self.url(path)
        last: RemoteBackendError | None = None
        failures = 0
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                self._sleep(_retrying(self._wait(attempt, last, deadline), attempt, last))
            self._count()
            try:
                with (
                    self._client.stream(method, path, json=payload, timeout=deadline.httpx()) as response,
                    self._cut_at(response, deadline),
                ):
                    error = response.status_code >= 300
                    body = self._read(
                        response.iter_bytes(), deadline, url, limit=MAX_ERROR_BODY_BYTES if error else None
                    )
            except httpx2.HTTPError as exc:
                last = self._transport_error(exc, url, deadline)
                failures += isinstance(last, ServerUnreachableError | ServerDisconnectedError)
                continue
            last = self._status_error(response, body, url)
            if last is None:
                self._reconnected(failures)
                return decode_json(response.status_code, body, url)
        raise self._gave_up(last)

    def stream(
        self,
        path: str,
        payload: Mapping[str, Any],
        on_event: Callable[[Any], bool],
        on_whole: Callable[[Any], bool] | None = None,
    ) -> bool:
        """POST ``payload`` and hand each server-sent event's decoded JSON to ``on_event``; ``True`` at ``[DONE]``.

        ``on_event`` returning ``False`` closes the stream at once (the server stops generating) and
        this returns ``False``. Failures before the first event are retried as :meth:`request` does;
        after it never (the caller has already handed text on), so a retry cannot repeat an answer.
        A stream that ends without ``[DONE]`` raises ``ServerDisconnectedError``; an event that is not
        JSON raises ``MalformedResponseError``. A server that ignores ``"stream": true`` and answers one
        JSON body has it handed to ``on_whole`` (without one, that is a ``MalformedResponseError``).
        """
        deadline = self._begin()
        url = self.url(path)
        last: RemoteBackendError | None = None
        failures = 0
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                self._sleep(_retrying(self._wait(attempt, last, deadline), attempt, last))
            self._count()
            events = SSEDecoder(url)
            try:
                with (
                    self._client.stream(
                        "POST", path, json=payload, headers=SSE_HEADERS, timeout=deadline.httpx()
                    ) as response,
                    self._cut_at(response, deadline),
                ):
                    if response.status_code >= 300:
                        body = self._read(response.iter_bytes(), deadline, url, limit=MAX_ERROR_BODY_BYTES)
                        last = self._status_error(response, body, url)
                        continue
                    self._reconnected(failures)
                    if not _is_event_stream(response):
                        body = self._read(response.iter_bytes(), deadline, url)
                        return _whole(response.status_code, body, url, on_whole)
                    lines = _Lines(url)
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > self.max_response_bytes:
                            raise self._too_large(url)
                        for line in lines.feed(chunk):
                            if _dispatch(events, line, on_event) is not None:
                                return events.done
                        if deadline.passed():
                            raise self._timed_out(url)
                    for line in lines.flush():
                        if _dispatch(events, line, on_event) is not None:
                            return events.done
            except httpx2.HTTPError as exc:
                last = self._transport_error(exc, url, deadline)
                if events.started:
                    raise last from exc
                failures += isinstance(last, ServerUnreachableError | ServerDisconnectedError)
                continue
            events.finish()
        raise self._gave_up(last)

    # -- the asynchronous twin: one httpx2.AsyncClient per event loop ----------------------------

    def _sweep(self) -> None:
        """Close the connections of event loops closed without shutting down their async generators
        (a bare ``loop.close()``): their clients can never be closed on their loop, and an open
        connection holds one of the server's workers."""
        with self._count_lock:
            dead = [(loop, entry) for loop, entry in self._aclients.items() if loop.is_closed()]
            for loop, _ in dead:
                del self._aclients[loop]
        for _, entry in dead:
            entry.cut()

    async def _aclient(self) -> _LoopClient:
        """This event loop's client (an async client is bound to the loop it was made on).

        It is closed when the loop shuts down its async generators, as ``asyncio.run`` does before
        it closes the loop: a program that calls ``asyncio.run`` many times leaves no idle connection
        behind to hold one of the server's workers. A loop closed without that (a bare ``loop.close()``)
        has its connections cut at this layer's next request or :meth:`close`.
        """
        loop = asyncio.get_running_loop()
        with self._count_lock:
            entry = self._aclients.get(loop)
            if entry is not None:
                return entry
            client = httpx2.AsyncClient(**self._client_args, transport=self._atransport)
            keeper = self._close_at_shutdown(weakref.ref(loop), client)  # weak: the loop is this entry's key
            entry = _LoopClient(client, keeper)
            self._aclients[loop] = entry
        await keeper.__anext__()  # the loop now tracks it: shutdown_asyncgens() runs its finally
        return entry

    async def _close_at_shutdown(
        self, loop_ref: weakref.ref[asyncio.AbstractEventLoop], client: httpx2.AsyncClient
    ) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with self._count_lock:
                loop = loop_ref()
                entry = self._aclients.get(loop) if loop is not None else None
                if loop is not None and entry is not None and entry.client is client:
                    del self._aclients[loop]
            await client.aclose()

    async def _aread(
        self, response: httpx2.Response, deadline: _Deadline, url: str, *, limit: int | None = None
    ) -> bytes:
        parts: list[bytes] = []
        size = 0
        cap = self.max_response_bytes if limit is None else limit
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                if limit is not None:
                    parts.append(chunk[: len(chunk) - (size - cap)])
                    break
                raise self._too_large(url)
            parts.append(chunk)
        return b"".join(parts)

    async def arequest(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """:meth:`request` on the running event loop: the same retries, errors and timeouts."""
        deadline = self._begin()
        url = self.url(path)
        entry = await self._aclient()
        last: RemoteBackendError | None = None
        failures = 0
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                await self._asleep(_retrying(self._wait(attempt, last, deadline), attempt, last))
            self._count()
            try:
                async with asyncio.timeout(max(deadline.left(), 0.001)):
                    async with entry.client.stream(method, path, json=payload, timeout=deadline.httpx()) as response:
                        _note_stream(entry, response)
                        error = response.status_code >= 300
                        body = await self._aread(response, deadline, url, limit=MAX_ERROR_BODY_BYTES if error else None)
            except TimeoutError as exc:
                if isinstance(exc, RemoteBackendError) or not deadline.passed():
                    raise
                raise self._timed_out(url) from exc
            except httpx2.HTTPError as exc:
                last = self._transport_error(exc, url, deadline)
                failures += isinstance(last, ServerUnreachableError | ServerDisconnectedError)
                continue
            last = self._status_error(response, body, url)
            if last is None:
                self._reconnected(failures)
                return decode_json(response.status_code, body, url)
        raise self._gave_up(last)

    async def apost(self, path: str, payload: Mapping[str, Any]) -> Any:
        """:meth:`post` on the running event loop."""
        return await self.arequest("POST", path, payload)

    async def astream(
        self,
        path: str,
        payload: Mapping[str, Any],
        on_event: Callable[[Any], bool],
        on_whole: Callable[[Any], bool] | None = None,
    ) -> bool:
        """:meth:`stream` on the running event loop; cancelling the awaiting task closes the stream."""
        deadline = self._begin()
        url = self.url(path)
        entry = await self._aclient()
        last: RemoteBackendError | None = None
        failures = 0
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                await self._asleep(_retrying(self._wait(attempt, last, deadline), attempt, last))
            self._count()
            events = SSEDecoder(url)
            try:
                async with asyncio.timeout(max(deadline.left(), 0.001)):
                    async with entry.client.stream(
                        "POST", path, json=payload, headers=SSE_HEADERS, timeout=deadline.httpx()
                    ) as response:
                        _note_stream(entry, response)
                        if response.status_code >= 300:
                            body = await self._aread(response, deadline, url, limit=MAX_ERROR_BODY_BYTES)
                            last = self._status_error(response, body, url)
                            continue
                        self._reconnected(failures)
                        if not _is_event_stream(response):
                            body = await self._aread(response, deadline, url)
                            return _whole(response.status_code, body, url, on_whole)
                        lines = _Lines(url)
                        size = 0
                        async for chunk in response.aiter_bytes():
                            size += len(chunk)
                            if size > self.max_response_bytes:
                                raise self._too_large(url)
                            for line in lines.feed(chunk):
                                if _dispatch(events, line, on_event) is not None:
                                    return events.done
                        for line in lines.flush():
                            if _dispatch(events, line, on_event) is not None:
                                return events.done
            except TimeoutError as exc:
                if isinstance(exc, RemoteBackendError) or not deadline.passed():
                    raise
                raise self._timed_out(url) from exc
            except httpx2.HTTPError as exc:
                last = self._transport_error(exc, url, deadline)
                if events.started:
                    raise last from exc
                failures += isinstance(last, ServerUnreachableError | ServerDisconnectedError)
                continue
            events.finish()
        raise self._gave_up(last)

    def close(self) -> None:
        """Close the pooled connections (the async clients' too, on their loops); later requests raise."""
        self._closed.set()
        self._client.close()
        with self._count_lock:
            clients = list(self._aclients.items())
            self._aclients.clear()
        for loop, entry in clients:
            if loop.is_closed():
                entry.cut()
                continue
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(entry.client.aclose())
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(entry.client.aclose(), loop)
            else:
                with contextlib.suppress(RuntimeError):  # another loop runs in this thread: cut the connections
                    loop.run_until_complete(entry.client.aclose())
                    continue
                entry.cut()


SSE_HEADERS = {"Accept": "text/event-stream"}


def _note_stream(entry: _LoopClient, response: httpx2.Response) -> None:
    stream = response.extensions.get("network_stream")
    if stream is not None:
        with contextlib.suppress(TypeError):
            entry.streams.add(stream)


def _is_event_stream(response: httpx2.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    return "application/json" not in kind


def _whole(status: int, body: bytes, url: str, on_whole: Callable[[Any], bool] | None) -> bool:
    """The answer of a server that ignored ``"stream": true``: one JSON body, handed on whole."""
    data = decode_json(status, body, url)
    if on_whole is None:
        raise MalformedResponseError(
            f"{url} was asked for a stream of events and answered one JSON body instead "
            f"({str(data)[:120]!r}); this request needs events"
        )
    on_whole(data)
    return True


def _dispatch(events: SSEDecoder, line: str, on_event: Callable[[Any], bool]) -> bool | None:
    """Feed one line; ``False`` when the consumer asked to stop, ``True`` at ``[DONE]``, else ``None``."""
    for data in events.feed(line):
        if not on_event(data):
            return False
    return True if events.done else None


class SSEDecoder:
    """Reads server-sent events line by line: the decoded JSON of each ``data:`` event, until ``data: [DONE]``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done = False
        self.started = False
        """Whether an event has been handed on (after that a failure is never retried)."""
        self.events = 0
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
        self.events += 1
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
