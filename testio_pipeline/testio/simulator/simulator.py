"""The `Simulator`: one simulated TestIO account behind an in-process transport and a clock.

Request flow (same for the httpx transport and the HTTP server): admin paths bypass faults and
counters; API requests are counted, then may draw a 429/5xx fault, then need the token, then
are routed; poisoned tests fail their pages; a 200 may come back malformed. Latency is returned
as `delay_seconds` for the caller to sleep (asyncio in the async transport).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from testio_pipeline.testio.simulator.account import Account
from testio_pipeline.testio.simulator.admin import handle_admin
from testio_pipeline.testio.simulator.api import (
    UNKNOWN_ENDPOINT,
    ApiHandler,
    ApiResponse,
    HeaderLookup,
    Query,
    api_path,
    authorized,
    error_response,
    match_route,
)
from testio_pipeline.testio.simulator.clock import to_seconds, utc_datetime
from testio_pipeline.testio.simulator.config import ADMIN_PREFIX, FaultConfig, SimulatorConfig
from testio_pipeline.testio.simulator.encode import dumps
from testio_pipeline.testio.simulator.faults import FaultInjector
from testio_pipeline.testio.simulator.ground_truth import GroundTruth, compute_ground_truth
from testio_pipeline.testio.simulator.hostile import HostileData
from testio_pipeline.testio.simulator.render import Renderer
from testio_pipeline.testio.simulator.timeline import Test

# rendered tests of the large account take ~80 MB: with room for them all, a second sync is all hits
CACHE_MAX_BYTES = 128 * 1024 * 1024
BAD_GATEWAY_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)


class _BytesCache:
    """Rendered test bodies keyed by test, valid while the test's state signature is unchanged.

    Bounded: when the budget is exceeded everything is dropped (cheap, and re-rendering is
    always correct); `max_bytes=None` keeps every body (`Simulator.keep_test_bodies`).
    """

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.data: dict[object, tuple[object, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: object, signature: object) -> bytes | None:
        hit = self.data.get(key)
        return hit[1] if hit is not None and hit[0] == signature else None

    def put(self, key: object, signature: object, body: bytes) -> None:
        with self._lock:
            if self.max_bytes is not None and self.size + len(body) > self.max_bytes:
                self.data = {}
                self.size = 0
            old = self.data.get(key)
            self.data[key] = (signature, body)
            self.size += len(body) - (len(old[1]) if old is not None else 0)


class Simulator:
    """A deterministic TestIO account with the live API's shapes, quirks and failures."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        from testio_pipeline.testio.simulator.transport import SimulatorTransport

        self.config = config or SimulatorConfig()
        self.account = Account(self.config)
        self.renderer = Renderer(self.account, api_2026=self.config.api_2026)
        self.api = ApiHandler(self)
        self._now = self.account.t0
        self._faults = FaultInjector(self.config.seed, self.config.faults)
        # records and products served wrongly on purpose, until cleared (`hostile.py`)
        self.hostile = HostileData()
        self._stats_lock = threading.Lock()
        self._stats_total = 0
        self._by_endpoint: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._cache = _BytesCache(CACHE_MAX_BYTES)
        self._truth: tuple[int, int, GroundTruth] | None = None
        self.transport = SimulatorTransport(self)

    # clock
    @property
    def now(self) -> datetime:
        """The simulated clock (aware UTC)."""
        return utc_datetime(self._now)

    @property
    def now_epoch(self) -> int:
        return self._now

    def advance(self, delta: timedelta | None = None, *, hours: float = 0.0, days: float = 0.0) -> datetime:
        """Move the clock forward (second resolution); the account evolves accordingly."""
        seconds = to_seconds(delta, hours=hours, days=days)
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self.account.ensure(self._now + seconds)
        self._now += seconds
        return self.now

    # faults
    @property
    def faults(self) -> FaultConfig:
        return self._faults.config

    def set_faults(self, faults: FaultConfig) -> None:
        """Swap the fault configuration (occurrence counters are kept)."""
        self._faults.config = faults

    def is_poisoned(self, test_id: int) -> bool:
        return self._faults.is_poisoned(test_id)

    @property
    def poisoned_test_ids(self) -> frozenset[int]:
        """Ids of existing tests whose pages and single GET always answer 500."""
        if self._faults.config.poison_rate <= 0:
            return frozenset()
        return frozenset(x.id for x in self.account.tests_at(self._now) if self.is_poisoned(x.id))

    # stats
    def stats(self) -> dict:
        with self._stats_lock:
            return {
                # CPU of the whole simulator process so far: a benchmark takes differences
                "process_cpu_seconds": round(time.process_time(), 3),
                "requests_total": self._stats_total,
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
                "by_status": dict(sorted(self._by_status.items())),
            }

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats_total = 0
            self._by_endpoint.clear()
            self._by_status.clear()

    def _count(self, endpoint: str, status: int) -> None:
        with self._stats_lock:
            self._stats_total += 1
            self._by_endpoint[endpoint] += 1
            self._by_status[status] += 1

    # ground truth
    def ground_truth(self, customer_id: int = 1) -> GroundTruth:
        """What a complete, correct sync must store at `now` (computed from the account)."""
        cached = self._truth
        if cached is not None and cached[0] == self._now and cached[1] == customer_id:
            return cached[2]
        truth = compute_ground_truth(self.account, self._now, customer_id)
        self._truth = (self._now, customer_id, truth)
        return truth

    # rendering with caches (bugs only on request, `keep_bug_bodies`: `renderer.bugs` writes
    # one in ~10 µs, and the large account's bugs take ~200 MB)
    def keep_bug_bodies(self) -> None:
        """Render every bug now and serve the kept bodies from then on (see `BugRenderer`)."""
        self.renderer.keep_bug_bodies(self._now)

    def keep_test_bodies(self) -> None:
        """Render every test as listed now and keep every test body rendered from then on.

        For benchmarks, like `keep_bug_bodies`: rendering test pages is CPU a real API spends
        on its own servers, and the bounded cache drops them all from twice `large` up, so a
        simulator on the sync's cores rendered every page of every sync (~0.5 core during a
        listing). A kept body is served only while the test's signature (status, visible
        bugs) is unchanged, so after `advance` a changed test is rendered anew, as before.
        """
        self._cache = _BytesCache(None)
        story_objects = self.config.honour_includes
        for product in self.account.products:
            for test in self.account.product_tests_at(product.id, self._now):
                self.test_bytes(test, self._now, story_objects, single=False)

    def test_bytes(self, test: Test, t: int, story_objects: bool, single: bool) -> bytes:
        rows = self.renderer.visible_rows(test, t)
        # what `advance` can change in a test's body: its status and its visible bugs
        signature = (test.status_at(t), len(rows))
        key = ("test", test.id, story_objects, single)
        body = self._cache.get(key, signature)
        if body is None:
            body = dumps(self.renderer.test(test, t, story_objects, single, rows))
            self._cache.put(key, signature, body)
        return body

    # request handling
    def handle(
        self, method: str, path: str, query: list[tuple[str, str]] | str, headers: HeaderLookup
    ) -> ApiResponse:
        """Answer one request; the caller waits `delay_seconds` before sending the answer.

        `path` is the URL path (percent-decoded), `query` the raw query string or its pairs,
        `headers` anything with a case-insensitive `.get` (httpx.Headers, http.server's headers;
        a plain dict needs lowercase keys).
        """
        if isinstance(query, str):
            query = parse_qsl(query, keep_blank_values=True)
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return handle_admin(self, method, path, query)
        sub = api_path(path)
        route = match_route(sub) if sub is not None else None
        endpoint = route[0] if route else UNKNOWN_ENDPOINT
        draw = self._faults.draw(method, path, query)
        response = self._answer(method, route, query, headers, draw.error_status)
        if draw.malformed and response.status == 200:
            # the first half of the body: a 200 whose JSON does not parse
            response.body = response.body[: max(1, len(response.body) // 2)]
        response.delay_seconds = draw.delay_seconds
        self._count(endpoint, response.status)
        return response

    def _answer(
        self,
        method: str,
        route: tuple[str, str, tuple[int, ...]] | None,
        query: list[tuple[str, str]],
        headers: HeaderLookup,
        fault_status: int | None,
    ) -> ApiResponse:
        if fault_status == 429:
            response = error_response(429, "Rate limit exceeded, retry later")
            response.headers.append(("retry-after", f"{self._faults.config.retry_after_seconds:g}"))
            return response
        if fault_status == 502:
            return ApiResponse(502, BAD_GATEWAY_HTML, [("content-type", "text/html")])
        if fault_status is not None:
            message = "Internal Server Error" if fault_status == 500 else "Service Unavailable"
            return error_response(fault_status, message)
        if not authorized(headers, self.config.token):
            return error_response(401, "Invalid or missing API token")
        if route is None:
            return error_response(404, "Not found")
        if method.upper() != "GET":
            return error_response(405, "Method not allowed: this simulator serves the read path only")
        self.account.ensure(self._now)
        return self.api.respond(route[1], route[2], Query(query), self._now)
