"""The execution-outcome analytics against the simulator's ground truth: a real sync and real
`dg.materialize` of ingest, analytics and checks, under the 2026 API and the older one."""

from __future__ import annotations

import html

from collections import defaultdict
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.warehouse.analytics import checks, settings
from testio_pipeline_tests.ingest.harness import materialization_metadata, query, served

RECONCILE = (settings.FEATURE_EXECUTION_OUTCOMES_TABLE, settings.CHECK_EXECUTION_BUGS_RECONCILE)


def _sync(sim: Simulator, db_path: Path) -> dg.ExecuteInProcessResult:
    with served(sim, db_path) as account:
        return dg.materialize(
            [*INGEST_ASSETS, *ANALYTICS_ASSETS],
            resources=account.resources(),
        )


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], Any]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def _expected_outcomes(executions: dict[Any, list[tuple[Any, ...]]]) -> dict[Any, tuple[Any, ...]]:
    """(executed, failed, blocked, failure_rate, recent_failures, failure_streak, last_status)
    per key, from (cycle time, test id, row id, status) executions, written from the README's
    definitions, not from the SQL."""
    expected = {}
    for key, rows in executions.items():
        done = sorted((r for r in rows if r[3] != "not_tested"), reverse=True)
        statuses = [r[3] for r in done]
        failures = [s in ("failed", "blocked") for s in statuses]
        streak = next((i for i, failed in enumerate(failures) if not failed), len(failures))
        expected[key] = (
            len(done), statuses.count("failed"), statuses.count("blocked"),
            sum(failures) / len(done) if done else None,
            sum(failures[: settings.RECENT_CYCLES]), streak, statuses[0] if done else None,
        )
    return expected


@pytest.fixture(scope="module")
def synced_2026(tmp_path_factory) -> tuple[Simulator, Path, dg.ExecuteInProcessResult]:
    sim = Simulator(SimulatorConfig(size="small", seed=6))
    db_path = tmp_path_factory.mktemp("outcomes") / "testio.duckdb"
    result = _sync(sim, db_path)
    assert result.success
    return sim, db_path, result


def test_feature_outcomes_match_the_ground_truth(synced_2026):
    sim, db_path, _ = synced_2026
    truth = sim.ground_truth()
    executions: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for tf_id, tf in truth.test_features.items():
        test = truth.tests[tf.test_id]
        executions[tf.feature_id].append((test.end_at, tf.test_id, tf_id, tf.execution_status))
    rows = query(
        db_path,
        "SELECT feature_id, executed, failed, blocked, failure_rate, recent_failures, "
        "failure_streak, last_status FROM feature_execution_outcomes",
    )
    actual = {r[0]: r[1:] for r in rows}
    expected = _expected_outcomes(executions)
    assert set(actual) == set(expected)
    for feature_id, row in expected.items():
        assert actual[feature_id][:3] == row[:3] and actual[feature_id][4:] == row[4:], feature_id
        assert actual[feature_id][3] == pytest.approx(row[3]), feature_id
    names = {name for (name,) in query(db_path, "SELECT product_name FROM feature_execution_outcomes")}
    assert names == {p.name for p in truth.products.values()}


def test_stories_that_keep_failing_match_the_ground_truth(synced_2026):
    sim, db_path, _ = synced_2026
    truth = sim.ground_truth()
    executions: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for (tf_id, story_id), story in truth.test_feature_stories.items():
        test = truth.tests[story.test_id]
        executions[story_id].append((test.end_at, story.test_id, tf_id, story.execution_status))
    expected = _expected_outcomes(executions)
    keeps_failing = {k for k, row in expected.items() if row[5] >= settings.KEEPS_FAILING_STREAK}
    rows = query(db_path, "SELECT user_story_id, keeps_failing, executed, failure_streak FROM story_failures")
    assert {r[0] for r in rows} == set(expected)
    assert {r[0] for r in rows if r[1]} == keeps_failing and keeps_failing
    assert {r[0]: (r[2], r[3]) for r in rows} == {k: (v[0], v[5]) for k, v in expected.items()}


def test_fragility_ranking_is_in_the_metadata_with_product_names(synced_2026):
    _, db_path, result = synced_2026
    ranking = materialization_metadata(result, "feature_fragility")["most_fragile_features"]
    top = query(
        db_path,
        "SELECT product_name, feature_title, fragility_score, bug_density, failure_rate "
        "FROM feature_fragility WHERE fragility_rank <= 10 ORDER BY fragility_rank",
    )
    assert len(top) == 10
    for rank, (product, feature, *_) in enumerate(top, start=1):
        assert f"| {rank} | {product} | {feature} |" in ranking
    assert "fragility_score = (percentile of bug density + failure rate) / 2" in ranking
    # the report a QA lead opens shows the same ranking, with product names
    report_path = materialization_metadata(result, "feature_bug_density")["report"]
    page = Path(report_path).read_text()
    assert "Most fragile by bugs and execution outcomes" in page
    for product, feature, *_ in top:
        assert f"<td>{html.escape(product)}</td><td>{html.escape(feature)}</td>" in page
    # the score is the documented formula and the ranking follows it
    scores = [row[2] for row in top]
    assert scores == sorted(scores, reverse=True)
    percentiles = query(
        db_path,
        "SELECT density_percentile, failure_rate, fragility_score, "
        "percent_rank() OVER (ORDER BY bug_density) FROM feature_fragility",
    )
    for percentile, rate, score, expected_percentile in percentiles:
        assert percentile == pytest.approx(expected_percentile)
        assert score == pytest.approx((percentile + rate) / 2)


def test_outcomes_reconcile_with_the_stored_bugs_and_a_lost_bug_is_reported(synced_2026, tmp_path):
    _, db_path, result = synced_2026
    evaluation = _checks(result)[RECONCILE]
    assert evaluation.passed and evaluation.metadata["test_features_compared"].value > 100
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db_path.read_bytes())
    con = duckdb.connect(str(copy))
    con.execute(
        "DELETE FROM bugs WHERE id = (SELECT min(b.id) FROM bugs AS b JOIN tests AS t "
        "ON t.customer_id = b.customer_id AND t.id = b.test_id WHERE t.is_final "
        "AND b.test_feature_id IS NOT NULL)"
    )
    outcome = checks.check_execution_bugs_reconcile(con)
    con.close()
    assert not outcome.passed
    assert (outcome.details["mismatched"], outcome.details["listed_bugs_not_stored"]) == (1, 1)


def test_older_api_gives_empty_outcome_tables_and_says_why(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=6, api_2026=False))
    result = _sync(sim, tmp_path / "testio.duckdb")
    assert result.success
    for table in ("feature_execution_outcomes", "story_failures", "feature_fragility"):
        assert materialization_metadata(result, table)["dagster/row_count"] == 0
    assert materialization_metadata(result, "feature_bug_density")["dagster/row_count"] > 0
    ranking = materialization_metadata(result, "feature_fragility")["most_fragile_features"]
    assert ranking.startswith("No feature qualifies yet")
    evaluation = _checks(result)[RECONCILE]
    assert evaluation.passed and evaluation.metadata["test_features_compared"].value == 0
