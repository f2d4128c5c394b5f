"""A run that died never blocks the next: its pool slots are freed and it is marked failed.

Dagster frees the slots of a run that *ended* (`run_monitoring.free_slots_after_run_end_seconds`)
and its run monitoring fails runs whose worker a run launcher reports unhealthy. Neither covers
a run whose process was killed (SIGKILL, OOM, reboot) when no launcher watches it, which is the
case for every CLI run (`dagster asset materialize`, `dg launch`) and, with the default run
launcher (no worker health checks), for runs the daemon launched: such a run stays STARTED
forever with its `duckdb_writer` slot claimed, and every later run waits for that slot (or, for
sync runs, in the queue: one `testio/sync` run at a time). So every run that uses the warehouse
records which process runs it (run tag `testio/worker` = host:pid:start time), and dead runs of
this host are failed and their slots freed at three moments: when a run starts, before its
steps claim a slot (covers CLI runs, no daemon needed); while a step waits for a pool, every 30 s
for that pool's holders (`dagster_fixes`: covers a holder killed while the next run already
waits, on the CLI route too); and every 30 s by `dead_run_sensor` while the daemon runs (covers
runs whose successor waits in the queue). Runs of other hosts are left to Dagster's run
monitoring: a pid means nothing there.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Collection

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

WORKER_TAG = "testio/worker"
# the statuses of a run that may still hold slots while its process is gone
UNFINISHED = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def this_worker() -> str:
    """host:pid:process start time of the current process (the start time tells a reused pid
    apart)."""
    started = int(psutil.Process(os.getpid()).create_time())
    return f"{socket.gethostname()}:{os.getpid()}:{started}"


def _alive(worker: str) -> bool | None:
    """Whether the recorded worker process still runs; None when it ran on another host."""
    host, _, rest = worker.partition(":")
    if host != socket.gethostname():
        return None
    pid_text, _, started_text = rest.partition(":")
    try:
        process = psutil.Process(int(pid_text))
        return int(process.create_time()) == int(started_text)
    except (psutil.NoSuchProcess, ValueError):
        return False


def claim_worker_and_recover(
    instance: dg.DagsterInstance, run_id: str, warn: Callable[[str], object]
) -> list[str]:
    """Tag `run_id` with this process, then fail the dead runs of this host and free their
    slots; returns their ids."""
    instance.add_run_tags(run_id, {WORKER_TAG: this_worker()})
    return recover_dead_runs(instance, warn, current_run_id=run_id)


def recover_dead_runs(
    instance: dg.DagsterInstance,
    warn: Callable[[str], object],
    current_run_id: str | None = None,
    run_ids: Collection[str] | None = None,
) -> list[str]:
    """Fail the runs of this host whose recorded process is gone and free their slots.

    Also frees at once the slots still held by an *ended* run whose process is gone (e.g. one
    the code server marked failed when its worker was killed), which Dagster's run monitoring
    would free only after `free_slots_after_run_end_seconds` plus its poll interval (up to
    two minutes). `run_ids` limits the sweep to those runs (a pool's holders).
    """
    holding = instance.event_log_storage.get_concurrency_run_ids()
    unfinished = {run.run_id for run in instance.get_runs(RunsFilter(statuses=UNFINISHED))}
    candidates = (unfinished | holding) - {current_run_id}
    if run_ids is not None:
        candidates &= set(run_ids)
    if not candidates:
        return []
    recovered = []
    for run in instance.get_runs(RunsFilter(run_ids=sorted(candidates))):
        worker = run.tags.get(WORKER_TAG)
        if worker is None or _alive(worker) is not False:
            continue
        if run.is_finished:
            message = (
                f"run {run.run_id} ended ({run.status.value}) but its process {worker} is gone "
                "and it still held pool slots; freed them so later runs can go on"
            )
        else:
            message = (
                f"run {run.run_id} died without ending (its process {worker} is gone: killed, "
                "out of memory or a reboot); marked failed and its pool slots freed so later "
                "runs can go on"
            )
            instance.report_run_failed(run, message=message)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        warn(message)
        recovered.append(run.run_id)
    return recovered
