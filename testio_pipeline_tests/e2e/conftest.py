"""A real `dagster dev` (started by `scripts/ui`) on a free port, with a temporary DAGSTER_HOME
(a copy of `.dagster/dagster.yaml`) and a temporary DuckDB file, plus a GraphQL client for it.

One server serves the whole e2e module. Its log goes to `test-artifacts/e2e/dagster-dev.log`,
and every failure message made through `DagsterDev.fail` ends with its tail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"

STARTUP_TIMEOUT_SECONDS = 240.0
SHUTDOWN_TIMEOUT_SECONDS = 120.0
# the freshness daemon evaluates every 30 s by default; the test should not wait that long
FRESHNESS_DAEMON_INTERVAL_SECONDS = "5"

T = TypeVar("T")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterDev:
    """A running `scripts/ui` process and what the tests need to talk to it."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    dagster_home: Path
    duckdb_path: Path
    # every process seen below `dagster dev` while it ran (pid -> create time)
    descendants: dict[int, float] = field(default_factory=dict)
    stopped: bool = False

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- dagster dev log (tail) ---\n{self.log_tail()}", pytrace=False)

    def remember_descendants(self) -> None:
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                try:
                    self.descendants.setdefault(child.pid, child.create_time())
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to /graphql; the `data` of the answer, failing the test on any GraphQL error."""
        self.remember_descendants()
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60.0,
        )
        if response.status_code != 200:
            self.fail(f"GraphQL HTTP {response.status_code}: {response.text[:2000]}")
        body = response.json()
        if body.get("errors"):
            self.fail(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        timeout: float,
        interval: float = 1.0,
    ) -> T:
        """Call `probe` until it returns something other than None; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"dagster dev exited ({self.process.returncode}) awaiting {what}")
            try:
                found = probe()
            except (httpx.HTTPError, OSError) as exc:
                last_error, found = exc, None
            if found is not None:
                return found
            time.sleep(interval)
        self.fail(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")
        raise AssertionError("unreachable")

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes that ran below `dagster dev` (or in its process group) and still live."""
        alive = []
        for pid, created in self.descendants.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                pass
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) == self.process.pid and proc not in alive:
                    if proc.status() != psutil.STATUS_ZOMBIE:
                        alive.append(proc)
            except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
                pass
        return alive

    def stop(self) -> list[str]:
        """SIGTERM to `dagster dev` (it stops its webserver, daemon and code servers, then
        exits); returns a description of every process still alive afterwards, then kills them.
        """
        if self.stopped:
            return []
        self.stopped = True
        self.remember_descendants()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        # children get a moment to finish exiting after their parent
        deadline = time.monotonic() + 15.0
        leftovers = self.leftover_processes()
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.5)
            leftovers = self.leftover_processes()
        described = []
        for proc in leftovers:
            try:
                described.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        if self.process.poll() is None:
            described.append(f"{self.process.pid}: dagster dev itself did not exit on SIGTERM")
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        return described


def _code_location_loaded(dev: DagsterDev) -> bool | None:
    data = dev.graphql(
        """
        query {
          workspaceOrError {
            __typename
            ... on Workspace {
              locationEntries {
                name
                loadStatus
                locationOrLoadError {
                  __typename
                  ... on PythonError { message stack }
                }
              }
            }
          }
        }
        """
    )
    workspace = data["workspaceOrError"]
    if workspace["__typename"] != "Workspace" or not workspace["locationEntries"]:
        return None
    for entry in workspace["locationEntries"]:
        if entry["loadStatus"] != "LOADED":
            return None
        loaded = entry["locationOrLoadError"]
        if loaded and loaded["__typename"] == "PythonError":
            dev.fail(
                f"code location {entry['name']} failed to load: {loaded['message']}\n"
                + "".join(loaded.get("stack") or [])
            )
    return True


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    """`scripts/ui` on a free port with a fresh DAGSTER_HOME and warehouse; stopped at the end."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workdir = tmp_path_factory.mktemp("dagster_dev")
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / ".dagster" / "dagster.yaml", dagster_home / "dagster.yaml")
    duckdb_path = workdir / "testio.duckdb"
    log_path = ARTIFACTS / "dagster-dev.log"
    port = free_port()

    env = {
        key: value
        for key, value in os.environ.items()
        # the e2e run always uses the embedded simulator and the temporary warehouse
        if not key.startswith("TESTIO_") and key != "DAGSTER_HOME"
    }
    env.update(
        TESTIO_DAGSTER_HOME=str(dagster_home),
        TESTIO_DUCKDB_PATH=str(duckdb_path),
        PORT=str(port),
        FRESHNESS_DAEMON_INTERVAL_SECONDS=FRESHNESS_DAEMON_INTERVAL_SECONDS,
        PYTHONUNBUFFERED="1",
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(REPO_ROOT / "scripts" / "ui")],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # its own process group: the test can find (and, if it must, kill) all of it
            start_new_session=True,
            # started the way `scripts/ui &` from a script or CI starts it: SIGINT ignored, which
            # dagster dev would turn into ignoring SIGTERM too unless scripts/ui undoes it
            preexec_fn=_ignore_sigint,
        )
    dev = DagsterDev(
        process=process,
        url=f"http://127.0.0.1:{port}",
        log_path=log_path,
        dagster_home=dagster_home,
        duckdb_path=duckdb_path,
    )
    try:
        dev.wait_for(
            "the code location to load", lambda: _code_location_loaded(dev), STARTUP_TIMEOUT_SECONDS
        )
        yield dev
    finally:
        leftovers = dev.stop()
        if leftovers:
            pytest.fail("processes outlived dagster dev:\n" + "\n".join(leftovers), pytrace=False)
