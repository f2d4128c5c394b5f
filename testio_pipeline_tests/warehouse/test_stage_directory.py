"""Stage directories of runs that were killed outright do not pile up: each directory names its
owning process, and a new stage removes those beside it whose process is gone. Live runs'
stages, this process's own and other directories are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from testio_pipeline.warehouse.schema import PRODUCTS
from testio_pipeline.warehouse.staged_bodies import StagedBodies
from testio_pipeline.warehouse.staging import StagedRows


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _stage_of(parent: Path, kind: str, pid: int) -> Path:
    path = parent / f"testio-{kind}-{pid}-x1y2z3"
    (path / "chunks").mkdir(parents=True)
    (path / "chunks" / "bugs-0.json").write_bytes(b"x" * 1024)
    return path


def test_a_new_stage_removes_the_stages_of_processes_that_are_gone(tmp_path: Path) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_rows = _stage_of(tmp_path, "stage", _dead_pid())
        dead_bodies = _stage_of(tmp_path, "bodies", _dead_pid())
        running = _stage_of(tmp_path, "bodies", alive.pid)
        mine = _stage_of(tmp_path, "stage", os.getpid())
        unrelated = tmp_path / "testio-postgres-abc"
        unrelated.mkdir()

        with StagedRows(PRODUCTS, directory=tmp_path) as stage:
            stage.append({"customer_id": 1, "id": 1, "name": "p"})
            stage.flush()
            own = stage.directory
            assert own.name.startswith(f"testio-stage-{os.getpid()}-")

        remaining = set(tmp_path.iterdir())
        assert dead_rows not in remaining and dead_bodies not in remaining
        assert {running, mine, unrelated} <= remaining
        assert own not in remaining  # its own stage is removed on exit as before
    finally:
        alive.kill()
        alive.wait()


def test_the_stage_of_a_run_killed_with_sigkill_goes_with_the_next_stage(tmp_path: Path) -> None:
    killed = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from testio_pipeline.warehouse.staged_bodies import StagedBodies; "
         "stage = StagedBodies('bugs', directory=sys.argv[1]); "
         "(stage.directory / 'bugs-0.json').write_bytes(b'[]' * 1000); time.sleep(60)",
         str(tmp_path)],
    )
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(f"testio-bodies-{killed.pid}-*/bugs-0.json")):
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert list(tmp_path.glob(f"testio-bodies-{killed.pid}-*"))  # nothing removed it

    with StagedBodies("tests", directory=tmp_path) as stage:
        assert stage.directory.exists()
        assert not list(tmp_path.glob(f"testio-bodies-{killed.pid}-*"))
