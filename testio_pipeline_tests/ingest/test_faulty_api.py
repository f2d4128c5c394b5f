"""The sync survives the real API's failure modes: 5xx, 429 with Retry-After, poisoned test
pages (skipped and reported, never silently), a wrong token (a clear error, nothing written)."""

from __future__ import annotations

import dagster as dg
import pytest

from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.resources import TestIOResource
from testio_pipeline.testio.simulator import FaultConfig, Simulator, SimulatorConfig
from testio_pipeline_tests.ingest.harness import (
    assert_warehouse_matches,
    materialization_metadata,
    query,
    served,
)

FAULTS = FaultConfig(
    error_rate_5xx=0.05, error_rate_429=0.03, retry_after_seconds=0.01, poison_rate=0.01
)


def test_run_with_faults_matches_ground_truth_except_poisoned_tests(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=21, faults=FAULTS))
    poisoned = sim.poisoned_test_ids
    assert poisoned, "the fault config poisons about 1 % of tests"
    with served(sim, tmp_path / "testio.duckdb") as account:
        result = account.materialize()
        assert_warehouse_matches(
            account.db_path, sim.ground_truth().excluding_tests(poisoned)
        )
        tests_meta = materialization_metadata(result, "tests")
        assert tests_meta["skipped_records"] == len(poisoned)
        assert tests_meta["retries"] > 0
        skipped = query(account.db_path, "SELECT count(*) FROM skipped_records")
        assert skipped == [(len(poisoned),)]


def test_wrong_token_fails_with_a_clear_error_and_writes_nothing(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=22))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        before = query(account.db_path, "SELECT count(*) FROM products")
        resources = account.resources()
        secret = "wrong-token-s3cr3t"
        resources["testio"] = TestIOResource(api_token=secret, base_url=account.base_url)
        result = dg.materialize(
            INGEST_ASSETS,
            resources=resources,
            raise_on_error=False,
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = str(failure.event_specific_data.error)
        assert "401" in message and "/products" in message
        assert "Check TESTIO_API_TOKEN" in message  # says what to do
        assert secret not in message
        assert query(account.db_path, "SELECT count(*) FROM products") == before


@pytest.mark.parametrize("malformed_rate", [0.05])
def test_malformed_json_bodies_are_retried(tmp_path, malformed_rate):
    sim = Simulator(
        SimulatorConfig(size="small", seed=23, faults=FaultConfig(malformed_rate=malformed_rate))
    )
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        assert_warehouse_matches(account.db_path, sim.ground_truth())
