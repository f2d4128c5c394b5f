"""Freshness policies: the table in `defs/freshness.py`, and what Dagster's freshness daemon makes
of it as time passes without a refresh.

The daemon tests drive `dagster._daemon.freshness.FreshnessDaemon` (Dagster 1.13.27) for real:
an in-process code location, a temporary persistent instance, real materializations, and the
clock frozen with the helper Dagster uses in its own daemon tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, TimeWindowFreshnessPolicy
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.freshness import FreshnessDaemon

from testio_pipeline.defs.freshness import (
    CATALOG_WINDOW,
    FRESHNESS_SCALE_ENV_VAR,
    INCREMENTAL_WINDOW,
    FreshnessWindow,
    MissingFreshnessPolicyError,
    apply_freshness_policies,
    freshness_scale_from_env,
    window_for,
)

# the daemon tests reach into Dagster internals that move between releases
PINNED_DAGSTER = "1.13.27"

CATALOG_KEYS = ("products", "features")
INCREMENTAL_KEYS = ("tests", "test_features", "bugs", "users")
ANALYTICS_KEYS = ("feature_bug_density", "product_quality")
START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _standin_assets() -> list[dg.AssetsDefinition]:
    """Assets with the project's keys, groups and dependencies; they write nothing."""

    @dg.asset(group_name="ingest")
    def products() -> None: ...

    @dg.asset(group_name="ingest", deps=[products])
    def features() -> None: ...

    @dg.multi_asset(
        specs=[
            dg.AssetSpec("tests", group_name="ingest", deps=[products]),
            dg.AssetSpec("test_features", group_name="ingest", deps=[products]),
        ]
    )
    def tests_and_test_features() -> Iterator[dg.MaterializeResult]:
        yield dg.MaterializeResult(asset_key="tests")
        yield dg.MaterializeResult(asset_key="test_features")

    @dg.asset(group_name="ingest", deps=["tests"])
    def bugs() -> None: ...

    @dg.asset(group_name="ingest", deps=["tests", bugs])
    def users() -> None: ...

    @dg.asset(group_name="analytics", deps=[features, "test_features", bugs])
    def feature_bug_density() -> None: ...

    @dg.asset(group_name="analytics", deps=[products, bugs])
    def product_quality() -> None: ...

    return [
        products,
        features,
        tests_and_test_features,
        bugs,
        users,
        feature_bug_density,
        product_quality,
    ]


# the code location the daemon tests load in process (by module name and attribute)
STANDIN_DEFS = dg.Definitions(assets=apply_freshness_policies(_standin_assets(), scale=1.0))


def _policies(assets: Sequence[dg.AssetsDefinition]) -> dict[str, dg.FreshnessPolicy | None]:
    return {
        spec.key.to_user_string(): spec.freshness_policy for asset in assets for spec in asset.specs
    }


def _window_of(policy: dg.FreshnessPolicy | None) -> FreshnessWindow:
    assert isinstance(policy, TimeWindowFreshnessPolicy), policy
    assert policy.warn_window is not None
    return FreshnessWindow(
        warn=policy.warn_window.to_timedelta(), fail=policy.fail_window.to_timedelta()
    )


def test_each_asset_gets_the_window_of_its_sync_cadence() -> None:
    policies = _policies(apply_freshness_policies(_standin_assets(), scale=1.0))

    assert {key: _window_of(policy) for key, policy in policies.items()} == {
        "products": FreshnessWindow(warn=timedelta(hours=1), fail=timedelta(hours=2)),
        "features": FreshnessWindow(warn=timedelta(hours=1), fail=timedelta(hours=2)),
        "tests": FreshnessWindow(warn=timedelta(minutes=20), fail=timedelta(minutes=45)),
        "test_features": FreshnessWindow(warn=timedelta(minutes=20), fail=timedelta(minutes=45)),
        "bugs": FreshnessWindow(warn=timedelta(minutes=20), fail=timedelta(minutes=45)),
        "users": FreshnessWindow(warn=timedelta(minutes=20), fail=timedelta(minutes=45)),
        "feature_bug_density": INCREMENTAL_WINDOW,
        "product_quality": INCREMENTAL_WINDOW,
    }


def test_a_new_analytics_asset_follows_the_bugs_without_a_table_entry() -> None:
    assert window_for(dg.AssetKey("tester_stats"), "analytics") == window_for(
        dg.AssetKey("bugs"), "ingest"
    )


def test_the_table_overrides_a_policy_declared_on_the_asset() -> None:
    @dg.asset(
        group_name="ingest",
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=7)),
    )
    def bugs() -> None: ...

    (mapped,) = apply_freshness_policies([bugs], scale=1.0)

    assert _window_of(mapped.specs_by_key[dg.AssetKey("bugs")].freshness_policy) == (
        INCREMENTAL_WINDOW
    )


def test_an_asset_outside_the_table_keeps_its_own_policy() -> None:
    own = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=7))

    @dg.asset(group_name="exports", freshness_policy=own)
    def weekly_export() -> None: ...

    (mapped,) = apply_freshness_policies([weekly_export], scale=1.0)

    assert mapped.specs_by_key[dg.AssetKey("weekly_export")].freshness_policy == own


def test_an_asset_with_no_policy_anywhere_fails_loudly() -> None:
    @dg.asset(group_name="exports")
    def weekly_export() -> None: ...

    with pytest.raises(MissingFreshnessPolicyError, match="weekly_export"):
        apply_freshness_policies([weekly_export, *_standin_assets()], scale=1.0)


def test_plain_asset_specs_get_policies_too() -> None:
    (spec,) = apply_freshness_policies([dg.AssetSpec("products", group_name="ingest")], scale=1.0)

    assert _window_of(spec.freshness_policy) == CATALOG_WINDOW


def test_the_scale_env_var_stretches_every_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FRESHNESS_SCALE_ENV_VAR, "2")

    policies = _policies(apply_freshness_policies(_standin_assets()))

    assert _window_of(policies["bugs"]) == FreshnessWindow(
        warn=timedelta(minutes=40), fail=timedelta(minutes=90)
    )
    assert _window_of(policies["products"]) == FreshnessWindow(
        warn=timedelta(hours=2), fail=timedelta(hours=4)
    )


@pytest.mark.parametrize("raw", ["fast", "0", "-1"])
def test_a_scale_that_is_not_a_positive_number_is_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match=FRESHNESS_SCALE_ENV_VAR):
        freshness_scale_from_env({FRESHNESS_SCALE_ENV_VAR: raw})


def test_an_unset_or_empty_scale_means_one() -> None:
    assert freshness_scale_from_env({}) == 1.0
    assert freshness_scale_from_env({FRESHNESS_SCALE_ENV_VAR: " "}) == 1.0


def test_a_window_must_warn_before_it_fails() -> None:
    with pytest.raises(ValueError, match="warn < fail"):
        FreshnessWindow(warn=timedelta(hours=2), fail=timedelta(hours=1))


@contextmanager
def _daemon_workspace(
    instance: dg.DagsterInstance, module_name: str, attribute: str
) -> Iterator[WorkspaceProcessContext]:
    assert dg.__version__ == PINNED_DAGSTER, (
        f"these tests drive Dagster {PINNED_DAGSTER}'s freshness daemon internals; "
        f"re-check them against Dagster {dg.__version__}"
    )
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            module_name=module_name,
            attribute=attribute,
            working_directory=str(Path(__file__).resolve().parents[1]),
        ),
        location_name="testio_pipeline",
    )
    with create_test_daemon_workspace_context(
        InProcessWorkspaceLoadTarget(origin), instance
    ) as context:
        entry = next(iter(context.create_request_context().get_code_location_entries().values()))
        assert entry.code_location is not None, entry.load_error
        yield context


def _evaluate(
    daemon: FreshnessDaemon,
    context: WorkspaceProcessContext,
    instance: dg.DagsterInstance,
    at: datetime,
    keys: Sequence[str],
) -> dict[str, FreshnessState]:
    """One daemon iteration at `at`; the freshness state it recorded for each key."""
    with freeze_time(at):
        list(daemon.run_iteration(context))
    records = instance.get_freshness_state_records([dg.AssetKey(key) for key in keys])
    return {
        key: records[dg.AssetKey(key)].freshness_state
        for key in keys
        if dg.AssetKey(key) in records
    }


def _states(keys: Sequence[str], state: FreshnessState) -> dict[str, FreshnessState]:
    return dict.fromkeys(keys, state)


def test_an_asset_nobody_refreshes_goes_from_pass_to_warn_to_fail(tmp_path: Path) -> None:
    incremental = INCREMENTAL_KEYS + ANALYTICS_KEYS
    every_key = CATALOG_KEYS + incremental
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with _daemon_workspace(instance, __name__, "STANDIN_DEFS") as context:
            daemon = FreshnessDaemon()
            assert _evaluate(daemon, context, instance, START, every_key) == _states(
                every_key, FreshnessState.UNKNOWN
            )

            # a real run materializes every stand-in asset at START
            with freeze_time(START):
                assert dg.materialize(_standin_assets(), instance=instance).success

            def at(minutes: int) -> dict[str, FreshnessState]:
                return _evaluate(
                    daemon, context, instance, START + timedelta(minutes=minutes), every_key
                )

            pass_, warn, fail = FreshnessState.PASS, FreshnessState.WARN, FreshnessState.FAIL
            assert at(1) == _states(every_key, pass_)
            assert at(19) == _states(every_key, pass_)
            assert at(21) == {**_states(CATALOG_KEYS, pass_), **_states(incremental, warn)}
            assert at(44) == {**_states(CATALOG_KEYS, pass_), **_states(incremental, warn)}
            assert at(46) == {**_states(CATALOG_KEYS, pass_), **_states(incremental, fail)}
            assert at(61) == {**_states(CATALOG_KEYS, warn), **_states(incremental, fail)}
            assert at(121) == _states(every_key, fail)


def test_a_refresh_brings_a_failing_asset_back_to_pass(tmp_path: Path) -> None:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with _daemon_workspace(instance, __name__, "STANDIN_DEFS") as context:
            daemon = FreshnessDaemon()
            with freeze_time(START):
                assert dg.materialize(_standin_assets(), instance=instance).success
            late = START + timedelta(minutes=50)
            assert _evaluate(daemon, context, instance, late, ["bugs"]) == {
                "bugs": FreshnessState.FAIL
            }

            with freeze_time(late):
                assert dg.materialize(
                    _standin_assets(), selection=["bugs"], instance=instance
                ).success

            assert _evaluate(daemon, context, instance, late + timedelta(minutes=1), ["bugs"]) == {
                "bugs": FreshnessState.PASS
            }


def test_the_real_definitions_put_every_asset_under_the_table_policy(tmp_path: Path) -> None:
    """`testio_pipeline.definitions` as the daemon loads it: every asset has the table's policy,
    and reported materializations age into WARN and FAIL on the same schedule."""
    from testio_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = [key.to_user_string() for key in graph.get_all_asset_keys()]
    scale = freshness_scale_from_env()
    expected = {}
    for key in graph.get_all_asset_keys():
        window = window_for(key, graph.get(key).group_name)
        assert window is not None, key.to_user_string()
        window = window.scaled(scale)
        assert _window_of(graph.get(key).freshness_policy) == window, key.to_user_string()
        expected[key.to_user_string()] = window
    assert set(CATALOG_KEYS + INCREMENTAL_KEYS) <= set(keys)

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        with _daemon_workspace(instance, "testio_pipeline.definitions", "defs") as context:
            daemon = FreshnessDaemon()
            with freeze_time(START):
                for key in keys:
                    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
            for minutes in (1, 21, 46, 61, 121):
                age = timedelta(minutes=minutes)
                states = _evaluate(daemon, context, instance, START + age, keys)
                assert states == {
                    key: FreshnessState.FAIL
                    if age >= window.fail
                    else FreshnessState.WARN
                    if age >= window.warn
                    else FreshnessState.PASS
                    for key, window in expected.items()
                }, minutes
