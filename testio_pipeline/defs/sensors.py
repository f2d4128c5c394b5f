"""Sensors: `dead_run_sensor` frees what dead runs hold (see `run_recovery`), and
`catch_up_sensor`: data that went stale while nothing ran is refreshed as soon as the daemon
runs again, not at the next quarter hour.

The schedules keep the warehouse fresh while the daemon runs. When it did not (the quick start
syncs from the CLI and the UI is opened later, a laptop slept, a deployment was down), every
asset shows its freshness Warning until the next 15-minute tick. This sensor launches the
incremental sync once when the last sync is older than its freshness warning window and no
sync run is queued or running. A warehouse never synced is left to the user (or the schedule):
the first sync is a full one, not this sensor's call.
"""

from __future__ import annotations

import time

import dagster as dg

from collections.abc import Sequence

from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from testio_pipeline.defs.freshness import INCREMENTAL_WINDOW
from testio_pipeline.defs.run_recovery import recover_dead_runs
from testio_pipeline.defs.schedules import (
    ACCOUNT_SYNC_TAG_KEY,
    SYNC_TAG_KEY,
    _tags,
    incremental_sync_job,
    job_busy,
)

# the asset whose last materialization dates the last sync
SYNCED_ASSET = dg.AssetKey("tests")
CHECK_INTERVAL_SECONDS = 60
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _last_sync(instance: dg.DagsterInstance, account: str | None) -> float | None:
    """When `tests` was last materialized (for `account`'s partition, if given)."""
    if account is None:
        event = instance.get_latest_materialization_event(SYNCED_ASSET)
        return event.timestamp if event is not None else None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SYNCED_ASSET, asset_partitions=[account]), limit=1
    ).records
    return records[0].timestamp if records else None


def _sync_in_flight(instance: dg.DagsterInstance, job_name: str, account: str | None) -> bool:
    if account is None:
        tags = {SYNC_TAG_KEY: ["incremental", "catalog", "full"]}
    else:
        tags = {ACCOUNT_SYNC_TAG_KEY: ["incremental", "catalog", "full"],
                "dagster/partition": account}
    running = instance.get_run_records(
        filters=dg.RunsFilter(tags=tags, statuses=_IN_FLIGHT), limit=1
    )
    return bool(running) or job_busy(instance, job_name, account) is not None


def build_catch_up_sensor(
    job: UnresolvedAssetJobDefinition, accounts: Sequence[str] | None = None
) -> dg.SensorDefinition:
    """The catch-up sensor of `job`: for the one account, or one run per stale account."""
    tag_key = SYNC_TAG_KEY if accounts is None else ACCOUNT_SYNC_TAG_KEY

    @dg.sensor(
        name="catch_up_sensor",
        job=job,
        minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches incremental_sync_job at once when the last sync is older than its "
        "freshness warning window (e.g. the daemon was not running), instead of at the next "
        "tick; with accounts, for each stale account.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext,
    ) -> dg.RunRequest | list[dg.RunRequest] | dg.SkipReason:
        requests: list[dg.RunRequest] = []
        reasons: list[str] = []
        for account in accounts if accounts is not None else [None]:
            label = f"account {account}: " if account else ""
            synced = _last_sync(context.instance, account)
            if synced is None:
                reasons.append(
                    f"{label}never synced: the first sync is started by a user or a schedule"
                )
                continue
            age = time.time() - synced
            if age < INCREMENTAL_WINDOW.warn.total_seconds():
                reasons.append(f"{label}last sync {age / 60:.0f} min ago: fresh")
                continue
            if _sync_in_flight(context.instance, job.name, account):
                reasons.append(f"{label}a sync run is already queued or running")
                continue
            # one catch-up per stale state: the key is the last sync's time
            requests.append(
                dg.RunRequest(
                    run_key=f"catch-up-{int(synced)}" + (f"-{account}" if account else ""),
                    tags=_tags("incremental", tag_key),
                    partition_key=account,
                )
            )
        if not requests:
            return dg.SkipReason("; ".join(reasons))
        return requests if accounts is not None else requests[0]

    return _sensor


catch_up_sensor = build_catch_up_sensor(incremental_sync_job)


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed, and frees the pool slots of, runs of this host whose process "
    "died (killed, out of memory, reboot): Dagster's default run launcher cannot tell.",
)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    recovered = recover_dead_runs(context.instance, context.log.warning)
    return dg.SkipReason(
        f"recovered {len(recovered)} dead run(s): {', '.join(recovered)}"
        if recovered
        else "no dead run"
    )


def build_sensors(
    incremental_job: UnresolvedAssetJobDefinition, accounts: Sequence[str] | None = None
) -> list[dg.SensorDefinition]:
    return [build_catch_up_sensor(incremental_job, accounts), dead_run_sensor]


SENSORS = [catch_up_sensor, dead_run_sensor]
