"""DuckDB memory settings for bulk writes: applied to the connection's database, spilling
to the directory given."""

from __future__ import annotations

from pathlib import Path

import duckdb

from testio_pipeline.warehouse.memory import (
    DISABLED_COMPRESSION_METHODS,
    WRITE_MEMORY_LIMIT_BYTES,
    WRITE_THREADS,
    configure_memory,
)


def settings(con: duckdb.DuckDBPyConnection, *names: str) -> list[str]:
    return [con.execute(f"SELECT current_setting('{n}')").fetchone()[0] for n in names]


def test_defaults_bound_memory_threads_order_and_compression(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    configure_memory(con)
    limit, threads, order, optimistic, disabled = settings(
        con,
        "memory_limit",
        "threads",
        "preserve_insertion_order",
        "enable_optimistic_write",
        "disabled_compression_methods",
    )
    assert limit == f"{WRITE_MEMORY_LIMIT_BYTES >> 20}.0 MiB"
    assert (threads, order, optimistic) == (WRITE_THREADS, False, True)
    assert disabled.lower() == DISABLED_COMPRESSION_METHODS


def test_a_large_write_stores_distinct_strings_without_dictionary_compression(
    tmp_path: Path,
) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    configure_memory(con)
    con.execute("CREATE TABLE t AS SELECT md5(i::VARCHAR) AS s, (i % 3)::VARCHAR AS k FROM range(200000) t(i)")
    con.execute("CHECKPOINT")
    methods = {
        row[0]
        for row in con.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('t') WHERE segment_type = 'VARCHAR'"
        ).fetchall()
    }
    assert methods and "Dictionary" not in methods


def test_a_temp_directory_with_a_quote_is_set_as_given(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    spill = tmp_path / "it's spill"
    configure_memory(con, temp_directory=spill)
    assert settings(con, "temp_directory") == [str(spill)]


def test_a_low_limit_spills_a_large_temp_table_to_the_given_directory(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    spill = tmp_path / "spill"
    configure_memory(con, memory_limit_bytes=32 << 20, temp_directory=spill)
    # ~100 MB of text: more than the limit, so it can only exist partly on disk
    con.execute("CREATE TEMP TABLE big AS SELECT i, repeat(i::VARCHAR, 100) AS s FROM range(1000000) t(i)")
    spilled = con.execute("SELECT sum(temporary_storage_bytes) FROM duckdb_memory()").fetchone()[0]
    assert spilled > 0 and any(spill.iterdir())
    assert con.execute("SELECT count(*) FROM big").fetchone()[0] == 1_000_000
