"""Raw API response bodies staged to disk, for DuckDB to parse (`ParquetChunks`).

The sibling of `staging.StagedRows` for endpoints too large to parse in Python (the bugs of a
large account): each checked body is appended as it arrives to the open file of a private
temp directory, so memory holds one body at a time. A file holds bodies up to `file_bytes`
(or `bodies_per_file`), one JSON document each, `{"seq": <arrival number>, "body": <the body,
bytes as received>}`: one file per body cost ~0.5 ms of CPU per file creation on the event
loop's thread under load (~1 s for the bugs of a large account), while DuckDB's JSON reader
needs far more memory per file the more documents a file holds (100 bug bodies, 13 MB, did
not fit 128 MiB). `testio.json_sql.staged_bodies_sql` reads them back.

A body is known by its id, `<file>#<seq, zero-padded>`, which the SQL also gives each body
(as `filename`): ids sort in arrival order, which decides "last one wins" for a record seen
twice, and an error raised while parsing names the id, which `labels` translate.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from testio_pipeline.warehouse.stage_directory import StageDirectory

SEQUENCE_DIGITS = 8
DEFAULT_BODIES_PER_FILE = 100
# a file is complete once it holds this much: ~2 `/bugs` bodies or ~3 test pages
DEFAULT_FILE_BYTES = 256 << 10


def body_id(path: Path, seq: int) -> str:
    """The id of body number `seq` in file `path` (what the SQL calls its `filename`)."""
    return f"{path}#{seq:0{SEQUENCE_DIGITS}d}"


class StagedBodies(StageDirectory):
    """Bodies of one endpoint in a temp directory removed on exit.

    `add` appends a body and returns its id; `labels` maps ids to the label a body was added
    with (e.g. which tests a `/bugs` body was asked for). `on_file` registers a callback for
    each file once it is complete: full, or closed by `finish`.
    """

    prefix = "testio-bodies-"

    def __init__(
        self,
        name: str,
        directory: str | Path | None = None,
        bodies_per_file: int = DEFAULT_BODIES_PER_FILE,
        file_bytes: int = DEFAULT_FILE_BYTES,
    ) -> None:
        if not name.isidentifier():
            raise ValueError(f"stage name must be a plain identifier, got {name!r}")
        if bodies_per_file < 1:
            raise ValueError("bodies_per_file must be at least 1")
        self.name = name
        self.bodies_per_file = bodies_per_file
        self.file_bytes = file_bytes
        super().__init__(name, directory)
        self._files: list[Path] = []
        self._labels: dict[str, str] = {}
        self._bodies = 0
        self._largest = 0
        self._open: BinaryIO | None = None
        self._in_open_file = 0
        self._open_bytes = 0
        self._on_file: Callable[[Path], None] | None = None

    def __enter__(self) -> StagedBodies:
        return self

    @property
    def files(self) -> list[Path]:
        """The staged files in arrival order (the last one may still be open)."""
        return list(self._files)

    @property
    def labels(self) -> dict[str, str]:
        """Body id -> the label it was added with."""
        return dict(self._labels)

    @property
    def body_count(self) -> int:
        """Bodies staged so far."""
        return self._bodies

    @property
    def largest_body(self) -> int:
        """Size of the largest body staged so far, in bytes."""
        return self._largest

    def on_file(self, callback: Callable[[Path], None]) -> None:
        """Call `callback(path)` for every file once it is complete."""
        self._on_file = callback

    def add(self, body: bytes, label: str = "") -> str:
        """Append one body (a JSON document, as received) and return its id."""
        if self._open is None:
            path = self.directory / f"{self.name}-{len(self._files):0{SEQUENCE_DIGITS}d}.json"
            self._open = path.open("wb")
            self._files.append(path)
        seq = self._bodies
        self._open.write(b'{"seq":%d,"body":' % seq + body + b"}\n")
        identifier = body_id(self._files[-1], seq)
        self._labels[identifier] = label
        self._bodies += 1
        self._largest = max(self._largest, len(body))
        self._in_open_file += 1
        self._open_bytes += len(body)
        if self._in_open_file >= self.bodies_per_file or self._open_bytes >= self.file_bytes:
            self._close_file()
        return identifier

    def finish(self) -> None:
        """Complete the open file, if any (no more bodies follow)."""
        self._close_file()

    def _close_file(self) -> None:
        if self._open is None:
            return
        self._open.close()
        self._open = None
        self._in_open_file = 0
        self._open_bytes = 0
        if self._on_file is not None:
            self._on_file(self._files[-1])

    def cleanup(self) -> None:
        """Close and delete the stage's files; the stage cannot be used afterwards."""
        if self._open is not None:
            self._open.close()
            self._open = None
        super().cleanup()
