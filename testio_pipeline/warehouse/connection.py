"""Connections to the warehouse file: one writer at a time, never a half-written table.

DuckDB lets a single process write a database file, and any process that has the file open,
even read-only, blocks every other writer. So each helper here opens the file for exactly one
`with` block, waits (exponential backoff with jitter) while another process holds the lock,
names that process in the log and in `WarehouseLockedError`, and always closes the connection.

`write_transaction` is the unit of every write: COMMIT on success, ROLLBACK on any exception.
A process killed mid-transaction leaves the last committed state intact (DuckDB's WAL and
its checkpoint only ever publish committed data).

Within one process DuckDB shares one database instance per file and refuses a connection with a
different configuration (a read-only one while a writable one is open): keep one connection
per context and do not nest `open_for_read` inside `open_for_write` on the same file.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import psutil

from testio_pipeline.warehouse import schema
from testio_pipeline.warehouse.sql_values import sql_literal

LOCK_WAIT_ENV_VAR = "TESTIO_DUCKDB_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 120.0
BACKOFF_INITIAL_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0
# while waiting, repeat the "still locked" line this often so a long wait is visible in the run log
WAIT_LOG_INTERVAL_SECONDS = 15.0
HOLDER_COMMAND_MAX_CHARS = 200

_LOCK_CONFLICT_MARKER = "Could not set lock on file"
_LOCK_PID_PATTERN = re.compile(r"\(PID (\d+)\)")
# duckdb adds this hint when the holder itself only has the file open read-only
_HOLDER_IS_READER_MARKER = "would be able to open this database in read-only mode"

_logger = logging.getLogger(__name__)


class InfoLogger(Protocol):
    """Anything with `.info(msg)`: a `logging.Logger` or Dagster's `context.log`."""

    def info(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class LockHolder:
    """The process that holds the warehouse file, as far as DuckDB and psutil can tell."""

    pid: int | None
    description: str
    read_only: bool


class WarehouseLockedError(RuntimeError):
    """The warehouse file stayed locked by another process for longer than the wait allowed.

    The message names the holder (PID and command line) and what to do about it.
    """

    def __init__(
        self, path: str, holder: LockHolder, waited_seconds: float, lock_wait_seconds: float
    ) -> None:
        self.path = path
        self.holder = holder
        self.waited_seconds = waited_seconds
        self.lock_wait_seconds = lock_wait_seconds
        super().__init__(_locked_message(path, holder, waited_seconds, lock_wait_seconds))


def _locked_message(path: str, holder: LockHolder, waited: float, lock_wait: float) -> str:
    if holder.read_only:
        what = f"{holder.description} has it open read-only, which blocks writes too"
    else:
        what = f"{holder.description} holds its lock (a sync run writing, or a writable session)"
    return (
        f"The DuckDB warehouse {path} is locked: {what}; gave up after {waited:.1f} s. "
        "Close that session or wait for that run to finish. "
        f"Reading while a sync runs: use `duckdb -readonly {path}` (it only conflicts with the "
        "sync's short write phase) and close it when done; "
        f"or raise {LOCK_WAIT_ENV_VAR} (now {lock_wait:g} s)."
    )


def describe_command(cmdline: list[str], pid: int) -> str:
    """A human name for a process from its command line.

    E.g. "a DuckDB CLI (`duckdb data/testio.duckdb`, PID 1234)".
    """
    if not cmdline:
        return f"a process (PID {pid})"
    exe = os.path.basename(cmdline[0]).lower()
    joined = " ".join(cmdline).lower()
    if exe.startswith("duckdb"):
        # the pip-installed cli prefixes a long `-cmd <setup sql>`; the user typed `duckdb <file>`
        cmdline = ["duckdb", *_without_option_values(cmdline[1:], {"-cmd"})]
    shown = shlex.join(cmdline)
    if len(shown) > HOLDER_COMMAND_MAX_CHARS:
        shown = shown[: HOLDER_COMMAND_MAX_CHARS - 3] + "..."
    if exe.startswith("duckdb"):
        kind = "a DuckDB CLI"
    elif "dagster" in joined:
        kind = "a Dagster process"
    elif "jupyter" in joined or "ipykernel" in joined:
        kind = "a Jupyter kernel"
    elif exe.startswith("python"):
        kind = "a Python process"
    else:
        kind = f"process {exe}"
    if pid == os.getpid():
        kind = f"this very process, {kind}"
    return f"{kind} (`{shown}`, PID {pid})"


def _without_option_values(args: list[str], options: set[str]) -> list[str]:
    kept: list[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in options:
            skip_next = True
        else:
            kept.append(arg)
    return kept


def describe_process(pid: int) -> str:
    """Describe a live process by PID via psutil; degrades gracefully when it cannot be read."""
    try:
        cmdline = psutil.Process(pid).cmdline()
    except psutil.NoSuchProcess:
        return f"a process that has exited since (PID {pid})"
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return f"a process (PID {pid})"
    return describe_command(cmdline, pid)


def lock_holder(error_message: str) -> LockHolder:
    """Parse DuckDB's lock-conflict message into who holds the file."""
    match = _LOCK_PID_PATTERN.search(error_message)
    read_only = _HOLDER_IS_READER_MARKER in error_message
    if match is None:
        return LockHolder(pid=None, description="another process", read_only=read_only)
    pid = int(match.group(1))
    return LockHolder(pid=pid, description=describe_process(pid), read_only=read_only)


def is_lock_conflict(error: BaseException) -> bool:
    """True when DuckDB refused the file because another process holds its lock."""
    return isinstance(error, duckdb.IOException) and _LOCK_CONFLICT_MARKER in str(error)


def backoff_delays(
    initial: float = BACKOFF_INITIAL_SECONDS,
    maximum: float = BACKOFF_MAX_SECONDS,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Endless delays doubling from `initial` to `maximum`, each jittered to 50-100 %.

    The jitter keeps two waiting writers from retrying in lockstep.
    """
    rng = rng or random.Random()
    delay = initial
    while True:
        yield delay * rng.uniform(0.5, 1.0)
        delay = min(delay * 2, maximum)


# rows per row group of what the pipeline writes (DuckDB's default: 122,880). A transaction
# keeps the row group it is filling uncompressed in memory until it is full or committed: a
# default group of tests (~4.5 KB of raw JSON each) is ~550 MB, beyond the write limit, so a
# large tests merge spilled it to disk and read it back to compress and commit it. Measured,
# first load of 10x `large` at the default budget: the tests' insert 9.8 -> 4.6 s, their
# commit 8.5 -> 2.2 s. A file keeps the groups it was written with; readers need nothing.
WRITE_ROW_GROUP_ROWS = 16_384
# the catalog name a writable warehouse is attached under (`current_database()`)
WRITE_CATALOG = "warehouse"


def _connect(target: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect(target)`; a writable file is attached instead, the only way to set
    its row group size (`WRITE_ROW_GROUP_ROWS`). A held lock raises the same IOException."""
    if read_only or target.startswith(":memory:"):
        return duckdb.connect(target, read_only=read_only)
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            f"ATTACH {sql_literal(target)} AS {WRITE_CATALOG} "
            f"(ROW_GROUP_SIZE {WRITE_ROW_GROUP_ROWS})"
        )
        con.execute(f"USE {WRITE_CATALOG}")
    except BaseException:
        con.close()
        raise
    return con


def connect_waiting(
    path: str | os.PathLike[str],
    *,
    read_only: bool,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    log: InfoLogger | None = None,
) -> duckdb.DuckDBPyConnection:
    """Connect to `path`, waiting up to `lock_wait_seconds` while another process holds it.

    Raises `WarehouseLockedError` when the wait runs out; any other DuckDB error at once.
    """
    log = log or _logger
    target = str(path)
    started = time.monotonic()
    delays = backoff_delays()
    next_log_at = 0.0
    holder: LockHolder | None = None
    while True:
        try:
            con = _connect(target, read_only)
        except duckdb.IOException as error:
            if not is_lock_conflict(error):
                raise
            waited = time.monotonic() - started
            remaining = lock_wait_seconds - waited
            previous = holder
            holder = lock_holder(str(error))
            if remaining <= 0:
                raise WarehouseLockedError(target, holder, waited, lock_wait_seconds) from error
            if waited >= next_log_at or previous is None or previous.pid != holder.pid:
                log.info(
                    f"DuckDB warehouse {target} is locked by {holder.description}; waited "
                    f"{waited:.1f} s, waiting up to {lock_wait_seconds:g} s for it to be released"
                )
                next_log_at = waited + WAIT_LOG_INTERVAL_SECONDS
            time.sleep(min(next(delays), remaining))
            continue
        if holder is not None:
            log.info(
                f"DuckDB warehouse {target} lock acquired after waiting "
                f"{time.monotonic() - started:.1f} s"
            )
        return con


class WarehouseFileError(RuntimeError):
    """The warehouse file cannot be created or opened for a reason of the file system."""

    def __init__(self, path: str | os.PathLike[str], error: BaseException) -> None:
        self.path = str(path)
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        super().__init__(
            f"the warehouse file {self.path} cannot be opened: {reason}. Check "
            "TESTIO_DUCKDB_PATH: its directory must exist or be creatable and be writable by "
            "this user, on a local disk with free space (not under /proc or on a read-only "
            "mount)."
        )


def _prepare_path(path: str | os.PathLike[str]) -> None:
    if not str(path).startswith(":memory:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def open_for_write(
    path: str | os.PathLike[str],
    *,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    log: InfoLogger | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable connection with the schema ensured; closed when the block exits.

    Creates the parent directory and the file if missing. Statements run in autocommit mode;
    use `write_transaction` to make several statements atomic.
    """
    try:
        _prepare_path(path)
        con = connect_waiting(path, read_only=False, lock_wait_seconds=lock_wait_seconds, log=log)
    except (OSError, duckdb.IOException, duckdb.PermissionException) as error:
        raise WarehouseFileError(path, error) from error
    try:
        schema.ensure_schema(con)
        yield con
    finally:
        con.close()


@contextmanager
def write_transaction(
    path: str | os.PathLike[str],
    *,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    log: InfoLogger | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """`open_for_write` plus one transaction: COMMIT on success, ROLLBACK on any exception.

    The exception is re-raised; readers never see part of the block's writes.
    """
    with open_for_write(path, lock_wait_seconds=lock_wait_seconds, log=log) as con:
        con.begin()
        try:
            yield con
        except BaseException:
            try:
                con.rollback()
            except duckdb.Error as rollback_error:
                # the original error matters more; closing the connection discards the rest
                (log or _logger).info(
                    f"rollback after a failed write also failed: {rollback_error}"
                )
            raise
        con.commit()


@contextmanager
def open_for_read(
    path: str | os.PathLike[str],
    *,
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS,
    log: InfoLogger | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; waits like a write does while a writer holds the file.

    A missing warehouse is first created with the empty contract tables, so a reader always
    finds them. Other read-only connections may be open at the same time.
    """
    if not str(path).startswith(":memory:") and not Path(path).exists():
        with open_for_write(path, lock_wait_seconds=lock_wait_seconds, log=log):
            pass
    con = connect_waiting(path, read_only=True, lock_wait_seconds=lock_wait_seconds, log=log)
    try:
        yield con
    finally:
        con.close()
