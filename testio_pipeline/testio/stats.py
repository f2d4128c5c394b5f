"""`ClientStats`: what a `TestIOClient` did over its lifetime, for a sync's report.

Two parts of the client fill it: the retrying getter (retries.py) counts attempts, statuses
and time in flight, and the tests listing adds the records it had to skip. It lives in a
module of its own so neither of them has to import the other, nor the client.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from testio_pipeline.testio.pagination import SkippedRecord


@dataclass
class ClientStats:
    """What a client did over its lifetime.

    `requests` counts HTTP attempts started (retries included, and look-ahead test pages
    cancelled once a listing ended, which have no status); `elapsed_by_endpoint` sums the time
    attempts spent in flight, overlapping ones each counted; `skipped` lists the test
    positions the API refused to serve (see pagination).
    """

    requests: int = 0
    retries: int = 0
    transport_errors: int = 0
    responses_by_status: Counter[int] = field(default_factory=Counter)
    requests_by_endpoint: Counter[str] = field(default_factory=Counter)
    elapsed_by_endpoint: dict[str, float] = field(default_factory=dict)
    peak_in_flight: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)
