"""Jobs and schedules that keep every asset within its freshness policy (see `freshness.py`).

- `incremental_sync_job`, every 15 minutes: tests, test_features, test_feature_stories, bugs,
  users, then every analytics asset (analytics follow the bugs, so they are recomputed in the
  same run, after the ingest steps they depend on).
- `catalog_sync_job`, hourly: products and features, then the analytics that read them
  (directly, or through another analytics table).
- `full_reconciliation_job`, nightly: everything, with `sync_options.full_refresh = true`
  (re-fetch all bugs and catalogs, reconcile deletions).

Analytics run inside the sync runs rather than through automation conditions: one run shows
the whole refresh, needs no extra daemon, and the analytics never read a half-synced warehouse
because the pool `duckdb_writer` already serialises the steps that touch DuckDB.

Runs never overlap: every run of these jobs carries the tag `testio/sync`, which
`.dagster/dagster.yaml` limits to one run at a time, so a second sync run waits in the queue.
A tick whose job already has a run queued or in progress is skipped, so a slow run never
piles up a backlog of identical runs behind it.

Selections name ingest assets by key and analytics by group, so a new analytics asset is
scheduled without touching this module; an ingest key that disappears fails loudly at load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

ANALYTICS_GROUP = "analytics"
PUBLISH_GROUP = "publish"  # `defs/assets/publish.py`

# assets whose source changes all day: new tests, new bugs, status changes
INCREMENTAL_INGEST_KEYS: tuple[str, ...] = (
    "tests", "test_features", "test_feature_stories", "bugs", "users",
)
# the product catalog changes rarely and its features are costly to page through sections
CATALOG_INGEST_KEYS: tuple[str, ...] = ("products", "features")

# crons are evaluated in UTC; catalog and nightly ticks sit between the quarter-hour
# incremental ticks so a short run usually finishes before the next one is due
INCREMENTAL_SYNC_CRON = "*/15 * * * *"
CATALOG_SYNC_CRON = "7 * * * *"
FULL_RECONCILIATION_CRON = "37 2 * * *"
SCHEDULE_TIMEZONE = "UTC"

# one run at a time across all values of this tag (run queue, .dagster/dagster.yaml)
SYNC_TAG_KEY = "testio/sync"
# how long a run of each kind may take in normal operation: a run waits in the queue for at
# most one other sync run, so an asset is refreshed within tick gap + that run + its own
# run; the tests check this stays inside every freshness window. Measured runs are far below
# (see the README); a run slower than this is what the freshness policies exist to flag.
RUN_BUDGET_MINUTES: Mapping[str, int] = {"incremental": 5, "catalog": 5, "full": 15}
# run monitoring cancels a run stuck past this (the run's `dagster/max_runtime` tag); well
# above the budget so a slow but healthy run finishes, low enough that a hung run does not
# hold the sync queue for hours
MAX_RUNTIME_SECONDS: Mapping[str, int] = {
    "incremental": 30 * 60,
    "catalog": 45 * 60,
    "full": 90 * 60,
}
MAX_RUNTIME_TAG = "dagster/max_runtime"

# a step failing after the client's own HTTP retries is retried twice in the run (e.g. the
# DuckDB file held by an outside reader); a deterministic failure stops after three attempts
STEP_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

SYNC_OPTIONS_RESOURCE_KEY = "sync_options"
FULL_REFRESH_RUN_CONFIG: Mapping[str, Any] = {
    "resources": {SYNC_OPTIONS_RESOURCE_KEY: {"config": {"full_refresh": True}}}
}

# a tick is skipped while its job has a run in any of these states
_BUSY_STATUSES: Sequence[dg.DagsterRunStatus] = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


def _tags(kind: str) -> dict[str, str]:
    return {SYNC_TAG_KEY: kind, MAX_RUNTIME_TAG: str(MAX_RUNTIME_SECONDS[kind])}


# every sync job ends by publishing the warehouse readers open (`published_warehouse`)
_PUBLISH = dg.AssetSelection.groups(PUBLISH_GROUP)
INCREMENTAL_SELECTION: dg.AssetSelection = (
    dg.AssetSelection.assets(*INCREMENTAL_INGEST_KEYS)
    | dg.AssetSelection.groups(ANALYTICS_GROUP)
    | _PUBLISH
)

# analytics that read a catalog table directly, and analytics built on those; not the whole
# transitive downstream, which reaches every analytics asset through tests and bugs
_READS_CATALOG: dg.AssetSelection = dg.AssetSelection.assets(*CATALOG_INGEST_KEYS).downstream(
    depth=1, include_self=False
) & dg.AssetSelection.groups(ANALYTICS_GROUP)
CATALOG_SELECTION: dg.AssetSelection = (
    dg.AssetSelection.assets(*CATALOG_INGEST_KEYS)
    | (_READS_CATALOG.downstream() & dg.AssetSelection.groups(ANALYTICS_GROUP))
    | _PUBLISH
)

FULL_SELECTION: dg.AssetSelection = dg.AssetSelection.all()

incremental_sync_job = dg.define_asset_job(
    name="incremental_sync_job",
    selection=INCREMENTAL_SELECTION,
    description=(
        "Sync new and changed tests, their features, bugs and users, then recompute every "
        "analytics table. Runs every 15 minutes."
    ),
    tags=_tags("incremental"),
    op_retry_policy=STEP_RETRY_POLICY,
)

catalog_sync_job = dg.define_asset_job(
    name="catalog_sync_job",
    selection=CATALOG_SELECTION,
    description=(
        "Sync products and their feature catalogs, then recompute the analytics that read "
        "them. Runs hourly."
    ),
    tags=_tags("catalog"),
    op_retry_policy=STEP_RETRY_POLICY,
)

full_reconciliation_job = dg.define_asset_job(
    name="full_reconciliation_job",
    selection=FULL_SELECTION,
    description=(
        "Re-fetch everything (full_refresh: every test's bugs, every product's catalog) and "
        "reconcile deletions, then recompute all analytics. Runs nightly; launching it by hand "
        "also defaults to full_refresh."
    ),
    config=FULL_REFRESH_RUN_CONFIG,
    tags=_tags("full"),
    op_retry_policy=STEP_RETRY_POLICY,
)


def job_busy(instance: dg.DagsterInstance | None, job_name: str) -> dg.RunRecord | None:
    """The newest run of `job_name` that is queued or in progress, if any."""
    if instance is None:
        return None
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=list(_BUSY_STATUSES)), limit=1
    )
    return records[0] if records else None


def _build_sync_schedule(
    *,
    name: str,
    job: UnresolvedAssetJobDefinition,
    cron_schedule: str,
    description: str,
    run_config: Mapping[str, Any] | None = None,
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron_schedule,
        execution_timezone=SCHEDULE_TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        # an evaluation built without an instance (unit tests) sees no runs in flight
        instance = context.instance if context.instance_ref is not None else None
        busy = job_busy(instance, job.name)
        if busy is not None:
            return dg.SkipReason(
                f"{job.name} run {busy.dagster_run.run_id} is still "
                f"{busy.dagster_run.status.value.lower()}; this tick is skipped"
            )
        scheduled: datetime | None = context.scheduled_execution_time
        return dg.RunRequest(
            run_key=scheduled.isoformat() if scheduled else None,
            run_config=dict(run_config or {}),
        )

    return _schedule


incremental_sync_schedule = _build_sync_schedule(
    name="incremental_sync_schedule",
    job=incremental_sync_job,
    cron_schedule=INCREMENTAL_SYNC_CRON,
    description="Every 15 minutes (UTC): incremental_sync_job.",
)

catalog_sync_schedule = _build_sync_schedule(
    name="catalog_sync_schedule",
    job=catalog_sync_job,
    cron_schedule=CATALOG_SYNC_CRON,
    description="Hourly at :07 (UTC): catalog_sync_job.",
)

full_reconciliation_schedule = _build_sync_schedule(
    name="full_reconciliation_schedule",
    job=full_reconciliation_job,
    cron_schedule=FULL_RECONCILIATION_CRON,
    description="Nightly at 02:37 UTC: full_reconciliation_job with full_refresh.",
    run_config=FULL_REFRESH_RUN_CONFIG,
)

JOBS: list[UnresolvedAssetJobDefinition] = [
    incremental_sync_job,
    catalog_sync_job,
    full_reconciliation_job,
]
SCHEDULES: list[dg.ScheduleDefinition] = [
    incremental_sync_schedule,
    catalog_sync_schedule,
    full_reconciliation_schedule,
]
