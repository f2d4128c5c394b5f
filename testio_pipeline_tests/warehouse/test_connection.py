from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest

from testio_pipeline.warehouse import schema
from testio_pipeline.warehouse.connection import (
    WRITE_ROW_GROUP_ROWS,
    WarehouseFileError,
    LOCK_WAIT_ENV_VAR,
    WarehouseLockedError,
    describe_command,
    open_for_read,
    open_for_write,
    write_transaction,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HOLDER_MODULE = "testio_pipeline_tests.warehouse.lock_holder"
STARTUP_GUARD_SECONDS = 60

# a broken child process must fail these tests, never hang the suite
pytestmark = pytest.mark.timeout(180)


class OtherProcess:
    """A second process that opens the warehouse file (see `lock_holder.py`)."""

    def __init__(self, command: list[str], ready_line: str | None) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = ""
        if ready_line is not None:
            self.ready = self.read_line()
            assert self.ready.startswith(ready_line), (
                f"the other process did not start: {self.ready!r}"
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_line(self) -> str:
        # a guard, not a timing assertion: a broken child must fail the test, not hang the suite
        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], STARTUP_GUARD_SECONDS)
        assert readable, f"no output from {self.process.args!r} within {STARTUP_GUARD_SECONDS} s"
        return stdout.readline()

    def release(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()

    def stop(self) -> None:
        self.release()
        try:
            self.process.wait(timeout=STARTUP_GUARD_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with write_transaction(path) as con:
        con.execute(
            "INSERT INTO bugs (customer_id, id, title) "
            "SELECT 1, i, 'bug ' || i FROM range(1, 1001) t(i)"
        )
    return path


@pytest.fixture
def holders() -> Iterator[list[OtherProcess]]:
    started: list[OtherProcess] = []
    yield started
    for holder in started:
        holder.stop()


def hold(holders: list[OtherProcess], db: Path, mode: str = "write") -> OtherProcess:
    holder = OtherProcess([sys.executable, "-m", HOLDER_MODULE, mode, str(db)], "locked")
    holders.append(holder)
    return holder


class RecordingLog:
    """A `log` that records messages and releases the lock holder once a wait was logged."""

    def __init__(self, release: OtherProcess | None = None) -> None:
        self.messages: list[str] = []
        self._release = release

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.messages.append(msg)
        if self._release is not None and "is locked by" in msg:
            self._release.release()


def test_open_for_write_creates_the_directory_and_every_contract_table(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "warehouse.duckdb"
    with open_for_write(path) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {spec.name for spec in schema.INGEST_TABLES}


def test_writes_fill_row_groups_small_enough_to_stay_within_the_write_limit(
    tmp_path: Path,
) -> None:
    """A transaction holds the row group it fills uncompressed: the pipeline's connections
    write groups of `WRITE_ROW_GROUP_ROWS`, not DuckDB's 122,880 (~550 MB of tests)."""
    path = tmp_path / "warehouse.duckdb"
    with write_transaction(path) as con:
        con.execute("CREATE TABLE numbers (n BIGINT)")
        con.execute(f"INSERT INTO numbers SELECT range FROM range({3 * WRITE_ROW_GROUP_ROWS})")
    with open_for_read(path) as con:
        groups = con.execute(
            "SELECT count(DISTINCT row_group_id), max(count) FROM pragma_storage_info('numbers')"
        ).fetchone()
    assert groups == (3, WRITE_ROW_GROUP_ROWS)


def test_connections_are_closed_when_the_block_exits(db: Path) -> None:
    with open_for_write(db) as con:
        con.execute("SELECT 1")
    # duckdb refuses a read-only connection while a writable one to the file is open in-process
    with open_for_read(db) as con:
        assert con.execute("SELECT count(*) FROM bugs").fetchone() == (1000,)
    with open_for_write(db):
        pass


def test_write_transaction_commits_on_success(db: Path) -> None:
    with write_transaction(db) as con:
        con.execute("UPDATE bugs SET title = 'renamed' WHERE id = 1")
    with open_for_read(db) as con:
        assert con.execute("SELECT title FROM bugs WHERE id = 1").fetchone() == ("renamed",)


def test_write_transaction_rolls_back_on_any_exception_and_reraises_it(db: Path) -> None:
    with pytest.raises(KeyError, match="mid-write"):
        with write_transaction(db) as con:
            con.execute("DELETE FROM bugs WHERE id > 10")
            con.execute("INSERT INTO bugs (customer_id, id) VALUES (2, 1)")
            raise KeyError("mid-write")
    with open_for_read(db) as con:
        assert con.execute(
            "SELECT count(*), count(*) FILTER (customer_id = 2) FROM bugs"
        ).fetchone() == (1000, 0)


def test_open_for_read_creates_a_missing_warehouse_with_the_contract_tables(tmp_path: Path) -> None:
    with open_for_read(tmp_path / "new.duckdb") as con:
        assert con.execute("SELECT count(*) FROM features").fetchone() == (0,)
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("INSERT INTO features (customer_id, id) VALUES (1, 1)")


def test_a_write_waits_while_another_process_holds_the_lock_then_succeeds(
    db: Path, holders: list[OtherProcess]
) -> None:
    holder = hold(holders, db)
    log = RecordingLog(release=holder)
    with write_transaction(db, lock_wait_seconds=60, log=log) as con:
        con.execute("UPDATE bugs SET title = 'after the wait' WHERE id = 1")
    assert f"PID {holder.pid}" in log.messages[0]
    assert "lock acquired after waiting" in log.messages[-1]
    with open_for_read(db) as con:
        assert con.execute("SELECT title FROM bugs WHERE id = 1").fetchone() == ("after the wait",)


def test_a_read_waits_while_a_writer_holds_the_lock_then_succeeds(
    db: Path, holders: list[OtherProcess]
) -> None:
    holder = hold(holders, db, mode="write")
    log = RecordingLog(release=holder)
    with open_for_read(db, lock_wait_seconds=60, log=log) as con:
        assert con.execute("SELECT count(*) FROM bugs").fetchone() == (1000,)
    assert f"PID {holder.pid}" in log.messages[0]


def test_lock_timeout_error_names_the_holder_and_says_what_to_do(
    db: Path, holders: list[OtherProcess]
) -> None:
    holder = hold(holders, db)
    log = RecordingLog()
    with pytest.raises(WarehouseLockedError) as raised:
        with write_transaction(db, lock_wait_seconds=0.3, log=log):
            pytest.fail("the write must not start while the file is locked")
    message = str(raised.value)
    assert raised.value.holder.pid == holder.pid
    assert (
        f"a Python process (`{sys.executable} -m {HOLDER_MODULE} write {db}`, PID {holder.pid})"
        in message
    )
    assert "Close that session or wait for that run" in message
    assert f"duckdb -readonly {db}" in message
    assert f"raise {LOCK_WAIT_ENV_VAR} (now 0.3 s)" in message
    assert log.messages and f"PID {holder.pid}" in log.messages[0]


def test_a_read_only_session_blocks_writes_and_the_error_says_so(
    db: Path, holders: list[OtherProcess]
) -> None:
    holder = hold(holders, db, mode="read")
    with pytest.raises(
        WarehouseLockedError, match=f"PID {holder.pid}.* has it open read-only, which blocks writes"
    ):
        with open_for_write(db, lock_wait_seconds=0.2):
            pass
    # several readers may share the file
    with open_for_read(db, lock_wait_seconds=0.2) as con:
        assert con.execute("SELECT count(*) FROM bugs").fetchone() == (1000,)


def _lock_owner(path: Path) -> int | None:
    """The PID holding a POSIX lock on `path`, from /proc/locks (Linux)."""
    inode = path.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        # e.g. "1: POSIX  ADVISORY  WRITE 10406 00:2f:1234 0 EOF"
        if len(fields) >= 6 and fields[1] == "POSIX" and int(fields[5].split(":")[-1]) == inode:
            return int(fields[4])
    return None


def test_a_duckdb_cli_holding_the_file_is_named_as_such(
    db: Path, holders: list[OtherProcess]
) -> None:
    cli = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert cli is not None, (
        "the duckdb-cli package (a project dependency) provides .venv/bin/duckdb"
    )
    holder = OtherProcess([cli, str(db)], ready_line=None)
    holders.append(holder)
    # the pip cli is a python launcher around the real binary; wait until the binary holds the lock
    deadline = time.monotonic() + STARTUP_GUARD_SECONDS
    while (owner := _lock_owner(db)) is None:
        assert holder.process.poll() is None and time.monotonic() < deadline, (
            "the DuckDB CLI never locked the file"
        )
        time.sleep(0.05)
    assert psutil.Process(owner).ppid() == holder.pid or owner == holder.pid
    with pytest.raises(WarehouseLockedError, match=rf"a DuckDB CLI \(`duckdb {db}`, PID {owner}\)"):
        with open_for_write(db, lock_wait_seconds=0.2):
            pass


def test_other_io_errors_are_raised_at_once_not_waited_on(tmp_path: Path) -> None:
    directory = tmp_path / "a_directory"
    directory.mkdir()
    with pytest.raises(WarehouseFileError) as raised:
        with open_for_write(directory, lock_wait_seconds=600):
            pass
    # raised at once, as the file error it is, naming the setting to fix
    assert isinstance(raised.value.__cause__, duckdb.IOException)
    assert "TESTIO_DUCKDB_PATH" in str(raised.value)


def test_a_writer_killed_mid_transaction_leaves_the_committed_data_intact(db: Path) -> None:
    with open_for_read(db) as con:
        committed = con.execute("SELECT * FROM bugs ORDER BY ALL").fetchall()

    writer = OtherProcess(
        [sys.executable, "-m", HOLDER_MODULE, "doomed-write", str(db)], "mid-transaction"
    )
    _, size_before, size_during = writer.ready.split()
    # the uncommitted rows already reached the database file when the kill lands
    assert int(size_during) > int(size_before)
    os.kill(writer.pid, signal.SIGKILL)
    assert writer.process.wait(timeout=30) == -signal.SIGKILL

    with open_for_read(db) as con:
        assert con.execute("SELECT * FROM bugs ORDER BY ALL").fetchall() == committed
    with write_transaction(db) as con:
        con.execute(
            "INSERT INTO bugs (customer_id, id, title) VALUES (1, 5000, 'written after the crash')"
        )
    with open_for_read(db) as con:
        assert con.execute("SELECT count(*) FROM bugs").fetchone() == (1001,)


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["duckdb", "data/testio.duckdb"], "a DuckDB CLI (`duckdb data/testio.duckdb`, PID 1234)"),
        (
            [
                "/x/site-packages/duckdb_cli/duckdb",
                "-cmd",
                "SET extension_directories = ...",
                "-readonly",
                "w.db",
            ],
            "a DuckDB CLI (`duckdb -readonly w.db`, PID 1234)",
        ),
        (
            ["/app/.venv/bin/python", "-m", "dagster", "api", "execute_step"],
            "a Dagster process (`/app/.venv/bin/python -m dagster api execute_step`, PID 1234)",
        ),
        (["/usr/bin/python3.11", "-m", "ipykernel_launcher"], "a Jupyter kernel"),
        (
            ["python3", "notebook export.py"],
            "a Python process (`python3 'notebook export.py'`, PID 1234)",
        ),
        (
            ["/opt/metabase/java", "-jar", "metabase.jar"],
            "process java (`/opt/metabase/java -jar metabase.jar`",
        ),
        ([], "a process (PID 1234)"),
    ],
)
def test_lock_holders_are_described_by_their_command_line(
    cmdline: list[str], expected: str
) -> None:
    assert expected in describe_command(cmdline, 1234)


@pytest.mark.parametrize("where", ["/proc/testio/w.duckdb", "read-only"])
def test_an_unusable_warehouse_path_fails_with_advice_naming_the_setting(
    tmp_path: Path, where: str
) -> None:
    if where == "read-only":
        if os.geteuid() == 0:
            # root writes anywhere: a path below a regular file cannot be created by anyone
            (tmp_path / "a-file").write_text("")
            path = tmp_path / "a-file" / "w.duckdb"
        else:
            locked = tmp_path / "locked"
            locked.mkdir(mode=0o500)
            path = locked / "w.duckdb"
    else:
        path = Path(where)
    with pytest.raises(WarehouseFileError, match="TESTIO_DUCKDB_PATH") as caught:
        with open_for_write(path):
            pass
    assert str(path) in str(caught.value) and "Traceback" not in str(caught.value)
