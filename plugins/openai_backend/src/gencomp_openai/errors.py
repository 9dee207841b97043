"""The errors of the remote backend; each says what went wrong and what to do. All are ``GencompError``s."""

from __future__ import annotations

from collections.abc import Sequence

from gencomp import GencompError

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "MalformedResponseError",
    "RemoteBackendError",
    "ServerDisconnectedError",
    "ServerInternalError",
    "ServerRedirectError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "UnknownServerModelError",
]


class RemoteBackendError(GencompError):
    """Base class: a request to the model server failed.

    ``retryable`` tells whether the backend retries it (with backoff, a bounded number of times).
    """

    retryable = False
    retry_after: float | None = None
    """Seconds the server asked to wait before a retry (its ``Retry-After`` header), when it said."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnreachableError(RemoteBackendError, ConnectionError):
    """No connection could be made: connection refused, or the host name does not resolve."""

    retryable = True


class ServerTimeoutError(RemoteBackendError, TimeoutError):
    """The server did not accept the connection, did not answer, or did not finish its answer within the
    configured timeouts (``connect_timeout``, ``read_timeout``, the total ``timeout``)."""


class ServerDisconnectedError(RemoteBackendError, ConnectionError):
    """The server closed the connection mid-request, or sent a truncated response."""

    retryable = True


class AuthenticationError(RemoteBackendError, PermissionError):
    """The server refused the API key (HTTP 401/403)."""


class UnknownServerModelError(RemoteBackendError, LookupError):
    """The server does not serve the model asked for; ``available`` lists the ones it does."""

    def __init__(self, message: str, *, available: Sequence[str] = (), status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.available = list(available)


class BadRequestError(RemoteBackendError, ValueError):
    """The server rejected the request (HTTP 4xx other than authentication and unknown model)."""


class ServerInternalError(RemoteBackendError):
    """The server failed (HTTP 5xx). 502, 503 and 504 are retried; 500 is not (it usually repeats)."""


class MalformedResponseError(RemoteBackendError):
    """The server answered with something that is not the JSON the protocol describes, or more of it than
    ``max_response_bytes``."""


class ServerRedirectError(RemoteBackendError):
    """The server answered with a redirect (HTTP 3xx), which is never followed: set ``base_url`` to its target."""
