"""A multi-account deployment on a real Postgres instance, driven like production: an accounts
file, simulated accounts served over HTTP, runs submitted to the run queue with the
`dagster` CLI, launched by `dagster-daemon`, and their event logs read back from Postgres."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from testio_pipeline.testio.simulator import Simulator
from testio_pipeline.testio.simulator.server import make_server
from testio_pipeline_tests.deploy.postgres import PostgresServer

PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = PROJECT / ".venv" / "bin"
POSTGRES_INSTANCE_YAML = PROJECT / "deploy" / "dagster.yaml"
# below the client's 30 s request timeout: a held answer must not turn into a retry
RENDEZVOUS_SECONDS = 25.0
# a hang guard, not a timing assertion: runs of `small` accounts take well under a minute
RUNS_DEADLINE_SECONDS = 400.0
TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class FetchRendezvous:
    """Holds the first `/products` answer of each account until every account has asked.

    Only runs that fetch at the same time can meet here, so `met` proves that the fetches of
    different accounts' runs overlapped (a pool held while fetching would break the barrier).
    """

    def __init__(self, accounts: list[str]) -> None:
        self._barrier = threading.Barrier(len(accounts), timeout=RENDEZVOUS_SECONDS)
        self._arrived: set[str] = set()
        self._lock = threading.Lock()
        self.met: dict[str, bool] = {}

    def wait(self, account: str) -> None:
        with self._lock:
            if account in self._arrived:
                return  # only the first request of an account waits
            self._arrived.add(account)
        try:
            self._barrier.wait()
            self.met[account] = True
        except threading.BrokenBarrierError:
            self.met[account] = False


class _MeetingSimulator:
    """A simulator whose account meets the others at its first product listing."""

    def __init__(self, sim: Simulator, account: str, rendezvous: FetchRendezvous | None) -> None:
        self._sim, self._account, self._rendezvous = sim, account, rendezvous
        self.config = sim.config

    def handle(self, method: str, path: str, query: Any, headers: Any) -> Any:
        if self._rendezvous is not None and path.endswith("/products"):
            self._rendezvous.wait(self._account)
        return self._sim.handle(method, path, query, headers)


@dataclass
class SimulatedAccount:
    key: str
    customer_id: int
    sim: Simulator
    token: str  # what the deployment's environment gives it (wrong for a revoked account)
    meets_others: bool = True
    base_url: str = ""

    @property
    def token_env(self) -> str:
        return f"TESTIO_TOKEN_{self.key.upper()}"


@dataclass
class Deployment:
    home: Path
    db_path: Path
    accounts_file: Path
    env: dict[str, str]
    rendezvous: FetchRendezvous
    logs: Path
    daemon: subprocess.Popen[bytes] | None = field(default=None)

    def instance(self) -> dg.DagsterInstance:
        """The deployment's instance; DAGSTER_POSTGRES_* must be in this process's environment."""
        return dg.DagsterInstance.from_config(str(self.home))

    def launch(self, job: str, partition: str, run_config: dict[str, Any]) -> subprocess.Popen[bytes]:
        """`dagster job launch`: submits the run to the instance's queue (QueuedRunCoordinator)."""
        return subprocess.Popen(
            [
                str(VENV_BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", job,
                "--tags", json.dumps({"dagster/partition": partition}),
                "--config-json", json.dumps(run_config),
            ],
            cwd=PROJECT,
            env=self.env,
            stdout=open(self.logs / f"launch-{partition}.log", "wb"),
            stderr=subprocess.STDOUT,
        )

    def start_daemon(self) -> None:
        """`dagster-daemon run`: dequeues runs and launches them through the code location."""
        self.daemon = subprocess.Popen(
            [str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT,
            env=self.env,
            stdout=open(self.logs / "daemon.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_daemon(self) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        # the daemon and the code server it started share the session begun above
        os.killpg(self.daemon.pid, signal.SIGTERM)
        try:
            self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.daemon.pid, signal.SIGKILL)
            self.daemon.wait()


def wait_for_runs(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, dg.DagsterRun]:
    deadline = time.monotonic() + RUNS_DEADLINE_SECONDS
    while True:
        runs = {run_id: instance.get_run_by_id(run_id) for run_id in run_ids}
        if all(run is not None and run.status in TERMINAL for run in runs.values()):
            return runs  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"runs did not finish: {[(r.run_id, r.status) for r in runs.values() if r]}")
        time.sleep(1.0)


@contextmanager
def multi_account_deployment(
    postgres: PostgresServer, root: Path, accounts: list[SimulatedAccount]
) -> Iterator[Deployment]:
    """Accounts served over HTTP, an accounts file, DAGSTER_HOME with deploy/dagster.yaml."""
    home, logs = root / "dagster_home", root / "logs"
    home.mkdir()
    logs.mkdir()
    shutil.copy(POSTGRES_INSTANCE_YAML, home / "dagster.yaml")
    rendezvous = FetchRendezvous([a.key for a in accounts if a.meets_others])
    with ExitStack() as stack:
        for account in accounts:
            server = make_server(  # type: ignore[arg-type]
                _MeetingSimulator(
                    account.sim, account.key, rendezvous if account.meets_others else None
                )
            )
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.close_connections)
            stack.callback(server.shutdown)
            account.base_url = server.base_url
        accounts_file = root / "accounts.yaml"
        accounts_file.write_text(
            yaml.safe_dump(
                {
                    "accounts": [
                        {
                            "key": a.key,
                            "customer_id": a.customer_id,
                            "name": a.key.title(),
                            "token_env": a.token_env,
                            "base_url": a.base_url,
                        }
                        for a in accounts
                    ]
                }
            )
        )
        db_path = root / "warehouse" / "testio.duckdb"
        db_path.parent.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")},
            **postgres.environment(),
            **{a.token_env: a.token for a in accounts},
            "DAGSTER_HOME": str(home),
            "TESTIO_ACCOUNTS_FILE": str(accounts_file),
            "TESTIO_DUCKDB_PATH": str(db_path),
        }
        deployment = Deployment(home, db_path, accounts_file, env, rendezvous, logs)
        stack.callback(deployment.stop_daemon)
        yield deployment
