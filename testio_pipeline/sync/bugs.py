"""Sync of the `bugs` table, incremental by default.

Bugs are fetched only for tests that are new, not final, or were not yet final at their last
bug sync: bugs of an archived or cancelled test never change again. Each fetched test's bug set
replaces its previous one, so a bug the API no longer returns is deleted.

Bugs are the bulk of an account (~220,000 on a large one), so they never become Python objects:
the client checks each `/bugs` body and hands it over as bytes, the body is appended to a staged
file (`StagedBodies`), and while later batches are still in flight a worker thread has DuckDB
parse every ~8 MB of complete files into typed Parquet (`ParquetChunks` with `bug_rows_sql`).
The write then merges the Parquet chunks, under a memory limit (`configure_memory`): parsing,
~3.5 s of CPU on a large account, no longer follows the fetch, and DuckDB never holds the rows
in memory.

No statement here binds `?` parameters and no Arrow table is built: binding any Python value
makes duckdb import numpy and pandas, and `pyarrow` costs ~40 MB on import and pulls in pandas
when a table is built (together ~70-85 MB of RSS in a process that has neither yet). Values
are inlined instead, through `testio_pipeline.warehouse.sql_values`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from testio_pipeline.sync.parsed_bodies import finish_parsing
from testio_pipeline.sync.report import (
    ClientFactory,
    SyncFailure,
    SyncReport,
    Warehouse,
    count_rows,
    utc_now,
)
from testio_pipeline.sync.quarantine import replace_problems
from testio_pipeline.testio.bug_rows import bug_rows_sql
from testio_pipeline.testio.errors import token_refused
from testio_pipeline.testio.pagination import SkippedRecord
from testio_pipeline.warehouse.memory import (
    SPILL_DIRECTORY,
    MemoryBudget,
    configure_memory,
    within_budget,
)
from testio_pipeline.warehouse.merge import MergeCounts, ViewSource, merge
from testio_pipeline.warehouse.parquet_chunks import ChunkSql, ParquetChunks, chunk_rows_sql
from testio_pipeline.warehouse.schema import BUGS, TESTS
from testio_pipeline.warehouse.sql_values import (
    bigint_list,
    sql_literal,
    temp_table_from_columns,
)
from testio_pipeline.warehouse.staged_bodies import StagedBodies


def tests_needing_bugs(
    warehouse: Warehouse,
    *,
    full_refresh: bool,
    product_ids: list[int] | None,
    log: logging.Logger | None,
) -> dict[int, bool]:
    """Test id -> is_final, for the tests whose bugs this run must fetch."""
    products = bigint_list(product_ids)
    with warehouse.read(log) as con:
        rows = con.execute(
            f"""
            SELECT id, coalesce(is_final, false)
            FROM {TESTS.name}
            WHERE customer_id = {int(warehouse.customer_id)}
              AND (len({products}) = 0 OR list_contains({products}, product_id))
              AND ({bool(full_refresh)} OR NOT coalesce(bugs_synced_final, false))
            ORDER BY id
            """
        ).fetchall()
    return dict(rows)


@dataclass
class _Fetched:
    """What the fetch phase leaves for the write phase besides the staged files."""

    synced: list[int] = field(default_factory=list)
    # staged body id -> the test ids its request asked for (to quarantine a bad bug's tests)
    body_tests: dict[str, tuple[int, ...]] = field(default_factory=dict)
    bug_ids: set[int] = field(default_factory=set)
    duplicate_ids: set[int] = field(default_factory=set)
    bugs: int = 0


async def _fetch_bodies(
    make_client: ClientFactory,
    test_ids: list[int],
    batch_size: int,
    stage: StagedBodies,
    fetched: _Fetched,
    report: SyncReport,
    log: logging.Logger | None,
) -> None:
    """Stage the `/bugs` body of every batch (the stage feeds the Parquet chunks); fills
    `fetched` with the test ids whose bugs arrived and the bug ids that arrived more than once.

    A batch that failed after retries is recorded in `report.failures` and its tests are
    left out, so they stay unstamped and the next run fetches them again.
    """
    async with make_client() as client:
        try:
            async for batch in client.iter_bug_bodies(test_ids, batch_size=batch_size):
                if batch.error is not None and token_refused(batch.error):
                    raise batch.error  # refused for one batch, refused for all of them
                if batch.error is not None:
                    scope = f"tests {_ids(batch.test_ids)}"
                    report.failures.append(
                        SyncFailure(
                            scope, batch.error.endpoint or "", str(batch.error),
                            test_ids=batch.test_ids, status=batch.error.status,
                        )
                    )
                    if log:
                        log.warning(f"bugs of {scope} not synced this run: {batch.error}")
                    continue
                # the ids first: a chunk's SQL inlines the repeats seen so far, and the stage
                # hands each complete file to the Parquet conversion (`on_file`)
                for bug_id in batch.bug_ids:
                    if bug_id in fetched.bug_ids:
                        fetched.duplicate_ids.add(bug_id)
                    fetched.bug_ids.add(bug_id)
                body_id = stage.add(
                    batch.body, f"the /bugs response for tests {_ids(batch.test_ids)}"
                )
                fetched.body_tests[body_id] = batch.test_ids
                fetched.synced.extend(batch.test_ids)
                fetched.bugs += batch.bug_count
        finally:
            report.add_client_stats(client.stats)


def _ids(test_ids: tuple[int, ...]) -> str:
    return ", ".join(map(str, test_ids))


def _bug_chunks(
    stage: StagedBodies,
    fetched: _Fetched,
    customer_id: int,
    synced_at: datetime,
    budget: MemoryBudget,
    log: logging.Logger | None,
) -> ParquetChunks:
    """Parquet conversion of the staged bodies; a chunk deduplicates the bugs it repeats."""

    def chunk_sql(files: list[Path]) -> ChunkSql:
        rows = bug_rows_sql(
            files,
            customer_id,
            synced_at,
            max_body_bytes=stage.largest_body,
            duplicate_ids=fetched.duplicate_ids,
            with_problems=True,
        )
        return ChunkSql({BUGS.name: rows}, largest_document_bytes=stage.largest_body)

    return ParquetChunks(
        stage.directory, chunk_sql, memory_limit_bytes=budget.convert_limit_bytes, log=log
    )


def _merge_bugs(
    con: duckdb.DuckDBPyConnection,
    chunks: ParquetChunks,
    duplicate_ids: set[int],
    customer_id: int,
) -> MergeCounts:
    """Merge the Parquet chunks into `bugs`; the delete scope is the temp table `synced_tests`.

    A bug repeated across chunks keeps its row from the last chunk.
    """
    files = chunks.files(BUGS.name)
    # with nothing staged the source is an empty result of the table's own shape: the merge
    # still deletes the bugs of synced tests that no longer have any
    source = (
        ViewSource(
            chunk_rows_sql(
                files, BUGS.column_names, "id", duplicate_ids, where="problem_field IS NULL"
            )
        )
        if files
        else f"SELECT * FROM {BUGS.name} WHERE false"
    )
    return merge(
        con,
        BUGS,
        source,
        delete_where=(
            f"customer_id = {int(customer_id)} AND test_id IN (SELECT id FROM synced_tests)"
        ),
    )


def sync_bugs(
    make_client: ClientFactory,
    warehouse: Warehouse,
    *,
    batch_size: int,
    run_id: str = "",
    full_refresh: bool = False,
    product_ids: list[int] | None = None,
    log: logging.Logger | None = None,
) -> SyncReport:
    """Fetch the bugs of the tests that need it and merge them into `bugs`.

    Tests whose bugs arrived are stamped `bugs_synced_at` / `bugs_synced_final`; a batch that
    failed after retries leaves its tests unstamped, so the next run fetches them again.
    A full refresh over all products also deletes bugs of tests that no longer exist.
    A bug that cannot be a row (not an object, no valid id, a broken timestamp) is skipped
    and written to `skipped_records`; the other bugs of its batch are stored, but its
    batch's tests keep their earlier bugs and stay unstamped, so the next run tries again.
    A failed batch is written to `sync_failures` (`sync.quarantine`).
    """
    report = SyncReport()
    customer_id = warehouse.customer_id
    needing = tests_needing_bugs(
        warehouse, full_refresh=full_refresh, product_ids=product_ids, log=log
    )
    report.notes["tests_needing_bugs"] = len(needing)
    if log:
        log.info(f"bugs: fetching bugs of {len(needing):,} tests")
    fetched = _Fetched()
    budget = MemoryBudget(warehouse.memory_budget_mb)
    with StagedBodies("bugs") as stage:
        synced_at = utc_now()
        with _bug_chunks(stage, fetched, customer_id, synced_at, budget, log) as chunks:
            stage.on_file(chunks.add)
            if needing:
                fetch = _fetch_bodies(
                    make_client, list(needing), batch_size, stage, fetched, report, log
                )
                asyncio.run(fetch)
            finish_parsing(stage, chunks, report, "bugs_parse_wait_s")
            _write(
                warehouse, chunks, fetched, needing, full_refresh, product_ids, run_id, budget,
                report, log,
            )
    report.notes["tests_bugs_synced"] = len(fetched.synced)
    return report.finish()


def _write(
    warehouse: Warehouse,
    chunks: ParquetChunks,
    fetched: _Fetched,
    needing: dict[int, bool],
    full_refresh: bool,
    product_ids: list[int] | None,
    run_id: str,
    budget: MemoryBudget,
    report: SyncReport,
    log: logging.Logger | None,
) -> None:
    """Merge the fetched bugs and stamp their tests, in one transaction."""
    customer_id = warehouse.customer_id
    report.notes["bugs_fetched"] = fetched.bugs
    report.notes["bugs_fetched_twice"] = len(fetched.duplicate_ids)
    # the ids are only needed to find repeats; free them before DuckDB needs the memory
    fetched.bug_ids.clear()
    now = utc_now()
    with warehouse.write(log) as con:
        configure_memory(
            con,
            memory_limit_bytes=budget.write_limit_bytes,
            threads=budget.write_threads,
            temp_directory=chunks.directory / SPILL_DIRECTORY,
        )
        skipped = _rejected_bugs(con, chunks, fetched.body_tests, customer_id)
        report.skipped.extend(skipped)
        # a test with a skipped bug is not synced completely: not stamped, and its other
        # bugs are upserted without deleting any of its earlier ones
        incomplete = {s.test_id for s in skipped}
        synced = [t for t in fetched.synced if t not in incomplete]
        # the delete scope of the merge and the tests to stamp
        temp_table_from_columns(
            con,
            "synced_tests",
            {"id": ("BIGINT", synced), "is_final": ("BOOLEAN", [needing[t] for t in synced])},
        )
        with within_budget(budget, "the merge of the bugs"):
            counts = _merge_bugs(con, chunks, fetched.duplicate_ids, customer_id)
        con.execute(
            f"""
            UPDATE {TESTS.name} AS t
            SET bugs_synced_at = {sql_literal(now)}, bugs_synced_final = s.is_final
            FROM synced_tests s
            WHERE t.customer_id = {int(customer_id)} AND t.id = s.id
            """
        )
        if full_refresh and not product_ids:
            orphans = con.execute(
                f"""
                DELETE FROM {BUGS.name} WHERE customer_id = {int(customer_id)}
                  AND test_id NOT IN
                    (SELECT id FROM {TESTS.name} WHERE customer_id = {int(customer_id)})
                """
            ).fetchone()[0]
            counts += MergeCounts(deleted=orphans)
        report.merges[BUGS.name] = counts
        temp_table_from_columns(con, "attempted_tests", {"id": ("BIGINT", list(needing))})
        replace_problems(
            con,
            customer_id=customer_id,
            run_id=run_id,
            asset=BUGS.name,
            skipped=report.skipped,
            failures=report.failures,
            attempted_tests="attempted_tests",
        )
        report.row_counts[BUGS.name] = count_rows(con, BUGS.name, customer_id)


def _rejected_bugs(
    con: duckdb.DuckDBPyConnection,
    chunks: ParquetChunks,
    body_tests: dict[str, tuple[int, ...]],
    customer_id: int,
) -> list[SkippedRecord]:
    """The bugs the chunks marked as unusable, each placed in its request and test: the
    bug's own test when its request asked for it, else the request's first test (whose
    product is the record's product when the bug names none)."""
    files = chunks.files(BUGS.name)
    rows = []
    if files:
        listed = "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"
        rows = con.execute(
            f"SELECT body_file, body_position, id, test_id, product_id, problem_field, "
            f"problem_value FROM read_parquet({listed}) WHERE problem_field IS NOT NULL "
            f"ORDER BY body_file, body_position"
        ).fetchall()
    skipped = []
    for body, position, bug_id, test_id, product_id, field_name, value in rows:
        batch = body_tests.get(body, ())
        owner = test_id if test_id in batch or not batch else batch[0]
        if product_id is None and owner is not None:
            found = con.execute(
                f"SELECT product_id FROM {TESTS.name} "
                f"WHERE customer_id = {int(customer_id)} AND id = {int(owner)}"
            ).fetchone()
            product_id = found[0] if found else None
        skipped.append(
            SkippedRecord(
                f"GET /bugs?filter_test_cycle_ids={','.join(map(str, batch))}",
                # the key needs a product; 0 says "unknown" for a bug that names none
                product_id if product_id is not None else 0,
                position, None, None, f"the bug's {field_name} cannot be stored",
                record_id=bug_id, field=field_name, value=value, test_id=owner,
            )
        )
    return skipped
