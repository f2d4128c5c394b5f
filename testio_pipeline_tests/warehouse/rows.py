"""Bug-like rows for the warehouse tests and the benchmark, shaped like the API's (§3.6)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

REPORTED_BASE = datetime(2025, 10, 20, 15, 42, 11, tzinfo=timezone(timedelta(hours=2)))
SYNCED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def bug_row(bug_id: int, customer_id: int = 1, **overrides: Any) -> dict[str, Any]:
    """One row of the `bugs` table; `overrides` replace or add columns."""
    raw = {
        "id": bug_id,
        "title": f"Checkout total ignores promo code #{bug_id}",
        "severity": "high",
        "status": "accepted",
        "author": {"name": f"tester_{bug_id % 7}"},
        "test": {"id": 100 + bug_id % 3},
        "test_feature": {"id": 1000 + bug_id % 5, "feature_id": 2000 + bug_id % 5},
    }
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "id": bug_id,
        "test_id": 100 + bug_id % 3,
        "product_id": 7,
        "test_feature_id": 1000 + bug_id % 5,
        "feature_id": 2000 + bug_id % 5,
        "title": raw["title"],
        "severity": "high",
        "status": "accepted",
        "auto_accepted": False,
        "known": False,
        "reported_at": (REPORTED_BASE + timedelta(minutes=bug_id)).isoformat(),
        "author_name": raw["author"]["name"],
        "steps": ["Add any item to cart", "Apply code PROMO20"],
        "synced_at": SYNCED_AT,
        "raw": raw,
    }
    row.update(overrides)
    return row


def large_bug_rows(count: int, seed: int = 0, raw_chars: int = 1500) -> Iterator[dict[str, Any]]:
    """`count` bug rows whose raw JSON is about `raw_chars` long and barely compressible."""
    rng = random.Random(seed)
    for bug_id in range(1, count + 1):
        row = bug_row(bug_id)
        raw = dict(row["raw"])
        # random hex: cheap to make, and parquet/duckdb cannot shrink it much below half
        raw["actual_result"] = rng.randbytes((raw_chars - 300) // 2).hex()
        row["raw"] = json.dumps(raw)
        row["test_id"] = bug_id // 10
        yield row
