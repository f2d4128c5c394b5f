"""A run killed at any moment never blocks the next one and never leaves a broken warehouse.

Real processes: the README's CLI route (`DAGSTER_HOME` with the project's dagster.yaml, so
the `duckdb_writer` pool is enforced) against the simulator served over HTTP from this test
process, and `SIGKILL` at moments the test observes rather than guesses: while the `bugs` step
has requests in flight (the simulator's request counter), and while the `bugs` step has the
working DuckDB file open for its write (the run's open files).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.instance.ref import InstanceRef

from testio_pipeline.defs import dagster_fixes
from testio_pipeline.defs.pools import SLOT_CLAIMED
from testio_pipeline.defs.run_recovery import WORKER_TAG
from testio_pipeline.testio.simulator import FaultConfig, Simulator, SimulatorConfig
from testio_pipeline.testio.simulator.server import run_server_in_thread
from testio_pipeline.warehouse.publish import working_path_for
from testio_pipeline_tests.ingest.harness import (
    assert_warehouse_matches,
    truth_view,
    warehouse_view,
)

ROOT = Path(__file__).resolve().parents[1]
INGEST_TABLES = ("products", "features", "tests", "test_features", "bugs", "users")
# per request: the bugs step's ~27 requests take several round trips, so it is still fetching
# when the test sees its first request
LATENCY_MS = 150
# Dagster's own event when a step finds the pool full, and this project's report of the wait
BLOCKED_MESSAGE = "blocked by limit for pool duckdb_writer"
WAIT_MESSAGE = "for pool duckdb_writer (1 slot(s)), held by"
DEAD_RUN_MESSAGE = "died without ending"


# the embedded simulator's size when no HTTP simulator is given: steps long enough to be
# caught in the middle (test_published_warehouse uses it)
SIZE = "medium"


def cli_run(
    home: Path, db: Path, *, full_refresh: bool = False, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """The README's main job command in its own process group, and the file of its output.

    `full_refresh` re-fetches the catalogs too: after `sim.advance` a catalog inside its TTL
    would rightly not be re-fetched, and the warehouse would not equal the truth."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")}
    environment.update(DAGSTER_HOME=str(home), TESTIO_DUCKDB_PATH=str(db))
    environment.update(TESTIO_SIMULATOR_SIZE=SIZE, **(env or {}))
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
            cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


@dataclass
class Deployment:
    """A DAGSTER_HOME with the project's dagster.yaml, a warehouse path and an HTTP simulator."""

    home: Path
    db: Path
    sim: Simulator
    base_url: str

    def run(self, *, full_refresh: bool = False) -> tuple[subprocess.Popen[bytes], Path]:
        """The main job over HTTP from the simulator; see `cli_run`."""
        env = {"TESTIO_API_TOKEN": self.sim.config.token, "TESTIO_API_BASE_URL": self.base_url}
        return cli_run(self.home, self.db, full_refresh=full_refresh, env=env)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))

    def run_ok(self, *, full_refresh: bool = False) -> str:
        """Run the main job to its end; its output."""
        process, log = self.run(full_refresh=full_refresh)
        assert process.wait(timeout=600) == 0, log.read_text()[-4000:]
        return log.read_text()


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    # the instance read back in this process finds its event log under $DAGSTER_HOME
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    shutil.copy(ROOT / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    faults = FaultConfig(latency_ms=LATENCY_MS)
    sim = Simulator(SimulatorConfig(size="small", seed=1, faults=faults))
    base_url, stop = run_server_in_thread(sim)
    try:
        yield Deployment(home=home, db=tmp_path / "testio.duckdb", sim=sim, base_url=base_url)
    finally:
        stop()


def wait_until(process: subprocess.Popen[bytes], log: Path, what: str, done) -> None:
    """Poll `done()` until true; fail if the run ends first (the moment was missed)."""
    deadline = time.monotonic() + 300
    while not done():
        assert process.poll() is None, f"the run ended before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.002)


def wait_for_line(process: subprocess.Popen[bytes], log: Path, text: str) -> None:
    wait_until(process, log, repr(text), lambda: text in log.read_text(errors="replace"))


def bug_requests(sim: Simulator) -> int:
    return sum(n for endpoint, n in sim.stats()["by_endpoint"].items() if "bugs" in endpoint)


def in_bugs_fetch(deployment: Deployment, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return while the run's bugs step has requests in flight (between its DuckDB turns)."""
    wait_for_line(process, log, "bugs: fetching bugs of")
    seen = bug_requests(deployment.sim)
    wait_until(process, log, "a bugs request", lambda: bug_requests(deployment.sim) > seen)


def in_bugs_write(deployment: Deployment, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return while the run's bugs step writes: it holds the `duckdb_writer` slot then (a
    fetching step claims the slot only around its DuckDB connections, `defs/pools.py`)."""
    fetching = "bugs: fetching bugs of"
    wait_for_line(process, log, fetching)

    def writing() -> bool:
        text = log.read_text(errors="replace")
        return f"{SLOT_CLAIMED} for write" in text[text.index(fetching):]

    wait_until(process, log, "the bugs write", writing)


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_run_killed_while_fetching_or_writing_leaves_tables_before_or_after_and_never_blocks(
    deployment: Deployment,
) -> None:
    working = working_path_for(deployment.db)

    # 1. killed while the bugs step fetches (between its DuckDB turns)
    killed, log = deployment.run()
    in_bugs_fetch(deployment, killed, log)
    kill(killed)
    truth = truth_view(deployment.sim.ground_truth())
    after_kill = warehouse_view(working)
    for table in ("products", "features", "tests", "test_features"):
        assert after_kill[table] == truth[table], f"{table} is not as after its step"
    assert after_kill["bugs"] == {} and after_kill["users"] == {}, "bugs/users changed mid-fetch"
    assert not deployment.db.exists(), "a killed run published a warehouse"

    output = deployment.run_ok()
    assert DEAD_RUN_MESSAGE in output
    assert BLOCKED_MESSAGE not in output, "the next run waited for the dead run's slot"
    assert_warehouse_matches(deployment.db, deployment.sim.ground_truth())

    # 2. killed while the bugs step has the working file open to write new data
    deployment.sim.advance(days=3)
    before = warehouse_view(working)
    killed, log = deployment.run(full_refresh=True)
    wait_for_line(killed, log, "bugs: fetching bugs of")
    worker = psutil.Process(killed.pid)
    wait_until(
        killed, log, "the bugs write",
        lambda: any(f.path == str(working) for f in worker.open_files()),
    )
    kill(killed)
    truth = truth_view(deployment.sim.ground_truth())
    after_kill = warehouse_view(working)
    for table in INGEST_TABLES:
        assert after_kill[table] in (before[table], truth[table]), (
            f"{table} is neither as before nor as after its step"
        )
    assert warehouse_view(deployment.db) == before, "the published file changed"

    output = deployment.run_ok(full_refresh=True)
    assert DEAD_RUN_MESSAGE in output
    assert BLOCKED_MESSAGE not in output, "the next run waited for the dead run's slot"
    assert_warehouse_matches(deployment.db, deployment.sim.ground_truth())
    instance = deployment.instance()
    statuses = [run.status.value for run in reversed(instance.get_runs())]
    assert statuses == ["FAILURE", "SUCCESS", "FAILURE", "SUCCESS"]
    assert instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots == []


def test_a_waiting_run_names_the_live_holder_and_goes_on_once_the_holder_is_killed(
    deployment: Deployment,
) -> None:
    holder, holder_log = deployment.run()
    in_bugs_write(deployment, holder, holder_log)
    # stopped, not dead: it holds its slot, and its process still exists
    os.killpg(holder.pid, signal.SIGSTOP)
    waiter, waiter_log = deployment.run()
    try:
        wait_for_line(waiter, waiter_log, WAIT_MESSAGE)
    except BaseException:
        kill(waiter)
        raise
    finally:
        kill(holder)
    instance = deployment.instance()
    wait_line = next(line for line in waiter_log.read_text().splitlines() if WAIT_MESSAGE in line)
    holder_id = next(
        run.run_id for run in instance.get_runs()
        if run.tags[WORKER_TAG].split(":")[1] == str(holder.pid)
    )
    assert holder_id in wait_line, wait_line
    assert DEAD_RUN_MESSAGE not in waiter_log.read_text(), "a live holder was taken for dead"

    # the next report (within WAIT_REPORT_SECONDS) frees the killed holder's slot
    assert waiter.wait(timeout=600) == 0, waiter_log.read_text()[-4000:]
    assert DEAD_RUN_MESSAGE in waiter_log.read_text()
    assert instance.get_run_by_id(holder_id).status == dg.DagsterRunStatus.FAILURE
    assert_warehouse_matches(deployment.db, deployment.sim.ground_truth())


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


def start_daemon(deployment: Deployment) -> subprocess.Popen[bytes]:
    """`dagster-daemon run` on the deployment's instance (queue, sensors, run monitoring)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")}
    env.update(
        DAGSTER_HOME=str(deployment.home),
        TESTIO_DUCKDB_PATH=str(deployment.db),
        TESTIO_API_TOKEN=deployment.sim.config.token,
        TESTIO_API_BASE_URL=deployment.base_url,
    )
    log = open(deployment.home / f"daemon-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def launch(deployment: Deployment, job: str) -> str:
    """Queue a run of `job` as a user would from a shell (README "Force a refresh"); its id."""
    instance = deployment.instance()
    known = {run.run_id for run in instance.get_runs()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")}
    env["DAGSTER_HOME"] = str(deployment.home)
    subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", "workspace.yaml",
         "-j", job],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    return next(run.run_id for run in instance.get_runs() if run.run_id not in known)


def run_logs(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(
        (entry.dagster_event.message if entry.dagster_event else None) or entry.user_message or ""
        for entry in instance.all_logs(run_id)
    )


def poll(what: str, done, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def test_a_daemon_launched_run_killed_with_the_whole_daemon_never_blocks_the_next_launched_run(
    deployment: Deployment,
) -> None:
    # the harshest daemon case (reboot, eviction): the run worker dies with the daemon and its
    # code server, so nothing is left to report the run; it stays STARTED, holding its pool
    # slot and the one `testio/sync` place in the run queue
    instance = deployment.instance()
    daemon = start_daemon(deployment)
    try:
        killed_id = launch(deployment, "full_reconciliation_job")
        poll("the bugs fetch", lambda: "bugs: fetching bugs of" in run_logs(instance, killed_id))
        seen = bug_requests(deployment.sim)
        poll("a bugs request", lambda: bug_requests(deployment.sim) > seen)
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
    killed_run = instance.get_run_by_id(killed_id)
    assert killed_run.status == dg.DagsterRunStatus.STARTED
    worker_pid = int(killed_run.tags[WORKER_TAG].split(":")[1])
    poll("the run worker's end", lambda: not psutil.pid_exists(worker_pid), timeout=30)

    daemon = start_daemon(deployment)
    try:
        next_id = launch(deployment, "full_reconciliation_job")
        poll(
            "the next run's end",
            lambda: instance.get_run_by_id(next_id).is_finished,
            timeout=600,
        )
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    assert instance.get_run_by_id(next_id).status == dg.DagsterRunStatus.SUCCESS, run_logs(
        instance, next_id
    )[-4000:]
    assert instance.get_run_by_id(killed_id).status == dg.DagsterRunStatus.FAILURE
    assert DEAD_RUN_MESSAGE in run_logs(instance, killed_id)
    assert instance.event_log_storage.get_concurrency_info("duckdb_writer").claimed_slots == []
    assert_warehouse_matches(deployment.db, deployment.sim.ground_truth())
