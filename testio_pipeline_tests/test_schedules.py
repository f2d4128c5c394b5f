"""Jobs and schedules: which assets each job refreshes, at which ticks, with which run config,
and that the ticks keep every asset inside its freshness policy.

Most tests run against stand-in assets with the project's keys, groups and dependencies, so
they hold whatever the ingest and analytics bodies do; the last ones resolve the jobs against
the real `testio_pipeline.definitions`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.test_utils import create_run_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._utils.schedules import cron_string_iterator

from testio_pipeline.defs import schedules
from testio_pipeline.defs.freshness import apply_freshness_policies, window_for
from testio_pipeline.defs.resources import SyncOptionsResource
from testio_pipeline.defs.schedules import (
    FULL_REFRESH_RUN_CONFIG,
    JOBS,
    MAX_RUNTIME_SECONDS,
    RUN_BUDGET_MINUTES,
    SCHEDULES,
    SYNC_TAG_KEY,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)

INCREMENTAL_INGEST = {"tests", "test_features", "test_feature_stories", "bugs", "users"}
CATALOG_INGEST = {"products", "features"}
ANALYTICS = {
    "feature_bug_density", "product_quality", "feature_coverage_gaps", "tester_stats",
    "feature_execution_outcomes", "story_failures", "feature_fragility",
}


# the project's asset graph: key -> (group, deps); tests, test_features and
# test_feature_stories are one multi-asset
GRAPH: dict[str, tuple[str, list[str]]] = {
    "products": ("ingest", []),
    "features": ("ingest", ["products"]),
    "bugs": ("ingest", ["tests"]),
    "users": ("ingest", ["tests", "bugs"]),
    "feature_bug_density": ("analytics", ["features", "test_features", "bugs"]),
    "product_quality": ("analytics", ["products", "tests", "bugs"]),
    "feature_coverage_gaps": ("analytics", ["features", "test_features"]),
    # reads no catalog table, so the hourly catalog run has no reason to recompute it
    "tester_stats": ("analytics", ["bugs", "users"]),
    "feature_execution_outcomes": ("analytics", ["products", "features", "tests", "test_features"]),
    "story_failures": ("analytics", ["products", "features", "test_feature_stories"]),
    "feature_fragility": ("analytics", ["products", "features", "test_features", "bugs"]),
}


def _standin_assets(seen: list[tuple[str, bool, list[int]]]) -> list[dg.AssetsDefinition]:
    """The project's asset graph with bodies that only record (key, full_refresh, product_ids)."""

    def standin(key: str, group: str, deps: list[str]) -> dg.AssetsDefinition:
        @dg.asset(name=key, group_name=group, deps=deps, pool="duckdb_writer")
        def _standin(sync_options: SyncOptionsResource) -> None:
            seen.append((key, sync_options.full_refresh, list(sync_options.product_ids)))

        return _standin

    @dg.multi_asset(
        pool="duckdb_writer",
        specs=[
            dg.AssetSpec("tests", group_name="ingest", deps=["products"]),
            dg.AssetSpec("test_features", group_name="ingest", deps=["products"]),
            dg.AssetSpec("test_feature_stories", group_name="ingest", deps=["products"]),
        ],
    )
    def tests_and_test_features(
        sync_options: SyncOptionsResource,
    ) -> Iterator[dg.MaterializeResult]:
        seen.append(("tests", sync_options.full_refresh, list(sync_options.product_ids)))
        yield dg.MaterializeResult(asset_key="tests")
        yield dg.MaterializeResult(asset_key="test_features")
        yield dg.MaterializeResult(asset_key="test_feature_stories")

    return [
        tests_and_test_features,
        *(standin(key, group, deps) for key, (group, deps) in GRAPH.items()),
    ]


def _standin_defs(seen: list[tuple[str, bool, list[int]]] | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=apply_freshness_policies(_standin_assets([] if seen is None else seen), scale=1),
        jobs=JOBS,
        schedules=SCHEDULES,
        resources={"sync_options": SyncOptionsResource()},
    )


def _selected(defs: dg.Definitions, job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}


def _schedule(name: str) -> dg.ScheduleDefinition:
    (found,) = [s for s in SCHEDULES if s.name == name]
    return found


def _ticks(cron: str, start: datetime, end: datetime) -> list[datetime]:
    """Tick times in [start, end) as the scheduler daemon computes them (UTC)."""
    ticks = []
    for tick in cron_string_iterator(start.timestamp(), cron, "UTC"):
        if tick >= end:
            return ticks
        ticks.append(tick)
    raise AssertionError("unreachable")


def test_incremental_job_syncs_tests_bugs_users_and_every_analytics_table() -> None:
    assert _selected(_standin_defs(), "incremental_sync_job") == INCREMENTAL_INGEST | ANALYTICS


def test_catalog_job_syncs_products_features_and_the_analytics_that_read_them() -> None:
    assert _selected(_standin_defs(), "catalog_sync_job") == CATALOG_INGEST | (
        ANALYTICS - {"tester_stats"}
    )


def test_full_reconciliation_job_refreshes_everything() -> None:
    assert _selected(_standin_defs(), "full_reconciliation_job") == (
        CATALOG_INGEST | INCREMENTAL_INGEST | ANALYTICS
    )


def test_analytics_are_computed_after_the_ingest_steps_of_the_same_run() -> None:
    seen: list[tuple[str, bool, list[int]]] = []
    job = _standin_defs(seen).resolve_job_def("incremental_sync_job")

    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success

    order = [key for key, _, _ in seen]
    assert set(order) == {"tests", "bugs", "users"} | ANALYTICS
    for analytics_key in ANALYTICS:
        assert order.index(analytics_key) > order.index("bugs"), order


def test_schedules_start_running_and_tick_in_utc() -> None:
    assert {s.name: (s.job_name, s.default_status, s.execution_timezone) for s in SCHEDULES} == {
        "incremental_sync_schedule": (
            "incremental_sync_job",
            dg.DefaultScheduleStatus.RUNNING,
            "UTC",
        ),
        "catalog_sync_schedule": ("catalog_sync_job", dg.DefaultScheduleStatus.RUNNING, "UTC"),
        "full_reconciliation_schedule": (
            "full_reconciliation_job",
            dg.DefaultScheduleStatus.RUNNING,
            "UTC",
        ),
    }


def test_a_day_has_96_incremental_24_catalog_and_1_nightly_ticks() -> None:
    end = DAY + timedelta(days=1)
    incremental = _ticks(_schedule("incremental_sync_schedule").cron_schedule, DAY, end)
    catalog = _ticks(_schedule("catalog_sync_schedule").cron_schedule, DAY, end)
    nightly = _ticks(_schedule("full_reconciliation_schedule").cron_schedule, DAY, end)

    assert incremental == [DAY + timedelta(minutes=15 * i) for i in range(96)]
    assert catalog == [DAY + timedelta(hours=h, minutes=7) for h in range(24)]
    assert nightly == [DAY + timedelta(hours=2, minutes=37)]


@pytest.mark.parametrize(
    ("schedule_name", "run_config"),
    [
        ("incremental_sync_schedule", {}),
        ("catalog_sync_schedule", {}),
        ("full_reconciliation_schedule", dict(FULL_REFRESH_RUN_CONFIG)),
    ],
)
def test_every_tick_requests_one_run_keyed_by_its_time(
    schedule_name: str, run_config: dict[str, object]
) -> None:
    schedule = _schedule(schedule_name)
    for tick in _ticks(schedule.cron_schedule, DAY, DAY + timedelta(days=1)):
        with dg.build_schedule_context(scheduled_execution_time=tick) as context:
            request = schedule.evaluate_tick(context).run_requests
        assert request is not None and len(request) == 1, (schedule_name, tick)
        assert request[0].run_key == tick.isoformat()
        assert request[0].run_config == run_config


def test_nightly_run_config_reaches_the_assets_as_a_full_refresh() -> None:
    seen: list[tuple[str, bool, list[int]]] = []
    defs = _standin_defs(seen)
    tick = _ticks(_schedule("full_reconciliation_schedule").cron_schedule, DAY, DAY + timedelta(1))
    with dg.build_schedule_context(scheduled_execution_time=tick[0]) as context:
        (request,) = _schedule("full_reconciliation_schedule").evaluate_tick(context).run_requests

    result = defs.resolve_job_def("full_reconciliation_job").execute_in_process(
        run_config=request.run_config, instance=dg.DagsterInstance.ephemeral()
    )

    assert result.success
    assert {key for key, _, _ in seen} == {"products", "features", "tests", "bugs", "users"} | (
        ANALYTICS
    )
    assert all(full_refresh for _, full_refresh, _ in seen), seen


def test_full_reconciliation_by_hand_defaults_to_full_refresh() -> None:
    seen: list[tuple[str, bool, list[int]]] = []
    job = _standin_defs(seen).resolve_job_def("full_reconciliation_job")

    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral()).success
    assert {full_refresh for _, full_refresh, _ in seen} == {True}


def test_own_sync_options_replace_the_full_refresh_default_as_a_whole() -> None:
    """Dagster applies a job's default config per resource, not per field: whoever passes
    `sync_options` to the nightly job must pass `full_refresh: true` too (the README says so)."""
    seen: list[tuple[str, bool, list[int]]] = []
    job = _standin_defs(seen).resolve_job_def("full_reconciliation_job")
    only_products = {"resources": {"sync_options": {"config": {"product_ids": [54]}}}}

    assert job.execute_in_process(
        run_config=only_products, instance=dg.DagsterInstance.ephemeral()
    ).success
    assert {(full_refresh, tuple(ids)) for _, full_refresh, ids in seen} == {(False, (54,))}


def test_a_launchpad_run_config_forces_a_full_refresh_of_one_product() -> None:
    seen: list[tuple[str, bool, list[int]]] = []
    job = _standin_defs(seen).resolve_job_def("incremental_sync_job")
    forced = {
        "resources": {"sync_options": {"config": {"full_refresh": True, "product_ids": [7]}}}
    }

    assert job.execute_in_process(
        run_config=forced, instance=dg.DagsterInstance.ephemeral()
    ).success
    assert {(full_refresh, tuple(ids)) for _, full_refresh, ids in seen} == {(True, (7,))}


def _run_of(instance: dg.DagsterInstance, job_name: str, status: dg.DagsterRunStatus) -> str:
    """A run record of `job_name` in `status`, as the run queue and launcher would leave it."""
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=InProcessCodeLocationOrigin(
                LoadableTargetOrigin(module_name="testio_pipeline.definitions", attribute="defs")
            ),
            repository_name="__repository__",
        ),
        job_name=job_name,
    )
    return create_run_for_test(
        instance, job_name=job_name, status=status, remote_job_origin=origin
    ).run_id


@pytest.mark.parametrize(
    "busy_status",
    [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING],
)
def test_a_tick_is_skipped_while_its_job_still_has_a_run_in_flight(
    tmp_path: Path, busy_status: dg.DagsterRunStatus
) -> None:
    schedule = _schedule("incremental_sync_schedule")
    tick = DAY + timedelta(minutes=15)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # another job running, or this job finished: the tick goes ahead
        _run_of(instance, "catalog_sync_job", dg.DagsterRunStatus.STARTED)
        _run_of(instance, "incremental_sync_job", dg.DagsterRunStatus.SUCCESS)
        _run_of(instance, "incremental_sync_job", dg.DagsterRunStatus.FAILURE)
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as ctx:
            assert len(schedule.evaluate_tick(ctx).run_requests or []) == 1

        busy_run_id = _run_of(instance, "incremental_sync_job", busy_status)
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as ctx:
            data = schedule.evaluate_tick(ctx)

    assert not data.run_requests
    assert data.skip_message is not None and busy_run_id in data.skip_message


def test_every_sync_run_carries_the_tag_the_run_queue_limits_to_one() -> None:
    instance_settings = yaml.safe_load((REPO_ROOT / ".dagster" / "dagster.yaml").read_text())
    limits = instance_settings["concurrency"]["runs"]["tag_concurrency_limits"]
    defs = _standin_defs()

    assert {"key": SYNC_TAG_KEY, "limit": 1} in limits
    for job in JOBS:
        tags = defs.resolve_job_def(job.name).run_tags
        assert SYNC_TAG_KEY in tags, job.name


def test_ticks_keep_every_asset_inside_its_freshness_policy() -> None:
    """Two ticks that refresh an asset are less than its warn window apart, and the later
    refresh lands inside its fail window even after waiting for another sync run in the queue
    (each run taking its budget)."""
    defs = _standin_defs()
    graph = defs.resolve_asset_graph()
    start, end = DAY, DAY + timedelta(days=2)
    refresh_ticks: dict[str, list[tuple[datetime, str]]] = {}
    for schedule in SCHEDULES:
        kind = defs.resolve_job_def(schedule.job_name).run_tags[SYNC_TAG_KEY]
        for key in _selected(defs, schedule.job_name):
            for tick in _ticks(schedule.cron_schedule, start, end):
                refresh_ticks.setdefault(key, []).append((tick, kind))

    assert set(refresh_ticks) == CATALOG_INGEST | INCREMENTAL_INGEST | ANALYTICS
    for key, ticks in refresh_ticks.items():
        ticks.sort()
        window = window_for(dg.AssetKey(key), graph.get(dg.AssetKey(key)).group_name)
        assert window is not None, key
        for (before, _), (after, kind) in zip(ticks, ticks[1:]):
            gap = after - before
            queued_behind = max(m for k, m in RUN_BUDGET_MINUTES.items() if k != kind)
            worst = gap + timedelta(minutes=queued_behind + RUN_BUDGET_MINUTES[kind])
            assert gap <= window.warn, (key, before, after)
            assert worst <= window.fail, (key, before, after, worst)


def test_a_hung_run_is_cancelled_only_well_past_its_budget() -> None:
    defs = _standin_defs()
    for job in JOBS:
        kind = defs.resolve_job_def(job.name).run_tags[SYNC_TAG_KEY]
        max_runtime = int(defs.resolve_job_def(job.name).run_tags["dagster/max_runtime"])
        assert max_runtime == MAX_RUNTIME_SECONDS[kind]
        assert max_runtime >= 3 * 60 * RUN_BUDGET_MINUTES[kind], job.name


def _real_defs() -> dg.Definitions:
    from testio_pipeline.definitions import defs

    # the lead's definitions may or may not list the jobs already; resolve them either way
    names = {job.name for job in defs.jobs or []}
    extra = [job for job in JOBS if job.name not in names]
    return dg.Definitions.merge(defs, dg.Definitions(jobs=extra)) if extra else defs


def test_jobs_resolve_against_the_real_asset_graph() -> None:
    defs = _real_defs()
    graph = defs.resolve_asset_graph()
    analytics = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name == schedules.ANALYTICS_GROUP
    }
    everything = {key.to_user_string() for key in graph.get_all_asset_keys()}
    # every sync job ends by publishing the file readers open
    published = {"published_warehouse"}

    assert _selected(defs, "incremental_sync_job") == INCREMENTAL_INGEST | analytics | published
    assert (
        CATALOG_INGEST | published
        <= _selected(defs, "catalog_sync_job")
        <= CATALOG_INGEST | analytics | published
    )
    assert _selected(defs, "full_reconciliation_job") == everything
    # the nightly run config is valid for the real sync_options resource
    job = defs.resolve_job_def("full_reconciliation_job")
    assert job.run_config_schema.config_type.fields["resources"] is not None
    assert dg.validate_run_config(job, FULL_REFRESH_RUN_CONFIG)
