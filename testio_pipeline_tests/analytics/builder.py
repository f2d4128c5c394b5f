"""Hand-built warehouses: insert ingest rows by SQL with defaults for everything a test ignores."""

from __future__ import annotations

from typing import Any

import duckdb

from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES_BY_NAME, replace_table

DEFAULT_TIME = "2025-03-05 12:00:00+00"


class WarehouseBuilder:
    """Inserts rows of one customer into the ingest tables of `con` (schema already ensured)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, customer_id: int = 1) -> None:
        self.con = con
        self.customer_id = customer_id

    def for_customer(self, customer_id: int) -> WarehouseBuilder:
        return WarehouseBuilder(self.con, customer_id)

    def _insert(self, table: str, values: dict[str, Any]) -> None:
        values = {"customer_id": self.customer_id, **values}
        columns = ", ".join(values)
        placeholders = ", ".join("?" for _ in values)
        self.con.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", list(values.values())
        )

    def product(self, id: int, name: str | None = None) -> None:
        self._insert("products", {"id": id, "name": name or f"product {id}"})

    def feature(
        self, id: int, product_id: int, title: str | None = None, *, is_deleted: bool = False
    ) -> None:
        self._insert(
            "features",
            {
                "id": id,
                "product_id": product_id,
                "title": title or f"feature {id}",
                "is_deleted": is_deleted,
            },
        )

    def test(
        self,
        id: int,
        product_id: int | None,
        *,
        status: str = "archived",
        start_at: str | None = None,
        end_at: str | None = DEFAULT_TIME,
    ) -> None:
        self._insert(
            "tests",
            {
                "id": id,
                "product_id": product_id,
                "status": status,
                "is_final": status in ("archived", "cancelled"),
                "start_at": start_at,
                "end_at": end_at,
            },
        )

    def test_feature(
        self,
        id: int,
        test_id: int,
        feature_id: int,
        *,
        product_id: int | None = None,
        title: str | None = None,
    ) -> None:
        self._insert(
            "test_features",
            {
                "id": id,
                "test_id": test_id,
                "feature_id": feature_id,
                "product_id": product_id,
                "title": title or f"snapshot {id} of feature {feature_id}",
            },
        )

    def bug(
        self,
        id: int,
        *,
        test_id: int | None = None,
        product_id: int | None = None,
        test_feature_id: int | None = None,
        feature_id: int | None = None,
        severity: str | None = "high",
        status: str | None = "accepted",
        auto_accepted: bool = False,
        reported_at: str | None = DEFAULT_TIME,
        author_name: str | None = "tester_a",
    ) -> None:
        self._insert(
            "bugs",
            {
                "id": id,
                "test_id": test_id,
                "product_id": product_id,
                "test_feature_id": test_feature_id,
                "feature_id": feature_id,
                "severity": severity,
                "status": status,
                "auto_accepted": auto_accepted,
                "reported_at": reported_at,
                "author_name": author_name,
            },
        )


def build(con: duckdb.DuckDBPyConnection, table_name: str, **params: Any) -> None:
    replace_table(con, ANALYTICS_TABLES_BY_NAME[table_name], **params)


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Query result as dicts, so assertions name the columns they check."""
    result = con.execute(sql, params or [])
    names = [description[0] for description in result.description]
    return [dict(zip(names, row)) for row in result.fetchall()]


def row_by(
    con: duckdb.DuckDBPyConnection, table: str, **key: Any
) -> dict[str, Any] | None:
    """The single row of `table` matching `key` (None if absent; fails if several match)."""
    where = " AND ".join(
        f"{name} IS NOT DISTINCT FROM ?" for name in key
    )
    found = rows(con, f"SELECT * FROM {table} WHERE {where}", list(key.values()))
    assert len(found) <= 1, f"{len(found)} rows of {table} match {key}"
    return found[0] if found else None
