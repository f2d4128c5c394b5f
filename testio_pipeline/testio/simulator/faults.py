"""Deterministic fault draws: latency, 429, 5xx, slow and malformed answers, poisoned tests.

A draw depends only on (seed, method, path + sorted query, the n-th time this exact request was
seen). A retry is a new occurrence and gets a fresh draw; two clients issuing the same requests
in any interleaving see the same faults.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from testio_pipeline.testio.simulator.config import FaultConfig
from testio_pipeline.testio.simulator.seeding import uniforms


@dataclass(frozen=True, slots=True)
class FaultDraw:
    """What to do to one answer: an error status instead of it, extra delay, a broken body."""

    error_status: int | None  # 429, 500, 502 or 503 instead of the real answer
    delay_seconds: float
    malformed: bool  # a 200 answer gets a truncated body


NO_FAULT = FaultDraw(None, 0.0, False)


def request_key(method: str, path: str, query: list[tuple[str, str]]) -> str:
    """The identity of a request for fault draws: method, path and sorted query."""
    return f"{method.upper()} {path}?{urlencode(sorted(query))}"


class FaultInjector:
    """Draws faults per request occurrence; also decides which tests are poisoned."""

    def __init__(self, seed: int, config: FaultConfig) -> None:
        self.seed = seed
        self.config = config
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def draw(self, method: str, path: str, query: list[tuple[str, str]]) -> FaultDraw:
        cfg = self.config
        if not (cfg.latency_ms or cfg.jitter_ms or cfg.error_rate_429 or cfg.error_rate_5xx
                or cfg.slow_rate or cfg.malformed_rate):
            return NO_FAULT
        key = request_key(method, path, query)
        with self._lock:
            occurrence = self._seen[key]
            self._seen[key] = occurrence + 1
        u = uniforms(self.seed, "fault", key, occurrence)
        error: int | None = None
        if u[0] < cfg.error_rate_429:
            error = 429
        elif u[1] < cfg.error_rate_5xx:
            error = 500 if u[2] < 0.5 else 502 if u[2] < 0.75 else 503
        delay = (cfg.latency_ms + u[3] * cfg.jitter_ms) / 1000.0
        if u[4] < cfg.slow_rate:
            delay += cfg.slow_seconds
        return FaultDraw(error, delay, error is None and u[5] < cfg.malformed_rate)

    def is_poisoned(self, test_id: int) -> bool:
        rate = self.config.poison_rate
        return rate > 0 and uniforms(self.seed, "poison", test_id, count=1)[0] < rate
