"""The private temp directory a stage writes its files to, removed when the stage closes.

Shared by `staging.StagedRows` (Parquet rows) and `staged_bodies.StagedBodies` (raw bodies).

A run killed outright (SIGKILL, the OOM killer, a container stopped) cannot remove its stages,
and those of a large account hold gigabytes (raw bodies, Parquet chunks, spill files). So each
directory's name carries the process that owns it, and a new stage first removes the stages
beside it whose process is gone: a crash costs its disk space until the next sync, not forever.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

# every stage directory: "testio-<kind>-<owner pid>-<random>" (kinds: `prefix` of a subclass)
_STAGE_NAME = re.compile(r"^testio-[a-z]+-(\d+)-")


def _process_is_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_stages_of_dead_processes(parent: Path) -> int:
    """Remove the stage directories in `parent` whose owning process no longer runs; how many.

    A recycled pid makes a dead stage look alive: it stays until that process ends too."""
    removed = 0
    for candidate in parent.glob("testio-*-*"):
        match = _STAGE_NAME.match(candidate.name)
        if match and candidate.is_dir() and _process_is_gone(int(match.group(1))):
            shutil.rmtree(candidate, ignore_errors=True)
            removed += 1
    if removed:
        logger.warning("removed %d stage directories of killed runs in %s", removed, parent)
    return removed


class StageDirectory:
    """A context manager owning one temp directory, created on first use."""

    prefix = "testio-stage-"

    def __init__(self, label: str, directory: str | Path | None = None) -> None:
        self._label = label
        self._parent = Path(directory) if directory is not None else None
        self._directory: Path | None = None
        self._closed = False

    def __enter__(self) -> StageDirectory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    @property
    def directory(self) -> Path:
        """The stage's own directory, created on first use."""
        if self._closed:
            raise RuntimeError(f"stage of {self._label} is already cleaned up")
        if self._directory is None:
            if self._parent is not None:
                self._parent.mkdir(parents=True, exist_ok=True)
            parent = self._parent if self._parent is not None else Path(tempfile.gettempdir())
            remove_stages_of_dead_processes(parent)
            self._directory = Path(
                tempfile.mkdtemp(prefix=f"{self.prefix}{os.getpid()}-", dir=parent)
            )
        return self._directory

    def cleanup(self) -> None:
        """Delete the stage's files; the stage cannot be used afterwards."""
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None
        self._closed = True
