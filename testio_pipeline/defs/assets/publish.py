"""`published_warehouse`: the copy of the warehouse SQL readers open, put in place after a run's
last write (see `warehouse/publish.py` for why readers never share the writer's file).

An asset downstream of every ingest and analytics asset, so it runs last in every sync job
and not at all when an asset it follows failed: a run that fails part way publishes nothing,
and readers keep the last consistent state. Before copying it records the run in the
`sync_runs` table (status, source, what changed), which readers find in the published file.
"""
# no `from __future__ import annotations`: Dagster inspects the `context` annotation

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.metadata import OWNERS
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import (
    SyncOptionsResource,
    TestIOResource,
    WarehouseResource,
)
from testio_pipeline.warehouse import problems, publish
from testio_pipeline.warehouse.memory import MemoryBudget

PUBLISH_GROUP = "publish"
# what a run's materializations say it changed, per asset
CHANGE_KEYS = ("inserted", "updated", "unchanged", "deleted", "dagster/row_count")


def _changes_of_run(context: AssetExecutionContext) -> dict[str, dict[str, object]]:
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    changes: dict[str, dict[str, object]] = {}
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is None:
            continue
        metadata = materialization.metadata
        changes[materialization.asset_key.to_user_string()] = {
            key.replace("dagster/", ""): metadata[key].value
            for key in CHANGE_KEYS
            if key in metadata
        }
    return changes


def _status(warehouse: WarehouseResource) -> str:
    with warehouse.read() as con:
        open_assets = [
            asset
            for asset in ("products", "features", "tests", "bugs")
            if not problems.open_problems(con, warehouse.customer_id, asset).clean
        ]
    return "incomplete" if open_assets else "complete"


@dg.asset(
    group_name=PUBLISH_GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    pool=DUCKDB_WRITER_POOL,
    deps=[key for asset in [*INGEST_ASSETS, *ANALYTICS_ASSETS] for key in asset.keys],
)
def published_warehouse(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    testio: TestIOResource,
    sync_options: SyncOptionsResource,
) -> dg.MaterializeResult:
    """The warehouse file SQL users open (TESTIO_DUCKDB_PATH, `data/testio.duckdb` by default)
    in the DuckDB CLI, notebooks and BI tools: a consistent copy of the pipeline's working
    file, replaced atomically after each sync's last write, so a reader is never refused and
    never blocks a sync. Its `sync_runs` table says which run it holds and how complete it is.
    A full refresh (the nightly reconciliation) first compacts a working file whose blocks
    are mostly free (`warehouse/publish.py`).
    With accounts, a run publishes the file its account writes (shared or its own)."""
    bound = bind_account(context, warehouse, testio)
    warehouse, testio = bound.warehouse, bound.testio or testio
    if not warehouse.published_path:
        context.log.info("no published_path configured: nothing to publish")
        return dg.MaterializeResult(metadata={"published": False})
    run = context.instance.get_run_record_by_id(context.run.run_id)
    started = (
        datetime.fromtimestamp(run.start_time, timezone.utc)
        if run is not None and run.start_time
        else datetime.now(timezone.utc)
    )
    status = _status(warehouse)
    publish.record_sync_run(
        Path(warehouse.path),
        customer_id=warehouse.customer_id,
        run_id=context.run.run_id,
        started_at=started,
        published_at=datetime.now(timezone.utc),
        status=status,
        source=testio.describe_source(),
        changes=_changes_of_run(context),
        lock_wait_seconds=warehouse.lock_wait_seconds,
    )
    budget = MemoryBudget(warehouse.memory_budget_mb)
    done = publish.publish(
        Path(warehouse.path),
        Path(warehouse.published_path),
        lock_wait_seconds=warehouse.lock_wait_seconds,
        # the nightly full reconciliation also gives back the space of rewritten row groups
        compact_free_share=publish.COMPACT_FREE_SHARE if sync_options.full_refresh else None,
        # the merges' limit and threads (the limit already pays for the threads beyond the
        # first): compacting 4x `large` 10.0-10.2 -> 7.4-7.9 s, 10x 24.9 -> 21.8 s, DuckDB's
        # peak ~470 -> ~480-520 MB
        memory_limit_bytes=budget.write_limit_bytes,
        threads=budget.write_threads,
    )
    if done.compaction_error:
        context.log.warning(
            f"the working file was not compacted ({done.compaction_error}); published as it "
            "was. Raise TESTIO_MEMORY_BUDGET_MB or free disk space; the next nightly run "
            "tries again."
        )
    context.log.info(
        f"published {done.path} ({done.size_mb} MB, {done.method}) in {done.seconds:.2f} s"
    )
    return dg.MaterializeResult(
        metadata={
            "published": True,
            "path": dg.MetadataValue.path(str(done.path)),
            "size_mb": done.size_mb,
            "publish_seconds": done.seconds,
            "method": done.method,
            "status": status,
        }
    )


PUBLISH_ASSETS = [published_warehouse]
