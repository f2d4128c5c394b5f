"""The open problems of a customer's sync, as `skipped_records` and `sync_failures` hold them.

Read by the `sync_complete` checks and the run summary; no Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from testio_pipeline.warehouse.schema import PRODUCTS, SKIPPED_RECORDS, SYNC_FAILURES

# how many problems a summary line names before "and N more"
SUMMARY_EXAMPLES = 3


@dataclass(frozen=True)
class OpenProblems:
    """What one ingest table's sync left out, still open."""

    failed: list[dict]  # sync_failures rows
    skipped: list[dict]  # skipped_records rows

    @property
    def clean(self) -> bool:
        return not (self.failed or self.skipped)


def problem_scope(customer_id: int, asset: str) -> str:
    """SQL condition for the rows of one customer's `asset` in either problem table."""
    if not asset.isidentifier():
        raise ValueError(f"not an asset name: {asset!r}")
    # rows written before `asset` existed all came from the tests listing
    return f"customer_id = {int(customer_id)} AND coalesce(asset, 'tests') = '{asset}'"


def open_problems(con: duckdb.DuckDBPyConnection, customer_id: int, asset: str) -> OpenProblems:
    where = problem_scope(customer_id, asset)
    return OpenProblems(
        failed=_rows(
            con,
            f"SELECT scope, product_id, endpoint, status, message, run_id, failed_at "
            f"FROM {SYNC_FAILURES.name} WHERE {where} ORDER BY scope",
        ),
        skipped=_rows(
            con,
            f"SELECT product_id, position, record_id, test_id, field, raw_value, reason, "
            f"endpoint, run_id, skipped_at FROM {SKIPPED_RECORDS.name} "
            f"WHERE {where} ORDER BY product_id, position",
        ),
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def describe_failure(row: dict) -> str:
    status = f"HTTP {row['status']}" if row.get("status") else "failed"
    return f"{row['scope']} ({status})"


def describe_skipped(asset: str, row: dict) -> str:
    kind = {"tests": "test", "bugs": "bug", "features": "feature", "products": "product"}.get(
        asset, "record"
    )
    raw = row.get("raw_value") or ""
    if row.get("record_id") is not None:
        who = f"{kind} {row['record_id']}"
    elif row.get("field") == "id" and raw.isdigit():
        who = f"{kind} {raw}"  # an id too large to store names the record best
    else:
        who = f"{kind} at position {row['position']} of product {row['product_id']}"
    return f"{who} {row['field'] or 'not served'}"


def summary_line(con: duckdb.DuckDBPyConnection, customer_id: int, assets: list[str]) -> str:
    """One line for the end of a run: "synced 10 products; 1 product failed: 1954 (HTTP 403);
    1 record skipped: test 94022 start_at"."""
    products = con.execute(
        f"SELECT count(*) FROM {PRODUCTS.name} WHERE customer_id = {int(customer_id)}"
    ).fetchone()[0]
    failed: list[str] = []
    skipped: list[str] = []
    for asset in assets:
        problems = open_problems(con, customer_id, asset)
        failed += [f"{asset}: {describe_failure(r)}" for r in problems.failed]
        skipped += [describe_skipped(asset, r) for r in problems.skipped]
    parts = [f"synced {products} products"]
    if failed:
        parts.append(f"{_count(len(failed), 'part')} failed: {_examples(failed)}")
    if skipped:
        parts.append(f"{_count(len(skipped), 'record')} skipped: {_examples(skipped)}")
    return "; ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _examples(items: list[str]) -> str:
    shown = ", ".join(items[:SUMMARY_EXAMPLES])
    more = len(items) - SUMMARY_EXAMPLES
    return shown + (f" and {more} more" if more > 0 else "")
