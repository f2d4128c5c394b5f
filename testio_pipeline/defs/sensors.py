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

from testio_pipeline.defs.freshness import INCREMENTAL_WINDOW
from testio_pipeline.defs.run_recovery import recover_dead_runs
from testio_pipeline.defs.schedules import SYNC_TAG_KEY, _tags, incremental_sync_job, job_busy

# the asset whose last materialization dates the last sync
SYNCED_ASSET = dg.AssetKey("tests")
CHECK_INTERVAL_SECONDS = 60


@dg.sensor(
    job=incremental_sync_job,
    minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches incremental_sync_job at once when the last sync is older than its "
    "freshness warning window (e.g. the daemon was not running), instead of at the next tick.",
)
def catch_up_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    event = context.instance.get_latest_materialization_event(SYNCED_ASSET)
    if event is None:
        return dg.SkipReason("never synced: the first sync is started by a user or a schedule")
    age = time.time() - event.timestamp
    if age < INCREMENTAL_WINDOW.warn.total_seconds():
        return dg.SkipReason(f"last sync {age / 60:.0f} min ago: fresh")
    busy = context.instance.get_run_records(
        filters=dg.RunsFilter(
            tags={SYNC_TAG_KEY: ["incremental", "catalog", "full"]},
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    ) or job_busy(context.instance, incremental_sync_job.name)
    if busy:
        return dg.SkipReason("a sync run is already queued or running")
    # one catch-up per stale state: the key is the last sync's time
    return dg.RunRequest(run_key=f"catch-up-{int(event.timestamp)}", tags=_tags("incremental"))


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


SENSORS = [catch_up_sensor, dead_run_sensor]
