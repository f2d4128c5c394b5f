"""Dagster resources: the warehouse (DuckDB file) and the TestIO API (real or simulated).

Paths and secrets arrive here at wiring time (`dg.EnvVar`), never inside asset bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from testio_pipeline.warehouse import connection

DEFAULT_DUCKDB_PATH = "data/testio.duckdb"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Opened only to write, after fetching, one writer at a time."""

    path: str = Field(default=DEFAULT_DUCKDB_PATH, description="Path of the DuckDB file.")
    customer_id: int = Field(default=1, description="Customer id stored in every row.")
    lock_wait_seconds: float = Field(
        default=120.0,
        description="How long a write waits for another process to release the file lock.",
    )

    @contextmanager
    def write(self, log=None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on the warehouse: committed on success, rolled back on any error."""
        with connection.write_transaction(
            self.path, lock_wait_seconds=self.lock_wait_seconds, log=log
        ) as con:
            yield con

    @contextmanager
    def read(self, log=None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for reading; waits for the lock like a write does."""
        with connection.open_for_write(
            self.path, lock_wait_seconds=self.lock_wait_seconds, log=log
        ) as con:
            yield con
