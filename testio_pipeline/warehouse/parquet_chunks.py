"""Staged body files turned into typed Parquet on a worker thread, while fetching goes on.

Parsing raw JSON is most of a bulk write's work (the bugs of a large account: ~3.5 s of CPU
for 210 MB of JSON), and a fetch spends most of its time waiting on the network. So the sync
hands every complete staged file (`StagedBodies`, ~256 KB each) to a `ParquetChunks`; every
`chunk_bytes` of files become one chunk that a worker thread converts with its own private
in-memory DuckDB (`COPY (<row SQL>) TO '<chunk>.parquet'`), overlapping the requests still in
flight. DuckDB releases the GIL while it runs, so the event loop keeps serving responses. One
chunk at a time while the fetch goes on (the event loop needs the other core); the chunks
still queued when it is over are converted two at a time, each worker with its own
single-threaded DuckDB and the same memory limit.

At write time the merge reads the Parquet chunks (typed, LZ4-compressed, ~6x smaller than
the JSON), which is cheap enough to read more than once: the merge takes them as a view
(`merge.ViewSource`), never as a copy in DuckDB's memory.

Rows are built by SQL the caller passes per chunk (`chunk_sql`), built on the caller's thread
when the chunk is submitted, so it can inline what the caller knows at that moment (e.g. the
bug ids already seen twice). A conversion error is kept and raised by `finish`, after the
fetch, before anything is written; later chunks are not converted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from testio_pipeline.warehouse.sql_values import sql_literal

# a chunk is complete at either limit: ~9,000 bugs or ~2,500 tests
DEFAULT_FILES_PER_CHUNK = 100
DEFAULT_CHUNK_BYTES = 8 << 20
# measured on the large simulator account: 64 MiB ran out of memory in the JSON reader plus the
# Parquet writer, 96 MiB peaks ~80 MB above the process; chunks of 12 MiB of test pages ran out
# of it (8 MiB pass)
CONVERT_MEMORY_LIMIT_BYTES = 96 << 20
# a chunk that runs out of memory is converted again with twice the limit, this many times
OUT_OF_MEMORY_RETRIES = 2
# the JSON reader takes one buffer of max(32 MiB, 2 x maximum_object_size) from the pool
# (DuckDB 1.5): a chunk of very large bodies gets room for a few of them on top
BODY_BUFFERS = 4
# Parquet row groups, whichever limit comes first: the writer buffers one group and a reader
# one column chunk, and the merge reads the chunks in several places of one query; at 5,000
# rows a group of tests (~3.3 KB of raw JSON each) needed 16 MiB at once, and a re-merge of
# twice the large account ran out of memory at 64 MiB
ROW_GROUP_ROWS = 5000
ROW_GROUP_BYTES = 2 << 20
# LZ4, not zstd: the chunks live minutes on local disk; for bug rows zstd made files a third
# smaller but cost ~8 % more CPU to write and ~15 % more to read, CPU the fetch shares
CHUNK_COMPRESSION = "lz4_raw"
CHUNK_DIGITS = 6
# chunks converted side by side once the fetch is over (nothing else runs then), each on its
# own single-threaded DuckDB: measured on the tests of `large`, 13 chunks left at the end of
# the listing took 0.17-0.19 s each with one DuckDB of two threads (small chunks parallelize
# poorly inside one query), the whole tail 2.3 s
FINISH_WORKERS = 2


@dataclass(frozen=True)
class ChunkSql:
    """What one chunk runs: `temp_tables` (name -> SELECT, created in order, e.g. records
    parsed once for several outputs, dropped afterwards), then one Parquet file per output
    (name -> SELECT)."""

    outputs: dict[str, str]
    temp_tables: dict[str, str] = field(default_factory=dict)
    # the largest JSON document the SQL reads: the JSON reader needs room for a few
    largest_document_bytes: int = 0


# the SQL of a chunk of staged files
ChunkPlanner = Callable[[list[Path]], ChunkSql]


class ParquetChunks:
    """Converts files into Parquet chunks on a worker thread (two once the fetch is over);
    see the module docstring.

    `add` each file as it is staged, then `finish` (waits, raises the first conversion
    error) and read `files(name)`. Always `close` (or use as a context manager): it stops
    the worker even when the fetch failed.
    """

    def __init__(
        self,
        directory: Path,
        chunk_sql: ChunkPlanner,
        *,
        files_per_chunk: int = DEFAULT_FILES_PER_CHUNK,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        memory_limit_bytes: int = CONVERT_MEMORY_LIMIT_BYTES,
        log: logging.Logger | None = None,
    ) -> None:
        if files_per_chunk < 1:
            raise ValueError("files_per_chunk must be at least 1")
        self._directory = directory
        self._chunk_sql = chunk_sql
        self._files_per_chunk = files_per_chunk
        self._chunk_bytes = chunk_bytes
        self._pending_bytes = 0
        self._memory_limit = int(memory_limit_bytes)
        self._log = log
        self._pending: list[Path] = []
        self._chunks = 0
        self._futures: list[Future[dict[str, Path]]] = []
        self._outputs: dict[str, list[Path]] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=FINISH_WORKERS, thread_name_prefix="parquet-chunks"
        )
        # chunks start in order, one at a time while the fetch needs the other core, up to
        # FINISH_WORKERS once it is done
        self._turns = threading.Condition()
        self._next_to_start = 0
        self._running = 0
        self._parallel = 1
        # each worker thread's own in-memory DuckDB, and all of them, to close
        self._local = threading.local()
        self._connections: list[duckdb.DuckDBPyConnection] = []
        self._connections_lock = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._waited = 0.0

    def __enter__(self) -> ParquetChunks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, path: Path) -> None:
        """Queue one staged file; `files_per_chunk` files or `chunk_bytes` start a conversion."""
        self._pending.append(path)
        self._pending_bytes += path.stat().st_size
        if len(self._pending) >= self._files_per_chunk or self._pending_bytes >= self._chunk_bytes:
            self._submit()

    def finish(self) -> None:
        """Convert what is still queued, wait for every chunk, raise the first error."""
        if self._pending:
            self._submit()
        with self._turns:
            self._parallel = FINISH_WORKERS
            self._turns.notify_all()
        started = time.perf_counter()
        for future in self._futures:
            outputs = future.result()
            for name, path in outputs.items():
                self._outputs.setdefault(name, []).append(path)
        self._futures = []
        self._waited = time.perf_counter() - started
        if self._error is not None:
            raise self._error

    @property
    def directory(self) -> Path:
        """Where the chunks (and the worker's spill files) are written."""
        return self._directory

    @property
    def wait_seconds(self) -> float:
        """How long `finish` waited for conversions still running after the fetch."""
        return self._waited

    def files(self, name: str) -> list[Path]:
        """The Parquet chunks of output `name`, in submission order (after `finish`)."""
        return list(self._outputs.get(name, []))

    def close(self) -> None:
        """Stop the workers (queued chunks are dropped) and close their DuckDBs."""
        with self._turns:
            self._closed = True
            self._turns.notify_all()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._connections_lock:
            for con in self._connections:
                con.close()
            self._connections = []

    def _submit(self) -> None:
        files, self._pending, self._pending_bytes = self._pending, [], 0
        statements = self._chunk_sql(files)
        reading = BODY_BUFFERS * statements.largest_document_bytes
        memory = max(self._memory_limit, self._memory_limit // 2 + reading)
        self._futures.append(
            self._executor.submit(self._convert, self._chunks, statements, memory)
        )
        self._chunks += 1

    def _convert(self, index: int, statements: ChunkSql, memory: int) -> dict[str, Path]:
        # runs on a worker thread: waits for its turn (order of submission, see `_parallel`)
        with self._turns:
            self._turns.wait_for(
                lambda: self._closed
                or (index == self._next_to_start and self._running < self._parallel)
            )
            if self._closed:
                return {}
            self._next_to_start += 1
            self._running += 1
            self._turns.notify_all()
        try:
            return self._convert_now(index, statements, memory)
        finally:
            with self._turns:
                self._running -= 1
                self._turns.notify_all()

    def _convert_now(self, index: int, statements: ChunkSql, memory: int) -> dict[str, Path]:
        if self._error is not None or self._closed:
            return {}
        try:
            attempt = 0
            while True:
                try:
                    return self._write_chunk(index, statements, memory << attempt)
                except duckdb.OutOfMemoryException as error:
                    # an unusually dense chunk: better slower with more memory than no sync
                    if attempt == OUT_OF_MEMORY_RETRIES:
                        raise
                    if self._log:
                        self._log.warning(
                            f"chunk {index} needs more than {(memory << attempt) >> 20} MiB to "
                            f"become Parquet ({error}); trying again with twice that"
                        )
                    attempt += 1
        except BaseException as error:  # kept for finish(): the fetch must go on meanwhile
            self._error = error
            if self._log:
                self._log.warning(f"converting chunk {index} to Parquet failed: {error}")
            return {}

    def _write_chunk(self, index: int, statements: ChunkSql, memory: int) -> dict[str, Path]:
        con = self._connection()
        con.execute(f"SET memory_limit = '{int(memory)}B'")
        outputs = {}
        try:
            for name, sql in statements.temp_tables.items():
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
            for name, sql in statements.outputs.items():
                path = self._directory / f"{name}-{index:0{CHUNK_DIGITS}d}.parquet"
                con.execute(
                    f"COPY ({sql}) TO {sql_literal(str(path))} "
                    f"(FORMAT parquet, COMPRESSION {CHUNK_COMPRESSION}, "
                    f"ROW_GROUP_SIZE {ROW_GROUP_ROWS}, ROW_GROUP_SIZE_BYTES {ROW_GROUP_BYTES})"
                )
                outputs[name] = path
        finally:
            for name in statements.temp_tables:
                con.execute(f"DROP TABLE IF EXISTS {name}")
        return outputs

    def _connection(self) -> duckdb.DuckDBPyConnection:
        con = getattr(self._local, "con", None)
        if con is None:
            with self._connections_lock:
                # a spill directory per DuckDB: two databases must not share temp files
                spill = self._directory / f"spill-{len(self._connections)}"
                con = duckdb.connect(":memory:")
                con.execute("SET threads = 1")
                con.execute("SET preserve_insertion_order = false")
                con.execute(f"SET temp_directory = {sql_literal(str(spill))}")
                self._connections.append(con)
            self._local.con = con
        return con


def chunk_rows_sql(
    files: Sequence[Path],
    columns: Sequence[str],
    key: str,
    repeated_keys: set[int],
    *,
    where: str = "true",
) -> str:
    """`columns` of the rows in Parquet `files` that satisfy `where`, one row per `key`: a
    key in `repeated_keys` (seen in more than one chunk) keeps its row from the last chunk
    (file name order).

    Only the repeated keys go through a window: a window over every row is what DuckDB cannot
    keep within a small memory limit.
    """
    listed = "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"
    selected = ", ".join(columns)
    read = f"read_parquet({listed}, filename = true)"
    if not repeated_keys:
        return f"SELECT {selected} FROM {read} WHERE {where}"
    keys = "[" + ", ".join(str(int(k)) for k in sorted(repeated_keys)) + "]::BIGINT[]"
    return (
        f"SELECT {selected} FROM {read} WHERE ({where}) AND NOT list_contains({keys}, {key}) "
        f"UNION ALL SELECT {selected} FROM {read} WHERE ({where}) AND list_contains({keys}, {key}) "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY filename DESC) = 1"
    )
