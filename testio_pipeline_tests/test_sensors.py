"""The sensors: stale data is refreshed once when the daemon runs again; a dead run's slot is
freed while the daemon runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from testio_pipeline.definitions import build_definitions
from testio_pipeline.defs import sensors
from testio_pipeline.defs.run_recovery import WORKER_TAG, this_worker
from testio_pipeline.defs.sensors import catch_up_sensor, dead_run_sensor


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def evaluate(instance: dg.DagsterInstance):
    return catch_up_sensor(dg.build_sensor_context(instance=instance))


def test_a_warehouse_never_synced_is_left_alone(instance) -> None:
    assert isinstance(evaluate(instance), dg.SkipReason)


def test_a_fresh_sync_launches_nothing_and_a_stale_one_launches_one_run(instance, monkeypatch) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization("tests"))
    assert "fresh" in evaluate(instance).skip_message
    later = time.time() + 2 * 3600
    monkeypatch.setattr(sensors.time, "time", lambda: later)
    request = evaluate(instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags["testio/sync"] == "incremental"
    # the same stale state gives the same key: the daemon launches it once
    assert evaluate(instance).run_key == request.run_key


def test_with_accounts_each_stale_account_gets_a_run_of_its_own(instance, monkeypatch) -> None:
    incremental_job = next(
        job for job in build_definitions(ROOT / "accounts.example.yaml").jobs
        if job.name == "incremental_sync_job"
    )
    sensor = sensors.build_catch_up_sensor(incremental_job, ["brand-a", "brand-b"])
    instance.report_runless_asset_event(dg.AssetMaterialization("tests", partition="brand-a"))
    result = sensor(dg.build_sensor_context(instance=instance))
    # brand-b was never synced: left to a user or the schedule
    assert "brand-a: last sync 0 min ago: fresh" in result.skip_message
    assert "brand-b: never synced" in result.skip_message
    later = time.time() + 2 * 3600
    monkeypatch.setattr(sensors.time, "time", lambda: later)
    [request] = sensor(dg.build_sensor_context(instance=instance))
    assert request.partition_key == "brand-a"
    assert request.tags["testio/account_sync"] == "incremental"


def test_the_dead_run_sensor_fails_a_dead_daemon_run_and_frees_its_slot(instance) -> None:
    # a run worker that existed and is gone, as after a kill -9 of a daemon-launched run
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = this_worker().split(":")[0]
    worker = f"{host}:{dead.pid}:0"
    run = create_run_for_test(
        instance, job_name="incremental_sync_job", status=dg.DagsterRunStatus.STARTED,
        tags={WORKER_TAG: worker},
    )
    storage = instance.event_log_storage
    storage.set_concurrency_slots("duckdb_writer", 1)
    assert storage.claim_concurrency_slot("duckdb_writer", run.run_id, "bugs").is_claimed
    alive = create_run_for_test(
        instance, job_name="incremental_sync_job", status=dg.DagsterRunStatus.STARTED,
        tags={WORKER_TAG: this_worker()},
    )

    result = dead_run_sensor(dg.build_sensor_context(instance=instance))

    assert run.run_id in result.skip_message
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert storage.get_concurrency_info("duckdb_writer").claimed_slots == []
