"""A run killed at any moment never blocks the next one and never leaves a broken warehouse.

Real processes: the README's CLI route (`DAGSTER_HOME` with the project's dagster.yaml, so
the `duckdb_writer` pool is enforced), the embedded simulator, `SIGKILL` while a step runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from testio_pipeline.defs import dagster_fixes
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.warehouse.publish import working_path_for
from testio_pipeline_tests.ingest.harness import assert_warehouse_matches

ROOT = Path(__file__).resolve().parents[1]
SIZE = "medium"  # steps long enough to be killed in the middle


def cli_run(
    home: Path, db: Path, *, full_refresh: bool = False
) -> tuple[subprocess.Popen, Path]:
    """The README's main job command in its own process group, and the file of its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")}
    env.update(DAGSTER_HOME=str(home), TESTIO_DUCKDB_PATH=str(db), TESTIO_SIMULATOR_SIZE=SIZE)
    log = home / f"run-{time.monotonic_ns()}.log"
    config = (
        ["--config-json", '{"resources": {"sync_options": {"config": {"full_refresh": true}}}}']
        if full_refresh
        else []
    )
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
             "-m", "testio_pipeline.definitions", "--select", "*", *config],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return process, log


def wait_for_line(process: subprocess.Popen, log: Path, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert process.poll() is None, f"the run ended before {text!r}"
        time.sleep(0.1)
    raise AssertionError(f"never saw {text!r}")


def counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("products", "tests", "test_features", "bugs")
        }


@pytest.mark.parametrize("step", ["tests_and_test_features", "bugs"])
def test_a_run_killed_mid_step_is_failed_and_the_next_run_goes_on_at_once(
    tmp_path: Path, step: str
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    db = tmp_path / "testio.duckdb"
    truth = Simulator(SimulatorConfig(size=SIZE, seed=1)).ground_truth()

    killed, log = cli_run(home, db)
    wait_for_line(killed, log, f'Started execution of step "{step}"')
    time.sleep(0.5)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()

    # the working file opens, and each table is as before its step or as after it (the
    # published file readers open is not even there yet: nothing was published)
    assert not db.exists()
    after = counts(working_path_for(db))
    assert after["products"] == len(truth.products)
    assert after["tests"] in (0, len(truth.tests))
    assert after["bugs"] in (0, len(truth.bugs))
    if step == "bugs":
        assert after["tests"] == len(truth.tests)

    nxt, nxt_log = cli_run(home, db)
    assert nxt.wait(timeout=600) == 0, nxt_log.read_text()[-3000:]
    assert_warehouse_matches(db, truth)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    statuses = sorted(run.status.value for run in instance.get_runs())
    assert statuses == ["FAILURE", "SUCCESS"]
    assert instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots == []
    assert "died without ending" in nxt_log.read_text()


def test_a_step_waiting_for_a_pool_slot_sleeps_until_its_next_claim() -> None:
    # Dagster 1.13.27 returns 0 here, so the executor loops without sleeping
    assert dagster_fixes.apply()
    from dagster._core.execution.plan.instance_concurrency_context import (
        InstanceConcurrencyContext,
    )

    context = InstanceConcurrencyContext.__new__(InstanceConcurrencyContext)
    context._pending_claims = {"bugs"}
    context._pending_timeouts = {"bugs": time.time() + 5}
    assert 0 < context.interval_to_next_pending_claim_check() <= 5
    context._pending_timeouts = {"bugs": time.time() - 1}
    assert context.interval_to_next_pending_claim_check() == 0
