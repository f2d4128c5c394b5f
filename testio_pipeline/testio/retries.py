"""The retry policy of the TestIO client, and `RetryingGetter`, the one place that applies it.

Every GET of `TestIOClient` goes through one `RetryingGetter`, which holds the request slots
(an `asyncio.Semaphore` of `max_in_flight`) shared by every call of the client:

- retried: 429, every 5xx, timeouts, dropped / refused connections, malformed JSON in a 2xx;
- not retried: every other 4xx (400, 401, 403, 404, 422, ...), which raise at once;
- wait before retry n (n = 1, 2, ...): the server's `Retry-After` (delta-seconds or HTTP-date)
  when given, capped at `retry_after_cap_seconds`; a 429 without one waits
  `RETRY_AFTER_DEFAULT_SECONDS` (also capped); otherwise full jitter,
  `rng.random() * min(backoff_max, backoff_base * 2 ** (n - 1))` (like openai-python's
  `_calculate_retry_timeout`, but AWS "full jitter" so clients that failed together retry apart);
- the semaphore slot is released before sleeping, so a backing-off request never blocks others.

Server and network text that ends up in an error or log line has the token redacted. Kept
apart from the client so the policy, its `Retry-After` and backoff maths and the typed errors
it raises read (and are tested) on their own, while client.py keeps the endpoints. No Dagster.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from testio_pipeline.testio import settings
from testio_pipeline.testio.errors import (
    RequestInfo,
    TestIOAuthError,
    TestIOError,
    TestIOHTTPError,
    TestIONotFoundError,
    TestIOResponseError,
    TestIOUnavailableError,
)
from testio_pipeline.testio.stats import ClientStats

Sleep = Callable[[float], Awaitable[Any]]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait per a `Retry-After` header (delta-seconds or HTTP-date), never negative.

    None when the header is absent or unparseable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def backoff_delay(retry_number: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter backoff before retry `retry_number` (1-based): uniform in [0, ceiling).

    ceiling = min(cap, base * 2 ** (retry_number - 1)); the exponent is clamped so a huge
    attempt count cannot overflow.
    """
    ceiling = min(cap, base * 2.0 ** min(retry_number - 1, 64))
    return rng.random() * ceiling


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how long to wait between them (module docstring)."""

    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    retry_after_cap_seconds: float
    retry_after_default_seconds: float

    def delay(
        self, retry_number: int, status: int | None, retry_after: str | None, rng: random.Random
    ) -> float:
        """Seconds to wait before retry `retry_number` (1-based) after a failure of `status`."""
        seconds = parse_retry_after(retry_after)
        if seconds is None and status == 429:
            seconds = self.retry_after_default_seconds
        if seconds is not None:
            return min(seconds, self.retry_after_cap_seconds)
        return backoff_delay(
            retry_number, base=self.backoff_base_seconds, cap=self.backoff_max_seconds, rng=rng
        )


class AttemptCounter:
    """Counts the attempts of several requests, e.g. every request of one feature catalog."""

    def __init__(self) -> None:
        self.count = 0


class _Secret:
    """Holds the token for redaction only; its repr never shows it."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "'[secure]'"

    def redact(self, text: str) -> str:
        return text.replace(self._value, "[redacted]") if self._value else text


class RetryingGetter:
    """GETs through one `httpx.AsyncClient` with a `RetryPolicy`, at most `max_in_flight` at once.

    Every attempt is counted into `stats`; `sleep` and `rng` make the waits observable in
    tests; `log` is anything with `info` taking one preformatted string. `token` is only used
    to redact itself from error and log text (the `AsyncClient` sends it).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        *,
        token: str,
        max_in_flight: int,
        stats: ClientStats,
        log: Any,
        sleep: Sleep,
        rng: random.Random,
    ) -> None:
        self._http = http
        self._policy = policy
        self._secret = _Secret(token)
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight = 0
        self._stats = stats
        self._log = log
        self._sleep = sleep
        self._rng = rng

    async def get(
        self,
        info: RequestInfo,
        *,
        retry_poisoned: bool = True,
        counter: AttemptCounter | None = None,
        parse: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        """One GET with the retry policy of the module docstring; returns `parse(body)`.

        `parse` raising `ValueError` / `UnicodeDecodeError` marks the body malformed (retried);
        raising `TestIOResponseError` fails at once, with this request named.
        """
        attempt = 0
        statuses: list[int | None] = []
        while True:
            attempt += 1
            if counter is not None:
                counter.count += 1
            response, failure = await self._send(info)
            status = response.status_code if response is not None else None
            statuses.append(status)
            if response is not None and 200 <= response.status_code < 300:
                try:
                    # orjson by default: parsing is most of the client's CPU on large accounts
                    return parse(response.content)
                except TestIOResponseError as exc:
                    raise TestIOResponseError(
                        str(exc), request=info, status=status, attempts=attempt
                    ) from None
                except (ValueError, UnicodeDecodeError):
                    failure = "malformed JSON in the response body"
            elif status is not None and status != 429 and status < 500:
                raise self._http_error(info, response, attempt)
            retry_after = response.headers.get("Retry-After") if response is not None else None
            reason = failure or f"HTTP {status}"
            final = attempt >= self._policy.max_attempts or (
                status == settings.POISONED_PAGE_STATUS and not retry_poisoned
            )
            if final:
                # a 2xx that never parsed is a broken body, anything else an unavailable API
                malformed = status is not None and status < 300
                kind = TestIOResponseError if malformed else TestIOUnavailableError
                raise kind(
                    f"gave up: {failure}" if failure else "gave up",
                    request=info,
                    status=status,
                    api_message=self._api_message(response),
                    attempts=attempt,
                    statuses=tuple(statuses),
                )
            asked = parse_retry_after(retry_after)
            if asked is not None and asked > self._policy.retry_after_cap_seconds:
                # knocking before the server said so is rude and pointless; the next scheduled
                # run retries this request (the rest of the sync goes on)
                raise TestIOUnavailableError(
                    f"the API asked to wait {asked:.0f} s (Retry-After), longer than the "
                    f"{self._policy.retry_after_cap_seconds:g} s this client waits; not retried "
                    "now",
                    request=info,
                    status=status,
                    api_message=self._api_message(response),
                    attempts=attempt,
                    statuses=tuple(statuses),
                )
            delay = self._policy.delay(attempt, status, retry_after, self._rng)
            self._stats.retries += 1
            self._log.info(
                f"retrying {info.endpoint} ({info.target}) in {delay:.2f}s after {reason} "
                f"(attempt {attempt}/{self._policy.max_attempts})"
            )
            await self._sleep(delay)

    async def _send(self, info: RequestInfo) -> tuple[httpx.Response | None, str | None]:
        """One attempt holding a request slot; the slot is free again before any backoff."""
        async with self._slots:
            self._in_flight += 1
            self._stats.peak_in_flight = max(self._stats.peak_in_flight, self._in_flight)
            self._stats.requests += 1
            self._stats.requests_by_endpoint[info.endpoint] += 1
            started = time.perf_counter()
            try:
                response = await self._http.get(info.path, params=list(info.query))
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._stats.transport_errors += 1
                return None, self._secret.redact(f"{type(exc).__name__}: {exc}")
            except httpx.HTTPError as exc:
                # a bad URL, proxy or protocol setting: retrying cannot fix it
                raise TestIOError(
                    f"request failed: {type(exc).__name__}: {self._secret.redact(str(exc))}",
                    request=info,
                ) from None
            finally:
                self._in_flight -= 1
                elapsed = time.perf_counter() - started
                self._stats.elapsed_by_endpoint[info.endpoint] = (
                    self._stats.elapsed_by_endpoint.get(info.endpoint, 0.0) + elapsed
                )
        self._stats.responses_by_status[response.status_code] += 1
        return response, None

    def _api_message(self, response: httpx.Response | None) -> str | None:
        if response is None or not response.content:
            return None
        try:
            body = json.loads(response.content)
            message = body.get("error") if isinstance(body, dict) else None
        except (ValueError, UnicodeDecodeError):
            message = None
        if message is None:
            message = response.text[:200]
        return self._secret.redact(str(message)) or None

    def _http_error(self, info: RequestInfo, response: httpx.Response, attempt: int) -> TestIOError:
        status = response.status_code
        kind = {401: TestIOAuthError, 403: TestIOAuthError, 404: TestIONotFoundError}.get(
            status, TestIOHTTPError
        )
        return kind(
            "request rejected",
            request=info,
            status=status,
            api_message=self._api_message(response),
            attempts=attempt,
        )
