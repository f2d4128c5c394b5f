"""Hostile data: single records and products the simulator serves wrongly on purpose.

Faults (`faults.py`) are random and transient; hostile data is targeted and persistent until a
test clears it, like the live API serving one malformed test or revoking one product:

- `test_fields`: a test's rendered JSON gets these fields replaced (in listings and the single
  GET), e.g. `{"start_at": "20/11/2025 12:00"}` or an `id` above BIGINT;
- `bug_objects`: a bug is served as this JSON value instead of its object (any shape);
- `listing_errors` / `catalog_errors`: a product answers this HTTP status on its tests
  listing / on its feature catalog endpoints (e.g. 403 for a revoked product).

The ground truth ignores all of it: it is what a correct sync stores once the API serves the
account correctly again (`clear`). A test that expects records to be skipped compares with the
truth excluding them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class HostileData:
    """Mutable while the simulator serves: set or clear entries between syncs."""

    test_fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    bug_objects: dict[int, Any] = field(default_factory=dict)
    listing_errors: dict[int, int] = field(default_factory=dict)
    catalog_errors: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def clear(self) -> None:
        """Serve everything correctly again."""
        with self._lock:
            self.test_fields.clear()
            self.bug_objects.clear()
            self.listing_errors.clear()
            self.catalog_errors.clear()

    def __bool__(self) -> bool:
        return bool(
            self.test_fields or self.bug_objects or self.listing_errors or self.catalog_errors
        )

    def patch_test(self, test_id: int, body: bytes) -> bytes:
        """`body` (one rendered test) with its hostile fields, if any."""
        fields = self.test_fields.get(test_id)
        if not fields:
            return body
        test = json.loads(body)
        test.update(fields)
        # json, not orjson: orjson refuses integers beyond 64 bits, which is the point here
        return json.dumps(test, separators=(",", ":"), ensure_ascii=False).encode()

    def patch_bug(self, bug_id: int, body: bytes) -> bytes:
        """`body` (one rendered bug), or its hostile replacement."""
        if bug_id not in self.bug_objects:
            return body
        return json.dumps(self.bug_objects[bug_id], separators=(",", ":")).encode()
