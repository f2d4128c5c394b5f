"""Raw API response bodies staged as files, for DuckDB to parse at write time.

The sibling of `staging.StagedRows` for endpoints too large to parse in Python (the bugs of a
large account): each checked body is written as it arrives to its own file in a private temp
directory, so memory holds one body at a time, and the SQL that builds the rows
(`testio_pipeline.testio.bug_rows`) reads the files afterwards. File names are zero-padded
sequence numbers, so name order is arrival order, which decides "last one wins" for a record
seen twice.
"""

from __future__ import annotations

from pathlib import Path

from testio_pipeline.warehouse.stage_directory import StageDirectory

SEQUENCE_DIGITS = 8


class StagedBodies(StageDirectory):
    """Bodies of one endpoint, one file each, in a temp directory removed on exit.

    `add` writes the bytes as they are and remembers a label per file (e.g. which tests a
    `/bugs` body was asked for), so an error raised while reading a file can name what the
    file holds (`labels`).
    """

    prefix = "testio-bodies-"

    def __init__(self, name: str, directory: str | Path | None = None) -> None:
        if not name.isidentifier():
            raise ValueError(f"stage name must be a plain identifier, got {name!r}")
        self.name = name
        super().__init__(name, directory)
        self._files: list[Path] = []
        self._labels: dict[str, str] = {}
        self._bytes = 0
        self._largest = 0

    def __enter__(self) -> StagedBodies:
        return self

    @property
    def files(self) -> list[Path]:
        """The staged files in arrival order."""
        return list(self._files)

    @property
    def labels(self) -> dict[str, str]:
        """File path (as text) -> the label it was added with."""
        return dict(self._labels)

    @property
    def byte_count(self) -> int:
        """Bytes staged so far."""
        return self._bytes

    @property
    def largest_body(self) -> int:
        """Size of the largest body staged so far, in bytes."""
        return self._largest

    def add(self, body: bytes, label: str = "") -> Path:
        """Write one body to a new file; returns its path."""
        path = self.directory / f"{self.name}-{len(self._files):0{SEQUENCE_DIGITS}d}.json"
        path.write_bytes(body)
        self._files.append(path)
        self._labels[str(path)] = label
        self._bytes += len(body)
        self._largest = max(self._largest, len(body))
        return path

