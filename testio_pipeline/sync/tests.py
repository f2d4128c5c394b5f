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

from testio_pipeline.sync.features import products_on
from testio_pipeline.sync.parsed_bodies import finish_parsing
from testio_pipeline.sync.quarantine import replace_problems
from testio_pipeline.sync.report import (
    ClientFactory,
    SyncFailure,
    SyncReport,
    Warehouse,
    count_rows,
    utc_now,
)
from testio_pipeline.testio.errors import TestIOError, token_refused
from testio_pipeline.testio.pagination import SkippedRecord
from testio_pipeline.testio.settings import PRODUCT_TESTS_PATH
from testio_pipeline.testio.test_rows import (
    changed_records,
    checked_tests_sql,
    chosen_test_feature_stories_sql,
    chosen_test_features_sql,
    chosen_tests_sql,
    listed_tests_sql,
    parquet_relation,
    rejected_tests_sql,
    test_feature_items_sql,
    test_feature_rows_sql,
    test_feature_story_rows_sql,
    test_rows_sql,
)
from testio_pipeline.warehouse.memory import (
    SPILL_DIRECTORY,
    MemoryBudget,
    configure_memory,
    within_budget,
)
from testio_pipeline.warehouse.merge import MergeCounts, ViewSource, merge
from testio_pipeline.warehouse.parquet_chunks import ChunkSql, ParquetChunks
from testio_pipeline.warehouse.schema import TEST_FEATURE_STORIES, TEST_FEATURES, TESTS
from testio_pipeline.warehouse.sql_values import (
    bigint_list,
    sql_literal,
    temp_table_from_columns,
)
from testio_pipeline.warehouse.staged_bodies import StagedBodies

# owned by the bugs step: the tests step must never overwrite them
BUG_SYNC_COLUMNS = ("bugs_synced_at", "bugs_synced_final")
TEST_UPDATE_COLUMNS = [
    c for c in TESTS.column_names if c not in TESTS.key and c not in BUG_SYNC_COLUMNS
]


@dataclass
class _Listing:
    """What the listing leaves for the write phase besides the staged pages."""

    # test id -> (id of the staged page, position in the page, product listed under,
    # position in the product's listing)
    chosen: dict[int, tuple[str, int, int, int]] = field(default_factory=dict)
    # products whose listing ran to its end without a failure
    complete: set[int] = field(default_factory=set)
    # the first error of each product whose listing failed
    errors: list[TestIOError] = field(default_factory=list)

    def write_selection(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """The chosen records as temp table `table` (id, filename, position, product_id,
        listing_position)."""
        places = list(self.chosen.values())
        temp_table_from_columns(
            con,
            table,
            {
                "id": ("BIGINT", list(self.chosen)),
                "filename": ("VARCHAR", [p[0] for p in places]),
                "position": ("BIGINT", [p[1] for p in places]),
                "product_id": ("BIGINT", [p[2] for p in places]),
                "listing_position": ("BIGINT", [p[3] for p in places]),
            },
        )


def _stored_test_counts(con: duckdb.DuckDBPyConnection, customer_id: int) -> dict[int, int]:
    """How many tests each product listed last time: its listing's pages are asked at once."""
    return dict(
        con.execute(
            f"SELECT product_id, count(*) FROM {TESTS.name} "
            f"WHERE customer_id = {sql_literal(customer_id)} GROUP BY product_id"
        ).fetchall()
    )


async def _list_tests(
    make_client: ClientFactory,
    product_ids: list[int],
    stage: StagedBodies,
    report: SyncReport,
    log: logging.Logger | None,
    stored_counts: dict[int, int] | None = None,
) -> _Listing:
    """Stage every page that lists a test (the stage feeds the Parquet chunks) and choose
    each test's record. `stored_counts`: tests per product stored already (see
    `pagination.look_ahead`)."""
    stored_counts = stored_counts or {}
    listing = _Listing()
    page_ids: dict[int, str] = {}

    async def list_product(client, product_id: int) -> None:
        try:
            expected = stored_counts.get(product_id, 0)
            async for tests in client.iter_tests(product_id, expected_tests=expected):
                for test in tests:
                    page = page_ids.get(test.page.number)
                    if page is None:
                        label = f"a page of the tests of product {product_id}"
                        page = page_ids[test.page.number] = stage.add(test.page.body, label)
                    # re-inserting moves the id to the end: the last listing wins
                    listing.chosen.pop(test.id, None)
                    listing.chosen[test.id] = (
                        page, test.position, product_id, test.listing_position
                    )
        except TestIOError as error:
            if token_refused(error):
                raise  # refused for one product, refused for all: nothing to degrade to
            # one product's problem (403 for a revoked product, a listing that keeps
            # failing): it keeps its previous rows and the other products go on
            report.failures.append(SyncFailure.of_product(product_id, error))
            listing.errors.append(error)
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
    if product_ids and len(listing.errors) == len(product_ids):
        # every product failed: the API (or the way to it) is down, not one product
        raise listing.errors[0]
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
    Records the API refused to serve, and records that cannot be typed (no valid id, a
    broken timestamp), are skipped and written to `skipped_records`; a product whose listing
    fails keeps its previous rows and is written to `sync_failures` (`sync.quarantine`).
    Only a refused token, or every product failing, fails the step.
    """
    report = SyncReport()
    customer_id = warehouse.customer_id
    synced_at = utc_now()
    budget = MemoryBudget(warehouse.memory_budget_mb)
    with StagedBodies("tests") as stage:
        # one DuckDB turn before the fetch: the products to list and, unless a full refresh
        # parses every test again, the tests stored already
        with warehouse.read(log) as con:
            products = [p.id for p in products_on(con, customer_id, product_ids)]
            known = None if full_refresh else _write_known_tests(con, customer_id, stage.directory)
            stored = _stored_test_counts(con, customer_id)
        with _test_chunks(stage, customer_id, synced_at, budget, known, log) as chunks:
            stage.on_file(chunks.add)
            listing = asyncio.run(
                _list_tests(make_client, products, stage, report, log, stored)
            )
            report.notes["tests_listed"] = len(listing.chosen)
            report.notes["products_listed"] = len(products) - len(listing.errors)
            finish_parsing(stage, chunks, report, "tests_parse_wait_s")
            with warehouse.write(log) as con:
                configure_memory(
                    con,
                    memory_limit_bytes=budget.write_limit_bytes,
                    threads=budget.write_threads,
                    temp_directory=stage.directory / SPILL_DIRECTORY,
                )
                listing.write_selection(con, "listed_tests")
                report.skipped.extend(
                    _quarantine_rejected(con, chunks, "listed_tests", "stored_tests")
                )
                as_stored = _set_aside_unchanged(
                    con, chunks, customer_id, "stored_tests", "parsed_tests"
                )
                with within_budget(budget, "the merge of the tests"):
                    _merge_listed(con, chunks, customer_id, report, "parsed_tests")
                report.merges[TESTS.name] += as_stored
                if full_refresh and listing.complete:
                    deleted = _delete_vanished_tests(con, customer_id, sorted(listing.complete))
                    report.merges[TESTS.name] += MergeCounts(deleted=deleted)
                replace_problems(
                    con,
                    customer_id=customer_id,
                    run_id=run_id,
                    asset=TESTS.name,
                    skipped=report.skipped,
                    failures=report.failures,
                    attempted_products=products,
                )
                report.row_counts[TESTS.name] = count_rows(con, TESTS.name, customer_id)
                for table in (TEST_FEATURES, TEST_FEATURE_STORIES):
                    report.row_counts[table.name] = count_rows(con, table.name, customer_id)
    return report.finish()


# test pages with their features' stories (the 2026 API) parse into ~20x their size in
# DuckDB: 8 MiB chunks needed more than the 156 MiB a worker gets under the default budget
# (each then converted twice); 4 MiB chunks stay within it at every simulator size
TEST_CHUNK_BYTES = 4 << 20


# the chunks' list of the places of records stored already exactly as listed
UNCHANGED_TESTS = "unchanged_tests"
KNOWN_TESTS_FILE = "known_tests.parquet"


def _write_known_tests(con: duckdb.DuckDBPyConnection, customer_id: int, directory: Path) -> str:
    """(id, raw_hash) of the customer's stored tests as a Parquet file in `directory`, for the
    chunks to recognise the records that did not change (`checked_tests_sql`); its relation."""
    path = directory / KNOWN_TESTS_FILE
    con.execute(
        f"COPY (SELECT id, raw_hash FROM {TESTS.name} WHERE customer_id = "
        f"{sql_literal(customer_id)} AND raw_hash IS NOT NULL) "
        f"TO {sql_literal(str(path))} (FORMAT parquet)"
    )
    return f"read_parquet({sql_literal(str(path))})"


def _test_chunks(
    stage: StagedBodies,
    customer_id: int,
    synced_at: datetime,
    budget: MemoryBudget,
    known: str | None,
    log: logging.Logger | None,
) -> ParquetChunks:
    """Parquet conversion of the staged pages: every record's `tests` row, its test features
    and their stories, each with its place, for the write to pick the chosen ones. A record
    stored already exactly as listed (same id and `raw_hash` in `known`) gives only its place
    (`UNCHANGED_TESTS`): on a sync where little changed, most of the parsing is skipped."""

    def chunk_sql(files: list[Path]) -> ChunkSql:
        # the pages are parsed once for the three tables, the test features once for their
        # rows and their stories (~17 % less SQL time a chunk than parsing them twice)
        changed = changed_records("chunk_records")
        return ChunkSql(
            outputs={
                TESTS.name: test_rows_sql(
                    changed, customer_id, synced_at, place=True, checked=True
                ),
                TEST_FEATURES.name: test_feature_rows_sql(
                    "chunk_records", customer_id, synced_at, place=True, items="chunk_items"
                ),
                TEST_FEATURE_STORIES.name: test_feature_story_rows_sql(
                    "chunk_records", customer_id, synced_at, place=True, items="chunk_items"
                ),
                UNCHANGED_TESTS: (
                    "SELECT filename AS page_file, position FROM chunk_records WHERE unchanged"
                ),
            },
            temp_tables={
                # each record checked once, for its row and its items
                "chunk_records": checked_tests_sql(
                    f"({listed_tests_sql(files, None, max_body_bytes=stage.largest_body)})",
                    known,
                ),
                "chunk_items": test_feature_items_sql(changed, checked=True),
            },
            largest_document_bytes=stage.largest_body,
        )

    return ParquetChunks(
        stage.directory,
        chunk_sql,
        chunk_bytes=TEST_CHUNK_BYTES,
        memory_limit_bytes=budget.convert_limit_bytes,
        log=log,
    )


def _quarantine_rejected(
    con: duckdb.DuckDBPyConnection, chunks: ParquetChunks, listed: str, stored: str
) -> list[SkippedRecord]:
    """The chosen records of `listed` that cannot be rows, as skipped records; the others
    become temp table `stored` (same columns), the records the merge stores."""
    rejected = []
    if chunks.files(TESTS.name):
        problems = rejected_tests_sql(chunks.files(TESTS.name), listed)
        rejected = con.execute(
            f"SELECT product_id, listing_position, id, field, value FROM ({problems})"
        ).fetchall()
    rejected_ids = bigint_list([row[2] for row in rejected])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {stored} AS SELECT * FROM {listed} "
        f"WHERE NOT list_contains({rejected_ids}, id)"
    )
    endpoint = f"GET {PRODUCT_TESTS_PATH}"
    return [
        SkippedRecord(
            endpoint, product_id, position, None, None, f"the test's {field} cannot be stored",
            record_id=test_id, field=field, value=value, test_id=test_id,
        )
        for product_id, position, test_id, field, value in rejected
    ]


def _set_aside_unchanged(
    con: duckdb.DuckDBPyConnection,
    chunks: ParquetChunks,
    customer_id: int,
    stored: str,
    parsed: str,
) -> MergeCounts:
    """Split temp table `stored` (the records to store) into temp table `parsed`, the ones
    the chunks parsed, and the ones stored already exactly as listed, whose rows (and test
    features and stories) stay as they are: only the product they are listed under can
    differ from the stored row, and is updated. Returns what that did to `tests`."""
    files = chunks.files(UNCHANGED_TESTS)
    if not files:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {parsed} AS SELECT * FROM {stored}")
        return MergeCounts()
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE as_stored AS SELECT s.* FROM {stored} AS s "
        f"SEMI JOIN {parquet_relation(files)} AS u "
        "ON u.page_file = s.filename AND u.position = s.position"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {parsed} AS SELECT * FROM {stored} "
        "ANTI JOIN as_stored USING (filename, position)"
    )
    moved = con.execute(
        f"UPDATE {TESTS.name} SET product_id = a.product_id FROM as_stored AS a "
        f"WHERE {TESTS.name}.customer_id = {sql_literal(customer_id)} "
        f"AND {TESTS.name}.id = a.id AND {TESTS.name}.product_id IS DISTINCT FROM a.product_id"
    ).fetchone()[0]
    total = con.execute("SELECT count(*) FROM as_stored").fetchone()[0]
    con.execute("DROP TABLE as_stored")
    return MergeCounts(updated=moved, unchanged=total - moved)


def _merge_listed(
    con: duckdb.DuckDBPyConnection,
    chunks: ParquetChunks,
    customer_id: int,
    report: SyncReport,
    parsed: str,
) -> None:
    """Merge the tests in temp table `parsed`, their test features and their stories from
    the chunks; each of those tests' features and stories replace its previous ones."""
    if chunks.files(TESTS.name):
        tests = ViewSource(
            chosen_tests_sql(chunks.files(TESTS.name), parsed, TESTS.column_names)
        )
        # SQL, not a view: the merge copies it into a temp table (which can spill) once,
        # instead of running its deduplicating window wherever the merge reads the source
        # (twice `large` then ran out of memory at the write limit)
        features = chosen_test_features_sql(
            chunks.files(TEST_FEATURES.name), parsed, TEST_FEATURES.column_names
        )
        stories = chosen_test_feature_stories_sql(
            chunks.files(TEST_FEATURE_STORIES.name),
            parsed,
            TEST_FEATURE_STORIES.column_names,
        )
    else:
        tests = f"SELECT * FROM {TESTS.name} WHERE false"
        features = f"SELECT * FROM {TEST_FEATURES.name} WHERE false"
        stories = f"SELECT * FROM {TEST_FEATURE_STORIES.name} WHERE false"
    report.merges[TESTS.name] = merge(con, TESTS, tests, update_columns=TEST_UPDATE_COLUMNS)
    of_stored_tests = (
        f"customer_id = {sql_literal(customer_id)} AND test_id IN (SELECT id FROM {parsed})"
    )
    report.merges[TEST_FEATURES.name] = merge(
        con, TEST_FEATURES, features, delete_where=of_stored_tests
    )
    report.merges[TEST_FEATURE_STORIES.name] = merge(
        con, TEST_FEATURE_STORIES, stories, delete_where=of_stored_tests
    )


def _delete_vanished_tests(con, customer_id: int, product_ids: list[int]) -> int:
    """Delete tests of completely listed products that the listing no longer returned."""
    customer = sql_literal(customer_id)
    vanished = f"""
        customer_id = {customer} AND list_contains({bigint_list(product_ids)}, product_id)
        AND id NOT IN (SELECT id FROM listed_tests)
    """
    for table in (TEST_FEATURES, TEST_FEATURE_STORIES):
        con.execute(
            f"DELETE FROM {table.name} WHERE customer_id = {customer} AND test_id IN "
            f"(SELECT id FROM {TESTS.name} WHERE {vanished})"
        )
    return con.execute(f"DELETE FROM {TESTS.name} WHERE {vanished}").fetchone()[0]
