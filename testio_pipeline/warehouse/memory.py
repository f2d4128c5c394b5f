"""DuckDB memory settings for bulk writes, so a sync's peak RSS does not grow with the account.

By default DuckDB may use 80 % of RAM before it spills, so a merge of ~200,000 bugs simply
keeps everything in memory (~900 MB for 74,000 bugs). A limit makes its buffer manager spill
temp tables, joins and sorts to `temp_directory` instead; fewer threads mean fewer per-thread
buffers; without insertion order DuckDB may stream `CREATE TABLE AS` and `INSERT ... SELECT`.

Settings are per database instance and last until its last connection closes, which for the
warehouse helpers (`connection.write_transaction`) is the end of the `with` block.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

# enough for DuckDB to merge ~220,000 bugs in a few seconds, small enough that the whole
# process (Dagster, client, DuckDB) stays well under 400 MB
WRITE_MEMORY_LIMIT = "192MB"
WRITE_THREADS = 2


def configure_memory(
    con: duckdb.DuckDBPyConnection,
    *,
    memory_limit: str = WRITE_MEMORY_LIMIT,
    threads: int = WRITE_THREADS,
    temp_directory: str | Path | None = None,
) -> None:
    """Bound what DuckDB holds in memory on `con`'s database for the rest of its life.

    `temp_directory` is where it spills (default: DuckDB's `<database>.tmp`); a directory the
    caller deletes afterwards, e.g. inside a stage, keeps spill files from outliving the run.
    """
    con.execute("SET memory_limit = ?", [memory_limit])
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    if temp_directory is not None:
        con.execute("SET temp_directory = ?", [str(temp_directory)])
