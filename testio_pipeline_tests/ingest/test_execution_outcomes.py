"""Execution outcomes of the 2026 API reach the warehouse exactly as the simulator's ground
truth says, and an account on the older API syncs as before, with the new columns NULL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.ingest.harness import (
    assert_tables_equal,
    assert_warehouse_matches,
    materialization_metadata,
    query,
    served,
)


def _outcomes(db_path: Path) -> dict[int, tuple[Any, ...]]:
    return {
        r[0]: r[1:]
        for r in query(
            db_path,
            "SELECT id, execution_status, tester_count, bugs_found, list_sort(bug_ids) "
            "FROM test_features WHERE customer_id = 1",
        )
    }


def _stories(db_path: Path) -> dict[tuple[int, int], tuple[Any, ...]]:
    return {
        (r[0], r[1]): r[2:]
        for r in query(
            db_path,
            "SELECT test_feature_id, user_story_id, test_id, feature_id, product_id, "
            "user_story_version_id, title, execution_status, tested_by_count, bugs_found, "
            "list_sort(bug_ids) FROM test_feature_stories WHERE customer_id = 1",
        )
    }


def _assert_outcomes_match(db_path: Path, sim: Simulator) -> None:
    truth = sim.ground_truth(customer_id=1)
    expected_outcomes = {
        tf_id: (tf.execution_status, tf.tester_count, tf.bugs_found, list(tf.bug_ids))
        for tf_id, tf in truth.test_features.items()
    }
    assert_tables_equal(_outcomes(db_path), expected_outcomes, "test_features outcomes")
    expected_stories = {
        key: (s.test_id, s.feature_id, s.product_id, s.user_story_version_id, s.title,
              s.execution_status, s.tested_by_count, len(s.bug_ids), list(s.bug_ids))
        for key, s in truth.test_feature_stories.items()
    }
    assert_tables_equal(_stories(db_path), expected_stories, "test_feature_stories")


def test_2026_outcomes_match_ground_truth_and_follow_the_tests(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=5))
    with served(sim, tmp_path / "testio.duckdb") as account:
        result = account.materialize()
        assert result.success
        assert_warehouse_matches(account.db_path, sim.ground_truth(customer_id=1))
        _assert_outcomes_match(account.db_path, sim)
        story_checks = {
            e.check_name: e.passed
            for e in result.get_asset_check_evaluations()
            if e.asset_key.to_user_string() == "test_feature_stories"
        }
        assert story_checks == {"keyed_by_customer": True}
        meta = materialization_metadata(result, "test_feature_stories")
        assert meta["dagster/row_count"] == len(sim.ground_truth().test_feature_stories) > 0
        statuses = {row[0] for row in _outcomes(account.db_path).values()}
        assert statuses == {"not_tested", "passed", "failed", "blocked"}
        # running tests end, new ones start: the next run replaces each listed test's outcomes
        sim.advance(days=3)
        assert account.materialize().success
        _assert_outcomes_match(account.db_path, sim)


def test_older_api_syncs_as_before_with_outcomes_null_and_no_stories(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=5, api_2026=False))
    with served(sim, tmp_path / "testio.duckdb") as account:
        assert account.materialize().success
        assert_warehouse_matches(account.db_path, sim.ground_truth(customer_id=1))
        outcomes = _outcomes(account.db_path)
        assert len(outcomes) == len(sim.ground_truth().test_features)
        assert set(outcomes.values()) == {(None, None, None, None)}
        assert _stories(account.db_path) == {}
