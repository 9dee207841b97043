"""The HTTP layer: one pooled ``httpx2`` client per backend, retries with backoff, failures as named errors.

Everything that decides (which failures are retried, how long to wait, which error a status or an
exception becomes) is a plain function of the request's outcome, so an asynchronous twin of
:class:`HttpLayer` on ``httpx2.AsyncClient`` reuses it unchanged. Nothing here knows the protocol's
payloads: :mod:`gencomp_openai.protocol` builds and reads them.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

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

__all__ = ["HttpLayer", "RetryPolicy", "Timeouts", "error_for_exception", "error_for_status", "server_root"]

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
    """A thread-safe, pooled JSON client of one server.

    ``base_url`` may end with ``/v1`` or not; ``api_key`` is sent as a bearer token and never shown
    (not in ``repr``, errors or logs). ``transport`` replaces the network (tests give an
    ``httpx2.MockTransport``). ``max_connections`` bounds the pool shared by all threads.
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
    ) -> None:
        self.root = server_root(base_url)
        self.timeouts = timeouts
        self.retry = retry
        self._sleep = sleep
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx2.Client(
            base_url=self.root,
            headers=headers,
            timeout=timeouts.to_httpx(),
            limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )
        self._closed = threading.Event()
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self.available_models: Callable[[], list[str]] | None = None
        """Set by the backend: lists the server's models for the unknown-model error."""

    def __repr__(self) -> str:
        return f"HttpLayer({self.root!r})"

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
        if self._closed.is_set():
            raise RemoteBackendError("this backend was closed; create a new one")
        url = self.url(path)
        last: RemoteBackendError | None = None
        for attempt in range(max(1, self.retry.attempts)):
            if attempt:
                self._sleep(self.retry.delay(attempt - 1))
            with self._count_lock:
                self.requests_sent += 1
            try:
                response = self._client.request(method, path, json=payload)
                body = response.read()
            except httpx2.HTTPError as exc:
                last = error_for_exception(exc, url)
                last.__cause__ = exc
                if last.retryable:
                    continue
                raise last from exc
            if response.status_code >= 400:
                last = error_for_status(response.status_code, body, url, self.available_models)
                if last.retryable:
                    continue
                raise last
            try:
                return json.loads(body)
            except ValueError as exc:
                raise MalformedResponseError(
                    f"{url} answered HTTP {response.status_code} with a body that is not JSON "
                    f"({body[:120].decode('utf-8', 'replace')!r}...). Is base_url an OpenAI-compatible server?",
                    status=response.status_code,
                ) from exc
        assert last is not None
        raise type(last)(f"{last} (after {self.retry.attempts} tries)", status=last.status) from last

    def close(self) -> None:
        """Close the pooled connections; later requests raise."""
        self._closed.set()
        self._client.close()
