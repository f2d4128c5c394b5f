"""Sync of `tests` and `test_features`: every product's test list, page by page, every run.

Listing is cheap (25 tests a page) and the only way to see status changes, so it is never
incremental; what is incremental is the bugs step, which reads the statuses stored here.

Like bugs, tests never become Python rows: the client checks each page (ids, `end_at`), the
page goes to a file as it arrives (`StagedBodies`), and while the listing goes on a worker
thread has DuckDB parse every 100 pages into typed Parquet rows of both tables, each row
with its place (page file, position) (`ParquetChunks`, `testio_pipeline.testio.test_rows`).
The listing decides which record of which page each test comes from (a test repeated on a
later page or by another product is taken once, the last time it is listed), and the write
merges the chosen rows from the Parquet chunks, under the write memory limit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from testio_pipeline.sync.features import stored_products
from testio_pipeline.sync.parsed_bodies import finish_parsing
from testio_pipeline.sync.report import (
    ClientFactory,
    SyncFailure,
    SyncReport,
    Warehouse,
    count_rows,
    utc_now,
)
from testio_pipeline.testio.errors import TestIOError
from testio_pipeline.testio.test_rows import (
    chosen_test_features_sql,
    chosen_tests_sql,
    listed_tests_sql,
    raise_for_test_rows_error,
    test_feature_rows_sql,
    test_rows_sql,
)
from testio_pipeline.warehouse.memory import SPILL_DIRECTORY, configure_memory
from testio_pipeline.warehouse.merge import MergeCounts, ViewSource, merge
from testio_pipeline.warehouse.parquet_chunks import ChunkSql, ParquetChunks
from testio_pipeline.warehouse.schema import SKIPPED_RECORDS, TEST_FEATURES, TESTS
from testio_pipeline.warehouse.staged_bodies import StagedBodies
from testio_pipeline.warehouse.sql_values import (
    bigint_list,
    sql_literal,
    temp_table_from_columns,
)

# owned by the bugs step: the tests step must never overwrite them
BUG_SYNC_COLUMNS = ("bugs_synced_at", "bugs_synced_final")
TEST_UPDATE_COLUMNS = [
    c for c in TESTS.column_names if c not in TESTS.key and c not in BUG_SYNC_COLUMNS
]


@dataclass
class _Listing:
    """What the listing leaves for the write phase besides the staged pages."""

    # test id -> (id of the staged page, position in the page, product listed under)
    chosen: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    # products whose listing ran to its end without a failure
    complete: set[int] = field(default_factory=set)

    def write_selection(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """The chosen records as temp table `table` (id, filename, position, product_id)."""
        places = list(self.chosen.values())
        temp_table_from_columns(
            con,
            table,
            {
                "id": ("BIGINT", list(self.chosen)),
                "filename": ("VARCHAR", [p[0] for p in places]),
                "position": ("BIGINT", [p[1] for p in places]),
                "product_id": ("BIGINT", [p[2] for p in places]),
            },
        )


async def _list_tests(
    make_client: ClientFactory,
    product_ids: list[int],
    stage: StagedBodies,
    report: SyncReport,
    log: logging.Logger | None,
) -> _Listing:
    """Stage every page that lists a test (the stage feeds the Parquet chunks) and choose
    each test's record."""
    listing = _Listing()
    page_ids: dict[int, str] = {}

    async def list_product(client, product_id: int) -> None:
        try:
            async for tests in client.iter_tests(product_id):
                for test in tests:
                    page = page_ids.get(test.page.number)
                    if page is None:
                        label = f"a page of the tests of product {product_id}"
                        page = page_ids[test.page.number] = stage.add(test.page.body, label)
                    # re-inserting moves the id to the end: the last listing wins
                    listing.chosen.pop(test.id, None)
                    listing.chosen[test.id] = (page, test.position, product_id)
        except TestIOError as error:
            report.failures.append(
                SyncFailure(f"product {product_id}", getattr(error, "endpoint", ""), str(error))
            )
            if log:
                log.warning(f"tests of product {product_id} not fully listed: {error}")
            return
        listing.complete.add(product_id)

    async with make_client() as client:
        try:
            await asyncio.gather(*(list_product(client, pid) for pid in product_ids))
        finally:
            report.add_client_stats(client.stats)
    listing.complete -= {s.product_id for s in report.skipped}
    return listing


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
    synced_at = utc_now()
    with StagedBodies("tests") as stage, _test_chunks(stage, customer_id, synced_at, log) as chunks:
        stage.on_file(chunks.add)
        listing = asyncio.run(_list_tests(make_client, products, stage, report, log))
        report.notes["tests_listed"] = len(listing.chosen)
        report.notes["products_listed"] = len(products)
        finish_parsing(stage, chunks, raise_for_test_rows_error, report, "tests_parse_wait_s")
        with warehouse.write(log) as con:
            configure_memory(con, temp_directory=stage.directory / SPILL_DIRECTORY)
            listing.write_selection(con, "listed_tests")
            _merge_listed(con, chunks, customer_id, report)
            if full_refresh and listing.complete:
                deleted = _delete_vanished_tests(con, customer_id, sorted(listing.complete))
                report.merges[TESTS.name] += MergeCounts(deleted=deleted)
            _record_skipped(con, customer_id, run_id, report)
            report.row_counts[TESTS.name] = count_rows(con, TESTS.name, customer_id)
            report.row_counts[TEST_FEATURES.name] = count_rows(con, TEST_FEATURES.name, customer_id)
    return report.finish()


def _test_chunks(
    stage: StagedBodies, customer_id: int, synced_at: datetime, log: logging.Logger | None
) -> ParquetChunks:
    """Parquet conversion of the staged pages: every record's `tests` row and its test
    features, each with its place, for the write to pick the chosen ones."""

    def chunk_sql(files: list[Path]) -> ChunkSql:
        # the pages are parsed once for both tables
        return ChunkSql(
            outputs={
                TESTS.name: test_rows_sql("chunk_records", customer_id, synced_at, place=True),
                TEST_FEATURES.name: test_feature_rows_sql(
                    "chunk_records", customer_id, synced_at, place=True
                ),
            },
            temp_tables={
                "chunk_records": listed_tests_sql(files, None, max_body_bytes=stage.largest_body)
            },
            largest_document_bytes=stage.largest_body,
        )

    return ParquetChunks(stage.directory, chunk_sql, log=log)


def _merge_listed(
    con: duckdb.DuckDBPyConnection,
    chunks: ParquetChunks,
    customer_id: int,
    report: SyncReport,
) -> None:
    """Merge the tests chosen in `listed_tests` and their test features from the chunks."""
    if chunks.files(TESTS.name):
        tests = ViewSource(
            chosen_tests_sql(chunks.files(TESTS.name), "listed_tests", TESTS.column_names)
        )
        # SQL, not a view: the merge copies it into a temp table (which can spill) once,
        # instead of running its deduplicating window wherever the merge reads the source
        # (twice `large` then ran out of memory at the write limit)
        features = chosen_test_features_sql(
            chunks.files(TEST_FEATURES.name), "listed_tests", TEST_FEATURES.column_names
        )
    else:
        tests = f"SELECT * FROM {TESTS.name} WHERE false"
        features = f"SELECT * FROM {TEST_FEATURES.name} WHERE false"
    report.merges[TESTS.name] = merge(con, TESTS, tests, update_columns=TEST_UPDATE_COLUMNS)
    report.merges[TEST_FEATURES.name] = merge(
        con,
        TEST_FEATURES,
        features,
        delete_where=(
            f"customer_id = {sql_literal(customer_id)} AND test_id IN (SELECT id FROM listed_tests)"
        ),
    )


def _delete_vanished_tests(con, customer_id: int, product_ids: list[int]) -> int:
    """Delete tests of completely listed products that the listing no longer returned."""
    customer = sql_literal(customer_id)
    vanished = f"""
        customer_id = {customer} AND list_contains({bigint_list(product_ids)}, product_id)
        AND id NOT IN (SELECT id FROM listed_tests)
    """
    con.execute(
        f"DELETE FROM {TEST_FEATURES.name} WHERE customer_id = {customer} AND test_id IN "
        f"(SELECT id FROM {TESTS.name} WHERE {vanished})"
    )
    return con.execute(f"DELETE FROM {TESTS.name} WHERE {vanished}").fetchone()[0]


def _record_skipped(con, customer_id: int, run_id: str, report: SyncReport) -> None:
    if not report.skipped:
        return
    now = utc_now()
    values = ", ".join(
        "("
        + ", ".join(
            sql_literal(v)
            for v in (
                customer_id, run_id, s.endpoint, s.product_id, s.position,
                s.end_at_before, s.end_at_after, s.reason, now,
            )
        )
        + ")"
        for s in report.skipped
    )
    con.execute(
        f"""
        INSERT OR REPLACE INTO {SKIPPED_RECORDS.name}
            (customer_id, run_id, endpoint, product_id, position,
             end_at_before, end_at_after, reason, skipped_at)
        VALUES {values}
        """
    )
