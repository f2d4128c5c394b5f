"""Nothing halts the whole account: hostile records and a forbidden product are quarantined,
everything else is stored and analysed, the run says it is incomplete, and the next run
stores what the API then serves correctly.

The simulator serves one test with a non-ISO `start_at`, one with an id above BIGINT, one bug
of an unknown shape and one product answering 403 on its test listing (`HostileData`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from testio_pipeline.definitions import defs
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.ingest.harness import assert_warehouse_matches, query, served

BEYOND_BIGINT = 18446744073709551617
REPO = Path(__file__).resolve().parents[2]


def make_hostile(sim: Simulator) -> dict[str, int]:
    """Pick the victims from the account and break them; returns their ids."""
    truth = sim.ground_truth()
    products = sorted(truth.products)
    forbidden = products[1]
    tests = sorted(
        t for t, v in truth.tests.items() if v.product_id == products[0]
    )
    late_start, huge_id = tests[0], tests[1]
    bug = min(b for b, v in truth.bugs.items() if v.test_id not in (late_start, huge_id)
              and truth.tests[v.test_id].product_id != forbidden)
    sim.hostile.test_fields[late_start] = {"start_at": "20/11/2025 12:00"}
    sim.hostile.test_fields[huge_id] = {"id": BEYOND_BIGINT}
    sim.hostile.bug_objects[bug] = {"id": {"unexpected": "shape"}, "title": ["not", "text"]}
    sim.hostile.listing_errors[forbidden] = 403
    return {"late_start": late_start, "huge_id": huge_id, "bug": bug, "forbidden": forbidden}


def materialize_everything(account) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*defs.assets, *defs.asset_checks], resources=account.resources(), raise_on_error=False
    )


def check_results(result: dg.ExecuteInProcessResult, name: str) -> dict[str, bool]:
    return {
        e.asset_key.path[-1]: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == name
    }


def test_bad_records_and_a_forbidden_product_are_quarantined_not_halting(tmp_path: Path) -> None:
    sim = Simulator(SimulatorConfig(size="small", seed=31))
    victims = make_hostile(sim)
    with served(sim, tmp_path / "testio.duckdb") as account:
        first = materialize_everything(account)

        # the run is not a clean success, but every asset, analytics included, was written
        assert not first.success
        materialized = {e.asset_key.path[-1] for e in first.get_asset_materialization_events()}
        assert {"products", "features", "tests", "test_features", "bugs", "users",
                "feature_bug_density", "product_quality"} <= materialized
        assert check_results(first, "sync_complete") == {
            "products": True, "features": True, "tests": False, "bugs": False
        }
        truth = sim.ground_truth()
        expected = truth.excluding_tests(
            {victims["late_start"], victims["huge_id"]}
            | truth.tests_of_products([victims["forbidden"]])
        ).excluding_bugs([victims["bug"]])
        assert_warehouse_matches(account.db_path, expected)
        density = query(account.db_path, "SELECT count(*), sum(valid_bugs) FROM feature_bug_density")
        assert density[0][0] > 0

        skipped = query(
            account.db_path,
            "SELECT asset, record_id, field, raw_value FROM skipped_records ORDER BY asset, field",
        )
        assert skipped == [
            ("bugs", None, "id", '{"unexpected":"shape"}'),
            ("tests", None, "id", str(BEYOND_BIGINT)),
            ("tests", victims["late_start"], "start_at", '"20/11/2025 12:00"'),
        ]
        assert query(account.db_path, "SELECT asset, product_id, status FROM sync_failures") == [
            ("tests", victims["forbidden"], 403)
        ]

        # the API serves them correctly again: the next run stores them and passes
        sim.hostile.clear()
        second = materialize_everything(account)
        assert second.success
        assert set(check_results(second, "sync_complete").values()) == {True}
        assert_warehouse_matches(account.db_path, sim.ground_truth())
        assert query(account.db_path, "SELECT count(*) FROM skipped_records") == [(0,)]
        assert query(account.db_path, "SELECT count(*) FROM sync_failures") == [(0,)]


def test_the_cli_exits_non_zero_with_a_one_line_summary_while_parts_are_missing(
    tmp_path: Path,
) -> None:
    sim = Simulator(SimulatorConfig(size="small", seed=32))
    victims = make_hostile(sim)
    with served(sim, tmp_path / "testio.duckdb") as account:
        env = {
            **os.environ,
            "TESTIO_API_TOKEN": sim.config.token,
            "TESTIO_API_BASE_URL": account.base_url,
            "TESTIO_DUCKDB_PATH": str(account.db_path),
            "DAGSTER_HOME": str(tmp_path),
        }
        command = [
            str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
            "-m", "testio_pipeline.definitions", "--select", "*",
        ]
        failed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0
        summary = next(line for line in output.splitlines() if "synced " in line and " products" in line)
        assert f"product {victims['forbidden']} (HTTP 403)" in summary
        assert f"test {victims['late_start']} start_at" in summary and "3 records skipped" in summary

        sim.hostile.clear()
        fixed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert fixed.returncode == 0, (fixed.stdout + fixed.stderr)[-3000:]


def test_a_product_whose_catalog_is_forbidden_keeps_its_features_until_it_is_served(
    tmp_path: Path,
) -> None:
    sim = Simulator(SimulatorConfig(size="small", seed=33))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        forbidden = sorted(sim.ground_truth().products)[0]
        before = query(
            account.db_path, "SELECT count(*) FROM features WHERE product_id = ? AND NOT is_deleted",
            [forbidden],
        )
        sim.hostile.catalog_errors[forbidden] = 403
        result = account.materialize(full_refresh=True)
        # the step succeeded for the other products; the forbidden one kept its catalog
        assert result.success
        assert query(
            account.db_path, "SELECT count(*) FROM features WHERE product_id = ? AND NOT is_deleted",
            [forbidden],
        ) == before
        assert query(account.db_path, "SELECT asset, scope, status FROM sync_failures") == [
            ("features", f"product {forbidden}", 403)
        ]
        sim.hostile.clear()
        account.materialize(full_refresh=True)
        assert query(account.db_path, "SELECT count(*) FROM sync_failures") == [(0,)]
        assert_warehouse_matches(account.db_path, sim.ground_truth())
