"""What one sync step did: merge counts per table, API traffic, skipped records, failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import duckdb

from testio_pipeline.testio.client import ClientStats, SkippedRecord
from testio_pipeline.testio.errors import TestIOError
from testio_pipeline.warehouse.merge import MergeCounts
from testio_pipeline.warehouse.sql_values import sql_literal


class Warehouse(Protocol):
    """What the sync needs of the warehouse (satisfied by `WarehouseResource`)."""

    customer_id: int
    memory_budget_mb: int

    def read(self, log: Any = None) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...

    def write(self, log: Any = None) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...


ClientFactory = Callable[[], Any]


@dataclass
class SyncFailure:
    """A part of the sync that failed after retries; the rest of the step was still written."""

    scope: str  # e.g. "product 18559" or "tests 109363, 109364"
    endpoint: str
    message: str
    product_id: int | None = None
    test_ids: tuple[int, ...] = ()
    status: int | None = None  # the HTTP status it ended with, when there was one

    @classmethod
    def of_product(cls, product_id: int, error: TestIOError) -> SyncFailure:
        return cls(
            f"product {product_id}", error.endpoint or "", str(error),
            product_id=product_id, status=error.status,
        )


@dataclass
class SyncReport:
    """The outcome of one sync step, turned into materialization metadata by the assets."""

    merges: dict[str, MergeCounts] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)
    failures: list[SyncFailure] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    duration_seconds: float = 0.0

    def add_client_stats(self, stats: ClientStats) -> None:
        self.requests += stats.requests
        self.retries += stats.retries
        self.skipped.extend(stats.skipped)

    def finish(self) -> SyncReport:
        self.duration_seconds = round(time.monotonic() - self.started, 3)
        return self


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def count_rows(con: duckdb.DuckDBPyConnection, table: str, customer_id: int) -> int:
    return con.execute(
        f"SELECT count(*) FROM {table} WHERE customer_id = {sql_literal(customer_id)}"
    ).fetchone()[0]
