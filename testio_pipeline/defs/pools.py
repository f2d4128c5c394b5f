"""Dagster pools of the project (limits in `.dagster/dagster.yaml`) and the DuckDB turn of
an ingest step.

Analytics and check steps only work in DuckDB, so the whole step runs in the `duckdb_writer`
pool (`pool=` on the asset). An ingest step spends most of its time fetching from the API and
only its end writing, so it is not in the pool as a step: it claims the pool's slot around each
DuckDB connection it opens (`PooledWarehouse`). Runs of different accounts then fetch at the
same time while their writes still take turns. The claim is Dagster's own: the same
`InstanceConcurrencyContext` the executor uses for `pool=` steps, stored in the instance
(SQLite or Postgres), shown on the pool's page in the UI and freed by run monitoring when a
run dies holding it. Each claim and release is logged to the run's event log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import dagster as dg
import duckdb
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

# every step that opens the DuckDB file, assets and checks alike: DuckDB allows one writing
# process per file, so the pool has one slot and those steps never overlap across runs
DUCKDB_WRITER_POOL = "duckdb_writer"
# how often a step waiting for the slot asks again (the executor polls pools the same way)
SLOT_POLL_SECONDS = 0.5
# event log messages that mark an ingest step's DuckDB turn (tests read them back)
SLOT_CLAIMED = f"{DUCKDB_WRITER_POOL} slot claimed"
SLOT_RELEASED = f"{DUCKDB_WRITER_POOL} slot released"


@contextmanager
def writer_slot(context: dg.AssetExecutionContext, purpose: str) -> Iterator[None]:
    """Hold the `duckdb_writer` slot of the instance for the duration of the block."""
    claim_key = f"{context.op_execution_context.op.name}:{purpose}"
    with InstanceConcurrencyContext(context.instance, context.run) as slots:
        waited = time.monotonic()
        while not slots.claim(DUCKDB_WRITER_POOL, claim_key):
            # with `dagster_fixes` applied, a blocked claim frees dead holders and notes who
            # holds the pool (at once, then every 30 s): the run's log says why it waits
            for _, note in slots.__dict__.pop("_testio_notes", []):
                context.log.info(note)
            time.sleep(SLOT_POLL_SECONDS)
        context.log.info(
            f"{SLOT_CLAIMED} for {purpose} after {time.monotonic() - waited:.1f} s"
        )
        try:
            yield
        finally:
            # logged before the slot is freed, so the logged span lies inside the held one
            context.log.info(f"{SLOT_RELEASED} after {purpose}")
            slots.free_step(claim_key)


class PooledWarehouse:
    """A warehouse whose every connection waits for and holds the `duckdb_writer` slot."""

    def __init__(self, warehouse: Any, context: dg.AssetExecutionContext) -> None:
        self._warehouse = warehouse
        self._context = context

    def __getattr__(self, name: str) -> Any:
        # everything but opening a connection (settings such as the memory budget) is the
        # wrapped warehouse's own
        return getattr(self._warehouse, name)

    @contextmanager
    def read(self, log: Optional[Any] = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with writer_slot(self._context, "read"), self._warehouse.read(log) as con:
            yield con

    @contextmanager
    def write(self, log: Optional[Any] = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with writer_slot(self._context, "write"), self._warehouse.write(log) as con:
            yield con
