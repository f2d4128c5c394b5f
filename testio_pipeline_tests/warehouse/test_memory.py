"""DuckDB memory settings for bulk writes: applied to the connection's database, spilling
to the directory given."""

from __future__ import annotations

from pathlib import Path

import duckdb

from testio_pipeline.warehouse.memory import WRITE_MEMORY_LIMIT_BYTES, WRITE_THREADS, configure_memory


def settings(con: duckdb.DuckDBPyConnection, *names: str) -> list[str]:
    return [con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names]


def test_defaults_bound_memory_threads_order_and_optimistic_writes(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    configure_memory(con)
    limit, threads, order, optimistic = settings(
        con, "memory_limit", "threads", "preserve_insertion_order", "enable_optimistic_write"
    )
    assert limit == f"{WRITE_MEMORY_LIMIT_BYTES >> 20}.0 MiB"
    assert (threads, order, optimistic) == (WRITE_THREADS, False, False)


def test_a_low_limit_spills_a_large_temp_table_to_the_given_directory(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    spill = tmp_path / "spill"
    configure_memory(con, memory_limit_bytes=32 << 20, temp_directory=spill)
    # ~100 MB of text: more than the limit, so it can only exist partly on disk
    con.execute("CREATE TEMP TABLE big AS SELECT i, repeat(i::VARCHAR, 100) AS s FROM range(1000000) t(i)")
    spilled = con.execute("SELECT sum(temporary_storage_bytes) FROM duckdb_memory()").fetchone()[0]
    assert spilled > 0 and any(spill.iterdir())
    assert con.execute("SELECT count(*) FROM big").fetchone()[0] == 1_000_000
