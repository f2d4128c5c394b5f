"""A small hand-built TestIO API behind `httpx.MockTransport`, for driving the real client.

It serves products, section / product features, paginated tests (with poisoned test ids that
make every page containing them answer 500) and bugs, checks the token, counts requests in
flight, and lets a test queue one-off faults (status codes, timeouts, broken JSON) in front of
any route. Deliberately simpler than the package's simulator: every behaviour a test relies on
is visible here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import httpx

from testio_pipeline.testio.client import TestIOClient

T = TypeVar("T")
BASE_URL = "https://api.test.io/customer/v2"
TOKEN = "tok-5f3a9c1e-SECRET-7d2b"
PREFIX = "/customer/v2"

Fault = Callable[[httpx.Request], httpx.Response]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one async scenario to completion on a fresh event loop."""
    return asyncio.run(coro)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Fault:
    """A fault answering `status` with the API's `{"error": ...}` body."""
    return lambda request: httpx.Response(status, json={"error": message}, headers=headers)


def raises(exc_type: type[httpx.TransportError], message: str = "boom") -> Fault:
    """A fault raising a network-layer error, as httpx would for a timeout or refused connection."""

    def fault(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return fault


def broken_json(request: httpx.Request) -> httpx.Response:
    """A 200 whose body was cut off mid-stream."""
    return httpx.Response(200, content=b'{"products": [{"id": 1, "na', headers={"content-type": "application/json"})


def make_tests(count: int, *, first_id: int = 100_000) -> list[dict[str, Any]]:
    """`count` raw tests, newest first (end_at descending), ids ascending with age."""
    newest = datetime(2025, 10, 27, 2, 0, tzinfo=timezone(timedelta(hours=1)))
    return [
        {
            "id": first_id + i,
            "title": f"Release {i}",
            "test_title": f"Release {i}",
            "status": "archived",
            "end_at": (newest - timedelta(hours=i)).isoformat(),
            "start_at": (newest - timedelta(hours=i + 30)).isoformat(),
            "features": [],
        }
        for i in range(count)
    ]


@dataclass
class SleepRecorder:
    """Stands in for `asyncio.sleep`: records each requested delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@dataclass
class FakeTestIO:
    token: str = TOKEN
    products: list[dict[str, Any]] = field(default_factory=list)
    tests: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    poisoned: set[int] = field(default_factory=set)
    # (product_id, section_id or None for the whole product) -> raw features
    features: dict[tuple[int, int | None], list[dict[str, Any]]] = field(default_factory=dict)
    # product ids whose whole-product features endpoint answers 422 (the 2025 behaviour)
    features_422: set[int] = field(default_factory=set)
    bugs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    # each entry: (predicate on the request, faults served one per matching request, in order)
    _faults: list[tuple[Callable[[httpx.Request], bool], list[Fault]]] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def fail(self, path: str, *faults: Fault, when: Callable[[httpx.Request], bool] | None = None) -> None:
        """Serve `faults` (one per request, in order) to the next requests of `path`."""
        self._faults.append(
            (lambda r: r.url.path == PREFIX + path and (when is None or when(r)), list(faults))
        )

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix(PREFIX) for r in self.requests]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            # give every other request a chance to start, so overlap is real
            for _ in range(3):
                await asyncio.sleep(0)
            if request.headers.get("authorization") != f"Token {self.token}":
                return httpx.Response(401, json={"error": "Invalid token"})
            for predicate, faults in self._faults:
                if faults and predicate(request):
                    return faults.pop(0)(request)
            return self._route(request)
        finally:
            self.in_flight -= 1

    def _route(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.removeprefix(PREFIX).strip("/").split("/")
        params = request.url.params
        if parts == ["products"]:
            return httpx.Response(200, json={"products": self.products})
        if parts[0] == "bugs" and len(parts) == 1:
            ids = [int(i) for i in params["filter_test_cycle_ids"].split(",")]
            return httpx.Response(200, json={"bugs": [b for i in ids for b in self.bugs.get(i, [])]})
        if parts[0] == "products" and parts[-1] == "features":
            product_id = int(parts[1])
            section_id = int(parts[3]) if len(parts) == 5 else None
            if section_id is None and product_id in self.features_422:
                return httpx.Response(422, json={"error": "section_id required"})
            key = (product_id, section_id)
            if key not in self.features:
                return httpx.Response(404, json={"error": "Not found"})
            return httpx.Response(200, json={"features": self.features[key]})
        if parts[0] == "products" and parts[-1] == "exploratory_tests":
            tests = self.tests[int(parts[1])]
            page, per_page = int(params["page"]), int(params["per_page"])
            window = tests[(page - 1) * per_page : page * per_page]
            if any(t["id"] in self.poisoned for t in window):
                return httpx.Response(500, json={"error": "Internal Server Error"})
            return httpx.Response(200, json={"exploratory_tests": window})
        return httpx.Response(404, json={"error": "Not found"})


class ListLogger:
    """A logger-like object keeping every formatted line, per level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg: str) -> None:
        self.lines.append(("debug", msg))

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.lines.append(("warning", msg))

    def error(self, msg: str) -> None:
        self.lines.append(("error", msg))

    def at(self, level: str) -> list[str]:
        return [m for lvl, m in self.lines if lvl == level]


def make_client(api: FakeTestIO, sleeps: SleepRecorder | None = None, **overrides: Any) -> TestIOClient:
    """The real client wired to the fake API, with recorded sleeps and seeded jitter."""
    options: dict[str, Any] = {
        "base_url": BASE_URL,
        "token": api.token,
        "transport": api.transport,
        "sleep": sleeps if sleeps is not None else SleepRecorder(),
        "rng": random.Random(1234),
        "logger": logging.getLogger("testio_pipeline_tests.client"),
    }
    options.update(overrides)
    return TestIOClient(**options)


def page_requests(api: FakeTestIO) -> list[tuple[int, int]]:
    """(page, per_page) of every tests-listing request, in order."""
    return [
        (int(r.url.params["page"]), int(r.url.params["per_page"]))
        for r in api.requests
        if r.url.path.endswith("/exploratory_tests")
    ]
