"""The catch-up sensor: stale data is refreshed when the daemon runs again, once."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from testio_pipeline.defs import sensors
from testio_pipeline.defs.sensors import catch_up_sensor


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
