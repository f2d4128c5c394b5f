"""Quarantine: what a step could not store stays visible in the warehouse until it is stored.

A bad record (`skipped_records`) or a failing part of the account (`sync_failures`: a product
answering 403, a `/bugs` batch that kept failing) never stops the rest of a step: the step
stores everything else and writes its problems here, in the same transaction. Both tables
hold the problems that are still open: a step first clears the earlier problems of what it
tried again this run (the products it listed, the tests whose bugs it fetched), then writes
the ones that happened again. The `sync_complete` checks read them (`defs/checks/sync.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from testio_pipeline.sync.report import SyncFailure, utc_now
from testio_pipeline.testio.bodies import valid_id
from testio_pipeline.testio.errors import TestIOResponseError
from testio_pipeline.testio.json_sql import RAW_VALUE_CHARS
from testio_pipeline.testio.pagination import SkippedRecord
from testio_pipeline.warehouse.problems import problem_scope
from testio_pipeline.warehouse.schema import SKIPPED_RECORDS, SYNC_FAILURES
from testio_pipeline.warehouse.sql_values import bigint_list, sql_literal

# a temp table with one BIGINT column `id`: the tests a step tried again
AttemptedTests = str


def replace_problems(
    con: duckdb.DuckDBPyConnection,
    *,
    customer_id: int,
    run_id: str,
    asset: str,
    skipped: Sequence[SkippedRecord],
    failures: Sequence[SyncFailure],
    attempted_products: Sequence[int] | None = None,
    attempted_tests: AttemptedTests | None = None,
) -> None:
    """Clear `asset`'s open problems of what this run tried again, then record this run's.

    `attempted_products` clears by product (tests listings, catalogs), `attempted_tests` (a
    temp table of test ids) by test (bugs): a problem of a part this run did not try stays.
    """
    scope = problem_scope(customer_id, asset)
    if attempted_products is not None:
        products = bigint_list(attempted_products)
        for table in (SKIPPED_RECORDS.name, SYNC_FAILURES.name):
            con.execute(
                f"DELETE FROM {table} WHERE {scope} AND list_contains({products}, product_id)"
            )
    if attempted_tests is not None:
        con.execute(
            f"DELETE FROM {SKIPPED_RECORDS.name} WHERE {scope} "
            f"AND test_id IN (SELECT id FROM {attempted_tests})"
        )
        con.execute(
            f"DELETE FROM {SYNC_FAILURES.name} WHERE {scope} AND list_has_any(test_ids, "
            f"(SELECT coalesce(list(id), []::BIGINT[]) FROM {attempted_tests}))"
        )
    now = utc_now()
    if skipped:
        _insert(
            con,
            SKIPPED_RECORDS.name,
            [
                (
                    customer_id,
                    run_id,
                    s.endpoint,
                    s.product_id,
                    s.position,
                    s.end_at_before,
                    s.end_at_after,
                    s.reason,
                    now,
                    asset,
                    s.record_id,
                    s.test_id,
                    s.field,
                    s.value,
                )
                for s in skipped
            ],
            SKIPPED_RECORDS.column_names,
        )
    if failures:
        _insert(
            con,
            SYNC_FAILURES.name,
            [
                (
                    customer_id,
                    asset,
                    f.scope,
                    f.product_id,
                    list(f.test_ids),
                    f.endpoint,
                    f.status,
                    f.message,
                    run_id,
                    now,
                )
                for f in failures
            ],
            SYNC_FAILURES.column_names,
        )


def skipped_raw_record(
    path: str, product_id: int, position: int, raw: Any, error: TestIOResponseError
) -> SkippedRecord:
    """A record parsed in Python (products, features) that cannot be a row. `product_id` 0
    stands for "the account" (the product list itself)."""
    raw_id = raw.get("id") if isinstance(raw, dict) else None
    record_id = (
        valid_id(raw_id)
        if isinstance(raw_id, (int, str)) and not isinstance(raw_id, bool)
        else None
    )
    return SkippedRecord(
        f"GET {path}",
        product_id,
        position,
        None,
        None,
        str(error),
        record_id=record_id,
        value=json.dumps(raw, default=str, ensure_ascii=False)[:RAW_VALUE_CHARS],
    )


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple], columns: list[str]
) -> None:
    # a few rows per run at most: literals are simplest (no parameters: see sql_values)
    values = ", ".join(
        "("
        + ", ".join(bigint_list(v) if isinstance(v, list) else sql_literal(v) for v in row)
        + ")"
        for row in rows
    )
    con.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES {values}")
