"""Typed errors of the TestIO API layer.

Every error raised by a request names the endpoint (method + path template, e.g.
`GET /products/{product_id}/exploratory_tests`), the concrete path and query, the HTTP status
when there was one, and the API's `{"error": ...}` message. Messages never contain the API
token: the client builds them from the path and query only (the token travels in a header)
and redacts the token from any text the server or the network layer hands back.

Hierarchy::

    TestIOError                     anything the API layer raises
    ├── TestIOHTTPError             a non-retryable HTTP status (400, 422, ...)
    │   ├── TestIOAuthError         401 / 403: token missing, wrong or not allowed
    │   └── TestIONotFoundError     404
    ├── TestIOUnavailableError      retries exhausted: 429, 5xx, timeout, connection error
    └── TestIOResponseError         a body that is not what the contract promises
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class RequestInfo:
    """What was asked: never the headers, so never the token."""

    method: str
    template: str
    path: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def endpoint(self) -> str:
        """Method and path template, the stable name of an endpoint (`GET /bugs`)."""
        return f"{self.method} {self.template}"

    @property
    def target(self) -> str:
        """The concrete path and query (`/bugs?filter_test_cycle_ids=1,2`)."""
        if not self.query:
            return self.path
        return f"{self.path}?{urlencode(self.query, safe=',[]')}"


def printable(text: str) -> str:
    """`text` with NUL and other control characters (tabs and line breaks aside) shown as
    escapes: an API error text reaches logs, metadata and SQL literals, where a NUL broke the
    SQL parser and a stray escape sequence garbles a terminal."""
    if text.isprintable() or all(c.isprintable() or c in "\n\t" for c in text):
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in text)


class TestIOError(Exception):
    """Base class of every error the TestIO API layer raises."""

    # keep pytest from collecting these classes as test cases (their names start with "Test")
    __test__ = False

    def __init__(
        self,
        message: str,
        *,
        request: RequestInfo | None = None,
        status: int | None = None,
        api_message: str | None = None,
        attempts: int | None = None,
        statuses: tuple[int | None, ...] = (),
    ) -> None:
        self.request = request
        self.status = status
        self.api_message = api_message
        self.attempts = attempts
        # the status of every attempt, oldest first (None: failed in the network layer)
        self.statuses = statuses
        super().__init__(self._compose(message))

    @property
    def endpoint(self) -> str | None:
        """`METHOD /path/{template}` of the failed request, if the error came from one."""
        return self.request.endpoint if self.request else None

    def _compose(self, message: str) -> str:
        return printable(self._compose_raw(message))

    def _compose_raw(self, message: str) -> str:
        parts = [f"{self.request.endpoint}: {message}" if self.request else message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.attempts is not None:
            parts.append(f"after {self.attempts} attempt{'s' if self.attempts != 1 else ''}")
        if len(set(self.statuses)) > 1:
            answers = ", ".join(str(s) if s is not None else "no response" for s in self.statuses)
            parts.append(f"attempts answered {answers}")
        if self.api_message:
            parts.append(f"API said {self.api_message!r}")
        if self.request:
            parts.append(f"request {self.request.target}")
        return "; ".join(parts)


class TestIOHTTPError(TestIOError):
    """The API answered with a status the client does not retry (other 4xx)."""


class TestIOAuthError(TestIOHTTPError):
    """401 or 403: the token is missing, wrong, or lacks access to the resource."""


def token_refused(error: BaseException) -> bool:
    """A 401: the token itself is refused, so every other request fails the same way (a 403
    only refuses one resource, e.g. a revoked product, and stays that resource's problem)."""
    return isinstance(error, TestIOAuthError) and error.status == 401


class TestIONotFoundError(TestIOHTTPError):
    """404: the product, test or bug does not exist (or is not visible to this token)."""


class TestIOUnavailableError(TestIOError):
    """A transient failure persisted through every attempt.

    `status` is the last HTTP status (429 or 5xx), or None when the last attempt failed in
    the network layer (timeout, refused or dropped connection).
    """


class TestIOResponseError(TestIOError):
    """A response (or an object inside one) lacks what the API contract promises.

    Raised at once for a body without the expected envelope or an object without its id, and
    after every attempt for a 2xx whose body is not JSON (then `status` is that 2xx).
    """
