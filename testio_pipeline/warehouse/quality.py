"""Data-quality queries behind the ingest asset checks; plain SQL, testable without Dagster."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from testio_pipeline.warehouse.schema import TableSpec


def duplicate_key_rows(
    con: duckdb.DuckDBPyConnection, table: str, key: Sequence[str]
) -> list[tuple[Any, ...]]:
    """The key values held by more than one row of `table`, each with its row count, most
    repeated first."""
    columns = ", ".join(key)
    return con.execute(
        f"SELECT {columns}, count(*) AS n FROM {table} GROUP BY ALL HAVING count(*) > 1 "
        f"ORDER BY n DESC, {columns}"
    ).fetchall()


def duplicate_keys(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> int:
    """Number of primary-key values held by more than one row."""
    return len(duplicate_key_rows(con, spec.name, spec.key))


def null_customer_ids(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table} WHERE customer_id IS NULL").fetchone()[0]


def dangling_references(
    con: duckdb.DuckDBPyConnection,
    *,
    child: str,
    column: str,
    parent: str,
    parent_column: str = "id",
) -> tuple[int, list[int]]:
    """Rows of `child` whose non-null `column` names no `parent` row of the same customer,
    with up to 10 example ids of the child rows."""
    rows = con.execute(
        f"""
        SELECT c.id FROM {child} c
        WHERE c.{column} IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM {parent} p
            WHERE p.customer_id = c.customer_id AND p.{parent_column} = c.{column}
        )
        ORDER BY c.id
        """
    ).fetchall()
    return len(rows), [r[0] for r in rows[:10]]
