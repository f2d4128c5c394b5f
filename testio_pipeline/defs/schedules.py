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

With an accounts file (`defs/accounts.py`) every tick requests one run per account (partition)
instead; runs of one account never overlap (the queue allows one run per `dagster/partition`
value), runs of different accounts do, and a busy account skips the tick alone.

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
# the kind of a run of one account (partitioned); the queue limits those to one run per value
# of Dagster's own `dagster/partition` tag, i.e. per account, so accounts sync side by side
ACCOUNT_SYNC_TAG_KEY = "testio/account_sync"
PARTITION_TAG_KEY = "dagster/partition"
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


def _tags(kind: str, sync_tag_key: str) -> dict[str, str]:
    return {sync_tag_key: kind, MAX_RUNTIME_TAG: str(MAX_RUNTIME_SECONDS[kind])}


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

def job_busy(
    instance: dg.DagsterInstance | None, job_name: str, account: str | None = None
) -> dg.RunRecord | None:
    """The newest run of `job_name` (for `account`, if given) that is queued or in progress."""
    if instance is None:
        return None
    tags = {PARTITION_TAG_KEY: account} if account is not None else {}
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=list(_BUSY_STATUSES), tags=tags),
        limit=1,
    )
    return records[0] if records else None


def _build_jobs(sync_tag_key: str) -> list[UnresolvedAssetJobDefinition]:
    incremental = dg.define_asset_job(
        name="incremental_sync_job",
        selection=INCREMENTAL_SELECTION,
        description=(
            "Sync new and changed tests, their features, bugs and users, then recompute every "
            "analytics table. Runs every 15 minutes."
        ),
        tags=_tags("incremental", sync_tag_key),
        op_retry_policy=STEP_RETRY_POLICY,
    )
    catalog = dg.define_asset_job(
        name="catalog_sync_job",
        selection=CATALOG_SELECTION,
        description=(
            "Sync products and their feature catalogs, then recompute the analytics that read "
            "them. Runs hourly."
        ),
        tags=_tags("catalog", sync_tag_key),
        op_retry_policy=STEP_RETRY_POLICY,
    )
    full = dg.define_asset_job(
        name="full_reconciliation_job",
        selection=FULL_SELECTION,
        description=(
            "Re-fetch everything (full_refresh: every test's bugs, every product's catalog) and "
            "reconcile deletions, then recompute all analytics. Runs nightly; launching it by "
            "hand also defaults to full_refresh."
        ),
        config=FULL_REFRESH_RUN_CONFIG,
        tags=_tags("full", sync_tag_key),
        op_retry_policy=STEP_RETRY_POLICY,
    )
    return [incremental, catalog, full]


def _build_sync_schedule(
    *,
    name: str,
    job: UnresolvedAssetJobDefinition,
    cron_schedule: str,
    description: str,
    accounts: Sequence[str] | None,
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
    def _schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | list[dg.RunRequest] | dg.SkipReason:
        # an evaluation built without an instance (unit tests) sees no runs in flight
        instance = context.instance if context.instance_ref is not None else None
        scheduled: datetime | None = context.scheduled_execution_time
        run_key = scheduled.isoformat() if scheduled else None
        requests: list[dg.RunRequest] = []
        skipped: list[str] = []
        # one run per account; an account whose run is still in flight skips this tick alone
        for account in accounts if accounts is not None else [None]:
            busy = job_busy(instance, job.name, account)
            if busy is not None:
                skipped.append(
                    f"{job.name} run {busy.dagster_run.run_id}"
                    f"{f' of account {account}' if account else ''} is still "
                    f"{busy.dagster_run.status.value.lower()}; this tick is skipped"
                )
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{run_key}:{account}" if run_key and account else run_key,
                    run_config=dict(run_config or {}),
                    partition_key=account,
                )
            )
        if not requests:
            return dg.SkipReason("; ".join(skipped))
        for reason in skipped:
            context.log.info(reason)
        return requests if accounts is not None else requests[0]

    return _schedule


def build_jobs_and_schedules(
    accounts: Sequence[str] | None = None,
) -> tuple[list[UnresolvedAssetJobDefinition], list[dg.ScheduleDefinition]]:
    """The sync jobs and their schedules: for one account, or one run per listed account."""
    jobs = _build_jobs(SYNC_TAG_KEY if accounts is None else ACCOUNT_SYNC_TAG_KEY)
    incremental, catalog, full = jobs
    schedules = [
        _build_sync_schedule(
            name="incremental_sync_schedule",
            job=incremental,
            cron_schedule=INCREMENTAL_SYNC_CRON,
            description="Every 15 minutes (UTC): incremental_sync_job.",
            accounts=accounts,
        ),
        _build_sync_schedule(
            name="catalog_sync_schedule",
            job=catalog,
            cron_schedule=CATALOG_SYNC_CRON,
            description="Hourly at :07 (UTC): catalog_sync_job.",
            accounts=accounts,
        ),
        _build_sync_schedule(
            name="full_reconciliation_schedule",
            job=full,
            cron_schedule=FULL_RECONCILIATION_CRON,
            description="Nightly at 02:37 UTC: full_reconciliation_job with full_refresh.",
            accounts=accounts,
            run_config=FULL_REFRESH_RUN_CONFIG,
        ),
    ]
    return jobs, schedules


JOBS, SCHEDULES = build_jobs_and_schedules()
incremental_sync_job, catalog_sync_job, full_reconciliation_job = JOBS
