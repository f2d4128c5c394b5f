"""Fixtures: a real DuckDB file under tmp_path with the ingest schema, and a row builder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from testio_pipeline.warehouse.schema import ensure_schema

from .builder import WarehouseBuilder


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "testio.duckdb"


@pytest.fixture
def con(warehouse_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(warehouse_path))
    # a session zone far from UTC: every week or day boundary must still be computed in UTC
    connection.execute("SET TimeZone = 'America/Los_Angeles'")
    ensure_schema(connection)
    yield connection
    connection.close()


@pytest.fixture
def wb(con: duckdb.DuckDBPyConnection) -> WarehouseBuilder:
    return WarehouseBuilder(con, customer_id=1)
