"""DuckDB memory settings for bulk writes, so a sync's peak RSS does not grow with the account.

By default DuckDB may use 80 % of RAM before it spills, so a merge of ~200,000 bugs simply
keeps everything in memory (~900 MB for 74,000 bugs). A limit makes its buffer manager spill
temp tables, joins, sorts and uncommitted appends to `temp_directory` instead; fewer threads
mean fewer per-thread buffers; without insertion order DuckDB may stream `CREATE TABLE AS` and
`INSERT ... SELECT`. Optimistic writes are turned off: they compress and write each full row
group (122,880 rows, ~130 MB of bug JSON) during the INSERT, outside the limit, which was the
largest single peak; without them the rows wait in the (spillable) buffer pool and are
compressed once, at the commit's checkpoint.

Settings are per database instance and last until its last connection closes, which for the
warehouse helpers (`connection.write_transaction`) is the end of the `with` block.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# measured on the large simulator account (~220,000 bugs, 210 MB of JSON), in a fresh process
# with optimistic writes on: 192 MB and 2 threads peaked at ~760 MB RSS, 128 MB and 1 thread at
# ~530 MB and was faster (the second thread mostly adds per-thread buffers on 2 cores); at
# 64 MB DuckDB could not pin what an append needs ("Out of Memory")
WRITE_MEMORY_LIMIT_BYTES = 128 << 20
# where a step's DuckDB spills, inside its stage directory so spill files go with the stage
SPILL_DIRECTORY = "spill"
WRITE_THREADS = 1


def configure_memory(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit_bytes: int = WRITE_MEMORY_LIMIT_BYTES,
    threads: int = WRITE_THREADS,
    temp_directory: str | Path | None = None,
) -> None:
    """Bound what DuckDB holds in memory on `con`'s database for the rest of its life.

    The limit covers DuckDB's buffer pool (temp tables, hash tables, uncommitted appends);
    compression and allocator slack come on top (~+250 MB at the peak of a large append).
    `temp_directory` is where it spills (default: DuckDB's `<database>.tmp`); a directory the
    caller deletes afterwards, e.g. inside a stage, keeps spill files from outliving the run.
    """
    con.execute(f"SET memory_limit = '{int(memory_limit_bytes)}B'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_optimistic_write = false")
    if temp_directory is not None:
        con.execute("SET temp_directory = ?", [str(temp_directory)])
