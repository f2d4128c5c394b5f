"""The private temp directory a stage writes its files to, removed when the stage closes.

Shared by `staging.StagedRows` (Parquet rows) and `staged_bodies.StagedBodies` (raw bodies).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType


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
            self._directory = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self._parent))
        return self._directory

    def cleanup(self) -> None:
        """Delete the stage's files; the stage cannot be used afterwards."""
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._directory = None
        self._closed = True
