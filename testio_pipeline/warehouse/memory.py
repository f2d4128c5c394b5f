"""DuckDB memory settings for bulk writes, so a sync's peak RSS does not grow with the account.

By default DuckDB may use 80 % of RAM before it spills, so a merge of ~200,000 bugs simply
keeps everything in memory (~900 MB for 74,000 bugs). A limit makes its buffer manager spill
temp tables, joins, sorts and uncommitted appends to `temp_directory` instead; fewer threads
mean fewer per-thread buffers; without insertion order DuckDB may stream `CREATE TABLE AS` and
`INSERT ... SELECT`.

What the limit does not cover is compression: a row group (122,880 rows) is compressed column
by column when it is written, outside the buffer pool. For a column of raw JSON the expensive
part is the analysis for dictionary compression, which keeps a copy of every distinct string of
the row group (~120 MB for the bugs' `raw`, whose values are all distinct, so a dictionary
never wins there: FSST does). It is disabled for these writes. Measured with `sync_bugs` (when
it still parsed the JSON inside the write) on the large simulator account (~223,000 bugs,
210 MB of JSON), DuckDB's peak above the process's RSS before the write, and the write's CPU
time (medians of 2-3 fresh processes):

    settings                               first load       re-merge, 10 % changed
    optimistic writes off, dictionary on   ~320 MB, 7.3 s   ~290 MB
    optimistic writes on, no dictionary    ~200 MB, 6.6 s   ~185 MB

(a re-merge with nothing changed writes nothing and peaks at ~170 MB either way). The other
string columns of the rows written fall back to FSST; the file grew ~3 % (224 -> 231 MB).

Optimistic writes are on (DuckDB's default): once the dictionary analysis is gone they peak no
higher, and without them the commit first writes every appended row to the WAL (263 MB for the
first load of the bugs) and the checkpoint when the connection closes writes them again.

Settings are per database instance and last until its last connection closes, which for the
warehouse helpers (`connection.write_transaction`) is the end of the `with` block.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from testio_pipeline.warehouse.sql_values import sql_literal

# the budget for the whole sync process when nothing else is configured (TESTIO_MEMORY_BUDGET_MB)
DEFAULT_MEMORY_BUDGET_MB = 1024
MIN_MEMORY_BUDGET_MB = 256
# what the process needs besides DuckDB: Python, Dagster and the client with its buffers
# (a sync of the large account peaked ~230 MB above DuckDB's own use)
PROCESS_RESERVE_MB = 240
# of the rest: the write's DuckDB (the merges, which spill beyond it) and the Parquet worker
# (it converts during the fetch, with a one-chunk working set); the remaining share covers
# what DuckDB allocates outside its limit (row-group compression, ~50-70 MB) and slack
WRITE_SHARE = 0.55
CONVERT_SHARE = 0.2
# below these DuckDB fails on its own working sets (measured: the JSON reader plus the
# Parquet writer need ~96 MiB for a chunk; the tests merge of `medium` ran out at 32 MiB and
# passed at 64 MiB, which also carried twice `large` before budgets existed)
MIN_WRITE_LIMIT_BYTES = 64 << 20
MIN_CONVERT_LIMIT_BYTES = 96 << 20
# a merge compresses each row group it writes outside DuckDB's limit, one per thread: a thread
# beyond the first costs ~110-130 MB. Measured, first load, two runs each, one thread -> two:
# 4x `large` bugs write 10.3-10.9 -> 4.9-5.0 s, all merges 11.0 -> 6.2-6.7 s, peak RSS
# 761-788 -> 893-899 MB; 10x `large` bugs write 21.5 -> 17.0 s, peak RSS 889 -> 921 MB. The
# budget's share outside DuckDB's limits pays for one more thread per WRITE_THREAD_MB above
# WRITE_THREADS_BASE_MB
WRITE_THREADS_BASE_MB = 768
WRITE_THREAD_MB = 256
# what each thread beyond the first holds outside DuckDB's limit, taken off the write limit so
# the process stays within its budget (10x `large`, +24 h: peak RSS 979 MB of 1024 without it)
WRITE_THREAD_OVERHEAD_MB = 128


@dataclass(frozen=True)
class MemoryBudget:
    """How a sync process's memory budget is split: see the constants above and the README."""

    budget_mb: int = DEFAULT_MEMORY_BUDGET_MB

    @property
    def _usable_bytes(self) -> int:
        return max(0, self.budget_mb - PROCESS_RESERVE_MB) << 20

    @property
    def write_limit_bytes(self) -> int:
        """DuckDB's `memory_limit` while a step merges into the warehouse (its share of the
        budget, less what its threads beyond the first hold outside the limit)."""
        share = _whole_mib(self._usable_bytes * WRITE_SHARE)
        threads_overhead = (self.write_threads - 1) * (WRITE_THREAD_OVERHEAD_MB << 20)
        return max(MIN_WRITE_LIMIT_BYTES, share - threads_overhead)

    @property
    def write_threads(self) -> int:
        """DuckDB's `threads` while a step merges: 1 up to 1,023 MB, 2 from the default
        1,024 MB, one more per further 256 MB, never more than the machine's cores."""
        extra = max(0, self.budget_mb - WRITE_THREADS_BASE_MB) // WRITE_THREAD_MB
        return max(1, min(os.cpu_count() or 1, 1 + extra))

    @property
    def convert_limit_bytes(self) -> int:
        """The Parquet worker's DuckDB limit while the fetch goes on."""
        return max(MIN_CONVERT_LIMIT_BYTES, _whole_mib(self._usable_bytes * CONVERT_SHARE))


def _whole_mib(size: float) -> int:
    return (int(size) >> 20) << 20


class WarehouseMemoryError(RuntimeError):
    """A merge ran out of DuckDB memory although it spills: the budget is too small for it."""

    def __init__(self, budget: MemoryBudget, what: str, error: BaseException) -> None:
        super().__init__(
            f"{what} ran out of memory within a budget of {budget.budget_mb} MB (DuckDB "
            f"limit {budget.write_limit_bytes >> 20} MiB, spilling to disk beyond it): "
            f"{error}. Raise TESTIO_MEMORY_BUDGET_MB, or free disk space for the spill files."
        )


@contextmanager
def within_budget(budget: MemoryBudget, what: str) -> Iterator[None]:
    """Re-raise DuckDB's out-of-memory error as a `WarehouseMemoryError` naming the setting."""
    try:
        yield
    except duckdb.OutOfMemoryException as error:
        raise WarehouseMemoryError(budget, what, error) from error


# kept for callers that set no budget: the write limit of the default budget
WRITE_MEMORY_LIMIT_BYTES = MemoryBudget().write_limit_bytes
# where a step's DuckDB spills, inside its stage directory so spill files go with the stage
SPILL_DIRECTORY = "spill"
# callers that set no budget (a compaction or merge without one, tests): one thread
WRITE_THREADS = 1
# compression methods a bulk write must not analyze: see the module docstring
DISABLED_COMPRESSION_METHODS = "dictionary"


def configure_memory(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit_bytes: int = WRITE_MEMORY_LIMIT_BYTES,
    threads: int = WRITE_THREADS,
    temp_directory: str | Path | None = None,
) -> None:
    """Bound what DuckDB holds in memory on `con`'s database for the rest of its life.

    The limit covers DuckDB's buffer pool (temp tables, hash tables, uncommitted appends);
    compression of the row groups written and allocator slack come on top (~+50-70 MB over
    the limit for the bugs of a large account; see the module docstring).
    `temp_directory` is where it spills (default: DuckDB's `<database>.tmp`); a directory the
    caller deletes afterwards, e.g. inside a stage, keeps spill files from outliving the run.
    """
    con.execute(f"SET memory_limit = '{int(memory_limit_bytes)}B'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_optimistic_write = true")
    con.execute(f"SET disabled_compression_methods = {sql_literal(DISABLED_COMPRESSION_METHODS)}")
    if temp_directory is not None:
        # inlined, not a `?` parameter: binding any Python value makes duckdb import numpy and
        # pandas (~40-85 MB of RSS) into the process
        con.execute(f"SET temp_directory = {sql_literal(str(temp_directory))}")
