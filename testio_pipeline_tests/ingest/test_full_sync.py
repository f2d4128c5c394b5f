"""A full sync stores exactly what the simulator's ground truth says, and re-running it
changes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.warehouse.publish import working_path_for
from testio_pipeline_tests.ingest.harness import (
    INGEST_TABLES,
    assert_warehouse_matches,
    materialization_metadata,
    query,
    served,
)


@pytest.mark.parametrize(
    ("seed", "features_endpoint"),
    [(1, "legacy_422"), (2, "returns_all"), (3, "legacy_422")],
)
def test_full_sync_matches_ground_truth(tmp_path, seed, features_endpoint):
    sim = Simulator(SimulatorConfig(size="small", seed=seed, features_endpoint=features_endpoint))
    with served(sim, tmp_path / "testio.duckdb") as account:
        result = account.materialize()
        assert result.success
        assert_warehouse_matches(account.db_path, sim.ground_truth(customer_id=1))
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks if c.severity.value == "ERROR")


def _contents(db_path):
    """Every ingest table, without the stamp of when a test's bugs were last fetched (the
    bugs of tests that are not final yet are fetched again on every run, by design)."""
    return {
        t: query(db_path, f"SELECT * EXCLUDE (bugs_synced_at) FROM {t} ORDER BY ALL")
        if t == "tests"
        else query(db_path, f"SELECT * FROM {t} ORDER BY ALL")
        for t in INGEST_TABLES
    }


def test_second_run_changes_nothing(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=4))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        before = _contents(account.db_path)
        sim.reset_stats()
        second = account.materialize()
        for table in INGEST_TABLES:
            meta = materialization_metadata(second, table)
            assert (meta["inserted"], meta["updated"], meta["deleted"]) == (0, 0, 0), table
            assert meta["dagster/row_count"] == len(before[table])
        assert _contents(account.db_path) == before
        # bugs of final tests are never fetched again
        assert materialization_metadata(second, "bugs")["tests_needing_bugs"] == sum(
            1 for t in sim.ground_truth().tests.values() if not t.is_final
        )


def test_every_row_carries_the_configured_customer_id(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=5))
    with served(sim, tmp_path / "testio.duckdb", customer_id=42) as account:
        account.materialize()
        for table in INGEST_TABLES:
            ids = query(account.db_path, f"SELECT DISTINCT customer_id FROM {table}")
            assert ids == [(42,)], table
        assert_warehouse_matches(account.db_path, sim.ground_truth(customer_id=42), customer_id=42)


def test_two_customers_share_one_file_without_mixing(tmp_path):
    db_path = tmp_path / "testio.duckdb"
    first = Simulator(SimulatorConfig(size="small", seed=6))
    second = Simulator(SimulatorConfig(size="small", seed=7))
    with served(first, db_path, customer_id=1) as account:
        account.materialize()
    with served(second, db_path, customer_id=2) as account:
        account.materialize()
        # a full refresh of customer 2 must not touch customer 1's rows
        account.materialize(full_refresh=True)
    assert_warehouse_matches(db_path, first.ground_truth(customer_id=1), customer_id=1)
    assert_warehouse_matches(db_path, second.ground_truth(customer_id=2), customer_id=2)


def test_a_sync_process_never_loads_pandas_numpy_or_pyarrow(tmp_path):
    # they cost ~75-85 MB of RSS per run process: duckdb imports numpy and pandas to bind any
    # `?` parameter, pyarrow imports pandas to build an Arrow table (see warehouse/sql_values)
    sim = Simulator(SimulatorConfig(size="small", seed=5))
    with served(sim, tmp_path / "testio.duckdb") as account:
        code = """
import os, sys
os.environ.update(TESTIO_API_TOKEN=sys.argv[1], TESTIO_API_BASE_URL=sys.argv[2],
                  TESTIO_DUCKDB_PATH=sys.argv[3], DAGSTER_HOME=sys.argv[4])
import dagster as dg
from testio_pipeline.definitions import defs
result = dg.materialize(list(defs.assets), resources=defs.resources,
                        selection=dg.AssetSelection.groups("ingest"))
assert result.success
print(sorted(m for m in ("pandas", "numpy", "pyarrow") if m in sys.modules))
"""
        home = tmp_path / "dagster_home"
        home.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", code, sim.config.token, account.base_url,
             str(account.db_path), str(home)],
            capture_output=True, text=True, check=False, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().splitlines()[-1] == "[]"
        # the ingest group alone does not publish: its rows are in the working file
        assert query(working_path_for(account.db_path), "SELECT count(*) FROM bugs")[0][0] > 0
