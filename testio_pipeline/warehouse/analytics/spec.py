"""How an analytics table is declared and written, and the SQL fragments the tables share.

An `AnalyticsTable` is data: name, key, typed and described columns, the ingest tables it
reads and a builder for its SELECT. `replace_table` wraps that SELECT in a projection that
casts every declared column to its declared type in declared order, so the stored table
always matches the declaration (a missing column fails loudly instead of drifting).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from testio_pipeline.warehouse.merge import replace_customer_rows
from testio_pipeline.warehouse.merge import replace_table as create_or_replace_table

from testio_pipeline.warehouse.analytics import settings


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class AnalyticsTable:
    """One analytics table: what it holds, what it reads and how its rows are selected.

    `select_sql(**params)` returns a SELECT producing at least the declared columns by name;
    `reads` are the ingest tables (and so the ingest asset keys) it depends on;
    `preview_order` is the ORDER BY used for samples in docs and metadata, and
    `preview_columns` the columns shown there (all when empty: some tables are too wide).
    """

    name: str
    key: tuple[str, ...]
    description: str
    columns: tuple[Column, ...]
    reads: tuple[str, ...]
    select_sql: Callable[..., str]
    preview_order: str
    preview_columns: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def preview_sql(self, *, limit: int, where: str = "") -> str:
        """SELECT of the preview columns, best rows first, `limit` rows."""
        columns = ", ".join(self.preview_columns or self.column_names)
        condition = f" WHERE {where}" if where else ""
        return (
            f"SELECT {columns} FROM {self.name}{condition} "
            f"ORDER BY {self.preview_order} LIMIT {int(limit)}"
        )


@dataclass(frozen=True)
class ReplaceStats:
    table: str
    row_count: int
    previous_row_count: int | None


def replace_table(
    con: duckdb.DuckDBPyConnection,
    table: AnalyticsTable,
    *,
    customer_id: int | None = None,
    **params: Any,
) -> ReplaceStats:
    """Replace `table` with a fresh computation from the ingest tables on `con`.

    One `CREATE OR REPLACE TABLE ... AS SELECT` statement: atomic on its own, and part of the
    caller's transaction when one is open (as in `WarehouseResource.write()`). Never commits.
    With `customer_id` (a run of one account) only that customer's rows are replaced; every
    table's SQL groups and joins by customer_id, so they are the same rows either way.
    """
    previous = _row_count_if_exists(con, table.name, customer_id)
    projection = ",\n  ".join(
        f"CAST({column.name} AS {column.sql_type}) AS {column.name}" for column in table.columns
    )
    select_sql = table.select_sql(**{**table.params, **params})
    typed_sql = (
        f"SELECT\n  {projection}\n"
        f"FROM (\n{select_sql}\n) AS computed\nORDER BY {', '.join(table.key)}"
    )
    if customer_id is None:
        row_count = create_or_replace_table(con, table.name, typed_sql)
    else:
        row_count = replace_customer_rows(con, table.name, typed_sql, customer_id)
    return ReplaceStats(table=table.name, row_count=row_count, previous_row_count=previous)


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    # inlined, not a `?` parameter: binding a Python value makes duckdb import numpy and
    # pandas (~0.3 s and ~70 MB in a process that has neither yet)
    quoted = "'" + name.replace("'", "''") + "'"
    return (
        con.execute(
            "SELECT count(*) FROM information_schema.tables "
            f"WHERE table_schema = 'main' AND table_name = {quoted}"
        ).fetchone()[0]
        > 0
    )


def _row_count_if_exists(
    con: duckdb.DuckDBPyConnection, name: str, customer_id: int | None = None
) -> int | None:
    if not table_exists(con, name):
        return None
    where = "" if customer_id is None else f" WHERE customer_id = {int(customer_id)}"
    return con.execute(f"SELECT count(*) FROM {name}{where}").fetchone()[0]


def classified_bugs_cte(*, product_from_tests: bool) -> str:
    """CTE `classified_bugs`: every bug with normalised status/severity and a validity flag.

    Valid means any status other than 'rejected' (a NULL status counts as valid, like
    'accepted' and 'forwarded'). With `product_from_tests`, `product_id` falls back to the
    bug's test when the bug carries none (this reads the `tests` table).
    """
    product = "coalesce(b.product_id, t.product_id)" if product_from_tests else "b.product_id"
    join = (
        "LEFT JOIN tests AS t ON t.customer_id = b.customer_id AND t.id = b.test_id"
        if product_from_tests
        else ""
    )
    return f"""classified_bugs AS (
  SELECT
    b.customer_id, b.id, b.test_id, b.feature_id, b.test_feature_id, b.author_name,
    b.reported_at,
    {product} AS product_id,
    lower(b.status) AS status,
    lower(b.severity) AS severity,
    lower(b.status) IS DISTINCT FROM '{settings.STATUS_REJECTED}' AS is_valid,
    coalesce(b.auto_accepted, false)
      AND lower(b.status) IS NOT DISTINCT FROM '{settings.STATUS_ACCEPTED}' AS is_auto_accepted
  FROM bugs AS b
  {join}
)"""


def bug_outcome_aggregates(*, total_name: str = "bugs_total") -> str:
    """Aggregates over `classified_bugs`: total, valid, by status, and valid bugs by severity."""
    parts = [
        f"count(*) AS {total_name}",
        "count_if(is_valid) AS valid_bugs",
        f"count_if(status = '{settings.STATUS_ACCEPTED}') AS accepted_bugs",
        f"count_if(status = '{settings.STATUS_REJECTED}') AS rejected_bugs",
        f"count_if(status = '{settings.STATUS_FORWARDED}') AS forwarded_bugs",
        "count_if(is_auto_accepted) AS auto_accepted_bugs",
    ]
    parts += [
        f"count_if(is_valid AND severity = '{severity}') AS {severity}_bugs"
        for severity in settings.SEVERITIES
    ]
    return ",\n    ".join(parts)


def count_columns(names: list[str], *, source: str) -> str:
    """`coalesce(source.name, 0) AS name` for each count a LEFT JOIN may leave NULL."""
    return ",\n  ".join(f"coalesce({source}.{name}, 0) AS {name}" for name in names)


def severity_column_names() -> list[str]:
    return [f"{severity}_bugs" for severity in settings.SEVERITIES]


def severity_columns(*, scope: str) -> tuple[Column, ...]:
    return tuple(
        Column(f"{severity}_bugs", "BIGINT", f"valid bugs of severity '{severity}' {scope}")
        for severity in settings.SEVERITIES
    )


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator as DOUBLE, NULL when the denominator is 0 or NULL."""
    return f"CAST({numerator} AS DOUBLE) / nullif({denominator}, 0)"
