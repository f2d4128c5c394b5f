"""The published warehouse: the file SQL readers open, never the one the pipeline writes.

DuckDB lets no process open a file, even read-only, while another holds it read-write, so a
reader of the file the sync wrote was refused for seconds at a time, and a reader left open
blocked the sync. The pipeline therefore writes a private working file and, after a run's last
write, publishes it: the working file is checkpointed (everything in the main file, no WAL),
copied next to the published file and renamed over it. A rename is atomic: a reader that has
the old file open keeps reading that consistent state, the next open gets the new one, and
nobody is ever refused. A run that fails part way publishes nothing.

The copy is a reflink (`FICLONE`: instant, shares the blocks) where the file system offers
one (btrfs, xfs), else a kernel copy (`shutil.copyfile`, sendfile). No Dagster here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from testio_pipeline.warehouse.connection import open_for_write, write_transaction
from testio_pipeline.warehouse.schema import SYNC_RUNS
from testio_pipeline.warehouse.sql_values import sql_literal

# <linux/fs.h>: clone a whole file (a reflink) on file systems that share blocks
FICLONE = 0x40049409
WORK_DIRECTORY = ".work"


def working_path_for(published: str | os.PathLike[str]) -> Path:
    """The private file the pipeline writes for `published`: `<dir>/.work/<name>`, on the
    same file system, so publishing is a copy and a rename, never a move across devices."""
    published = Path(published)
    return published.parent / WORK_DIRECTORY / published.name


@dataclass(frozen=True)
class Published:
    path: Path
    size_mb: float
    seconds: float
    method: str  # "reflink" or "copy"


def adopt_published(working: Path, published: Path) -> bool:
    """Start the working file from an existing published one (a deployment from before
    publishing, or a lost working directory); whether it did."""
    if working.exists() or not published.exists():
        return False
    working.parent.mkdir(parents=True, exist_ok=True)
    temporary = working.with_name(f".{working.name}.{os.getpid()}.adopting")
    _copy(published, temporary)
    os.replace(temporary, working)
    return True


def record_sync_run(
    working: Path,
    *,
    customer_id: int,
    run_id: str,
    started_at: datetime,
    published_at: datetime,
    status: str,
    source: str,
    changes: dict[str, dict[str, Any]],
    lock_wait_seconds: float,
) -> None:
    """Write this run's row of `sync_runs` into the working file, before it is published."""
    values = ", ".join(
        sql_literal(v)
        for v in (customer_id, run_id, started_at, published_at, status, source,
                  json.dumps(changes, sort_keys=True))
    )
    with write_transaction(working, lock_wait_seconds=lock_wait_seconds) as con:
        con.execute(
            f"INSERT OR REPLACE INTO {SYNC_RUNS.name} ({', '.join(SYNC_RUNS.column_names)}) "
            f"VALUES ({values})"
        )


def publish(working: Path, published: Path, *, lock_wait_seconds: float) -> Published:
    """Checkpoint `working` and put a copy of it at `published` atomically."""
    started = time.perf_counter()
    with open_for_write(working, lock_wait_seconds=lock_wait_seconds) as con:
        con.execute("CHECKPOINT")
    published.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(published)
    temporary = published.with_name(f".{published.name}.{os.getpid()}.publishing")
    method = _copy(working, temporary)
    os.replace(temporary, published)
    _fsync_directory(published.parent)
    return Published(
        published, round(published.stat().st_size / 2**20, 1),
        round(time.perf_counter() - started, 3), method,
    )


def _copy(source: Path, target: Path) -> str:
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            method = "reflink"
        except OSError:
            method = "copy"
    if method == "copy":
        shutil.copyfile(source, target)
    with open(target, "rb+") as done:
        os.fsync(done.fileno())
    return method


def _remove_leftovers(published: Path) -> None:
    """Temporary copies of a publish that was killed half way."""
    for leftover in published.parent.glob(f".{published.name}.*.publishing"):
        leftover.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_sync_runs(published: Path) -> list[tuple]:
    """The `sync_runs` rows of a published file, newest first (for tests and the CLI)."""
    with duckdb.connect(str(published), read_only=True) as con:
        return con.execute(
            f"SELECT run_id, status, published_at FROM {SYNC_RUNS.name} ORDER BY published_at DESC"
        ).fetchall()
