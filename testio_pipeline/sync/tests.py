"""Sync of `tests` and `test_features`: every product's test list, page by page, every run.

Listing is cheap (25 tests a page) and the only way to see status changes, so it is never
incremental; what is incremental is the bugs step, which reads the statuses stored here.
"""

from __future__ import annotations

import asyncio
import logging

from testio_pipeline.sync.features import stored_products
from testio_pipeline.sync.report import (
    ClientFactory,
    SyncFailure,
    SyncReport,
    Warehouse,
    count_rows,
    utc_now,
)
from testio_pipeline.testio import models
from testio_pipeline.testio.errors import TestIOError
from testio_pipeline.warehouse.memory import SPILL_DIRECTORY, configure_memory
from testio_pipeline.warehouse.merge import MergeCounts, merge
from testio_pipeline.warehouse.schema import SKIPPED_RECORDS, TEST_FEATURES, TESTS
from testio_pipeline.warehouse.staging import StagedRows

TESTS_MEMORY_LIMIT_BYTES = 384 << 20
# owned by the bugs step: the tests step must never overwrite them
BUG_SYNC_COLUMNS = ("bugs_synced_at", "bugs_synced_final")
TEST_UPDATE_COLUMNS = [
    c for c in TESTS.column_names if c not in TESTS.key and c not in BUG_SYNC_COLUMNS
]


async def _list_tests(
    make_client: ClientFactory,
    product_ids: list[int],
    tests_stage: StagedRows,
    features_stage: StagedRows,
    report: SyncReport,
    customer_id: int,
    log: logging.Logger | None,
) -> set[int]:
    """Stage every listed test and its test features; returns the products listed completely."""
    synced_at = utc_now()
    complete: set[int] = set()

    async def list_product(client, product_id: int) -> None:
        try:
            async for page in client.iter_tests(product_id):
                for raw in page:
                    tests_stage.append(models.test_row(raw, product_id, customer_id, synced_at))
                    features_stage.extend(models.test_feature_rows(raw, customer_id, synced_at))
        except TestIOError as error:
            report.failures.append(
                SyncFailure(f"product {product_id}", getattr(error, "endpoint", ""), str(error))
            )
            if log:
                log.warning(f"tests of product {product_id} not fully listed: {error}")
            return
        complete.add(product_id)

    async with make_client() as client:
        try:
            await asyncio.gather(*(list_product(client, pid) for pid in product_ids))
        finally:
            report.add_client_stats(client.stats)
    skipped_products = {s.product_id for s in report.skipped}
    return complete - skipped_products


def sync_tests(
    make_client: ClientFactory,
    warehouse: Warehouse,
    *,
    run_id: str,
    full_refresh: bool = False,
    product_ids: list[int] | None = None,
    log: logging.Logger | None = None,
) -> SyncReport:
    """List the tests of every stored product (or those in `product_ids`) and merge them.

    Each listed test's snapshot of features replaces its previous one. A full refresh also
    deletes tests that vanished from a product listed completely (with their test features).
    Records the API refused to serve are written to `skipped_records`.
    """
    report = SyncReport()
    products = [p.id for p in stored_products(warehouse, product_ids, log)]
    customer_id = warehouse.customer_id
    with StagedRows(TESTS) as tests_stage, StagedRows(TEST_FEATURES) as features_stage:
        complete = asyncio.run(
            _list_tests(make_client, products, tests_stage, features_stage, report, customer_id, log)
        )
        report.notes["tests_listed"] = tests_stage.row_count
        report.notes["products_listed"] = len(products)
        with warehouse.write(log) as con:
            # tests carry ~3.3 KB of raw JSON each: bound DuckDB's share of the peak. The merge's
            # UPDATE ... FROM join over whole rows needs more room than the bugs path (128 MiB
            # ran out of memory at 48,000 tests)
            configure_memory(
                con,
                memory_limit_bytes=TESTS_MEMORY_LIMIT_BYTES,
                temp_directory=tests_stage.directory / SPILL_DIRECTORY,
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE listed_tests AS "
                f"SELECT DISTINCT id FROM ({tests_stage.sql()})"
            )
            report.merges[TESTS.name] = merge(
                con, TESTS, tests_stage, update_columns=TEST_UPDATE_COLUMNS
            )
            report.merges[TEST_FEATURES.name] = merge(
                con,
                TEST_FEATURES,
                features_stage,
                delete_where="customer_id = ? AND test_id IN (SELECT id FROM listed_tests)",
                delete_params=[customer_id],
            )
            if full_refresh and complete:
                deleted = _delete_vanished_tests(con, customer_id, sorted(complete))
                report.merges[TESTS.name] += MergeCounts(deleted=deleted)
            _record_skipped(con, customer_id, run_id, report)
            report.row_counts[TESTS.name] = count_rows(con, TESTS.name, customer_id)
            report.row_counts[TEST_FEATURES.name] = count_rows(con, TEST_FEATURES.name, customer_id)
    return report.finish()


def _delete_vanished_tests(con, customer_id: int, product_ids: list[int]) -> int:
    """Delete tests of completely listed products that the listing no longer returned."""
    vanished = """
        customer_id = ? AND list_contains(?, product_id)
        AND id NOT IN (SELECT id FROM listed_tests)
    """
    con.execute(
        f"DELETE FROM {TEST_FEATURES.name} WHERE customer_id = ? AND test_id IN "
        f"(SELECT id FROM {TESTS.name} WHERE {vanished})",
        [customer_id, customer_id, product_ids],
    )
    return con.execute(
        f"DELETE FROM {TESTS.name} WHERE {vanished}", [customer_id, product_ids]
    ).fetchone()[0]


def _record_skipped(con, customer_id: int, run_id: str, report: SyncReport) -> None:
    if not report.skipped:
        return
    now = utc_now()
    con.executemany(
        f"""
        INSERT OR REPLACE INTO {SKIPPED_RECORDS.name}
            (customer_id, run_id, endpoint, product_id, position,
             end_at_before, end_at_after, reason, skipped_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            [
                customer_id,
                run_id,
                s.endpoint,
                s.product_id,
                s.position,
                s.end_at_before,
                s.end_at_after,
                s.reason,
                now,
            ]
            for s in report.skipped
        ],
    )
