"""Sync of the `bugs` table, incremental by default.

Bugs are fetched only for tests that are new, not final, or were not yet final at their last
bug sync: bugs of an archived or cancelled test never change again. Each fetched test's bug set
replaces its previous one, so a bug the API no longer returns is deleted.
"""

from __future__ import annotations

import asyncio
import logging

import pyarrow as pa

from testio_pipeline.sync.report import (
    ClientFactory,
    SyncFailure,
    SyncReport,
    Warehouse,
    chunks,
    count_rows,
    utc_now,
)
from testio_pipeline.testio import models
from testio_pipeline.testio.errors import TestIOError
from testio_pipeline.warehouse.merge import MergeCounts, merge
from testio_pipeline.warehouse.schema import BUGS, TESTS
from testio_pipeline.warehouse.staging import StagedRows

PROGRESS_EVERY_BATCHES = 100
# batches scheduled at once: enough to keep every request slot of the client busy, few enough
# that memory stays flat however many tests there are
PENDING_BATCHES = 64


def tests_needing_bugs(
    warehouse: Warehouse,
    *,
    full_refresh: bool,
    product_ids: list[int] | None,
    log: logging.Logger | None,
) -> dict[int, bool]:
    """Test id -> is_final, for the tests whose bugs this run must fetch."""
    with warehouse.read(log) as con:
        rows = con.execute(
            f"""
            SELECT id, coalesce(is_final, false)
            FROM {TESTS.name}
            WHERE customer_id = ?
              AND (len(?) = 0 OR list_contains(?, product_id))
              AND (? OR NOT coalesce(bugs_synced_final, false))
            ORDER BY id
            """,
            [warehouse.customer_id, product_ids or [], product_ids or [], full_refresh],
        ).fetchall()
    return dict(rows)


async def _fetch_bugs(
    make_client: ClientFactory,
    test_ids: list[int],
    batch_size: int,
    stage: StagedRows,
    report: SyncReport,
    customer_id: int,
    log: logging.Logger | None,
) -> list[int]:
    """Stage the bugs of `test_ids`; returns the test ids whose bugs arrived completely."""
    synced_at = utc_now()
    synced: list[int] = []
    batches = list(chunks(test_ids, batch_size))

    async with make_client() as client:
        async def fetch(batch: list[int]):
            try:
                return batch, await client.fetch_bugs(batch), None
            except TestIOError as error:
                return batch, None, error

        pending: set[asyncio.Task] = set()
        done_batches = 0
        try:
            for batch in batches:
                pending.add(asyncio.create_task(fetch(batch)))
                if len(pending) >= PENDING_BATCHES:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    done_batches += _collect(finished, stage, synced, report, customer_id, synced_at, log)
                    if log and done_batches % PROGRESS_EVERY_BATCHES < len(finished):
                        log.info(
                            f"bugs: {done_batches}/{len(batches)} batches, "
                            f"{stage.row_count:,} bugs staged"
                        )
            if pending:
                finished, _ = await asyncio.wait(pending)
                done_batches += _collect(finished, stage, synced, report, customer_id, synced_at, log)
        finally:
            for task in pending:
                task.cancel()
            report.add_client_stats(client.stats)
    return synced


def _collect(finished, stage, synced, report, customer_id, synced_at, log) -> int:
    for task in finished:
        batch, bugs, error = task.result()
        if error is not None:
            scope = f"tests {', '.join(map(str, batch))}"
            report.failures.append(SyncFailure(scope, getattr(error, "endpoint", ""), str(error)))
            if log:
                log.warning(f"bugs of {scope} not synced this run: {error}")
            continue
        stage.extend(models.bug_row(raw, customer_id, synced_at) for raw in bugs)
        synced.extend(batch)
    return len(finished)


def sync_bugs(
    make_client: ClientFactory,
    warehouse: Warehouse,
    *,
    batch_size: int,
    full_refresh: bool = False,
    product_ids: list[int] | None = None,
    log: logging.Logger | None = None,
) -> SyncReport:
    """Fetch the bugs of the tests that need it and merge them into `bugs`.

    Tests whose bugs arrived are stamped `bugs_synced_at` / `bugs_synced_final`; a batch that
    failed after retries leaves its tests unstamped, so the next run fetches them again.
    A full refresh over all products also deletes bugs of tests that no longer exist.
    """
    report = SyncReport()
    customer_id = warehouse.customer_id
    needing = tests_needing_bugs(
        warehouse, full_refresh=full_refresh, product_ids=product_ids, log=log
    )
    report.notes["tests_needing_bugs"] = len(needing)
    if log:
        log.info(f"bugs: fetching bugs of {len(needing):,} tests")
    with StagedRows(BUGS) as stage:
        synced = (
            asyncio.run(
                _fetch_bugs(make_client, list(needing), batch_size, stage, report, customer_id, log)
            )
            if needing
            else []
        )
        now = utc_now()
        with warehouse.write(log) as con:
            synced_tests = pa.table(
                {
                    "id": pa.array(synced, pa.int64()),
                    "is_final": pa.array([needing[t] for t in synced], pa.bool_()),
                }
            )
            con.register("synced_tests_arrow", synced_tests)
            con.execute("CREATE OR REPLACE TEMP TABLE synced_tests AS SELECT * FROM synced_tests_arrow")
            con.unregister("synced_tests_arrow")
            counts = merge(
                con,
                BUGS,
                stage,
                delete_where="customer_id = ? AND test_id IN (SELECT id FROM synced_tests)",
                delete_params=[customer_id],
            )
            con.execute(
                f"""
                UPDATE {TESTS.name} AS t
                SET bugs_synced_at = ?, bugs_synced_final = s.is_final
                FROM synced_tests s
                WHERE t.customer_id = ? AND t.id = s.id
                """,
                [now, customer_id],
            )
            if full_refresh and not product_ids:
                orphans = con.execute(
                    f"""
                    DELETE FROM {BUGS.name} WHERE customer_id = ?
                      AND test_id NOT IN (SELECT id FROM {TESTS.name} WHERE customer_id = ?)
                    """,
                    [customer_id, customer_id],
                ).fetchone()[0]
                counts += MergeCounts(deleted=orphans)
            report.merges[BUGS.name] = counts
            report.row_counts[BUGS.name] = count_rows(con, BUGS.name, customer_id)
    report.notes["tests_bugs_synced"] = len(synced)
    return report.finish()
