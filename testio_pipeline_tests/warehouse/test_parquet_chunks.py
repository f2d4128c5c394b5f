"""ParquetChunks: staged files become Parquet chunks on a worker thread while fetching goes on;
errors wait for `finish`; a key repeated across chunks keeps its row from the last chunk."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from pathlib import Path

import duckdb
import pytest

from testio_pipeline.warehouse import parquet_chunks
from testio_pipeline.warehouse.parquet_chunks import ChunkSql, ParquetChunks, chunk_rows_sql


def stage_files(directory: Path, bodies: list[list[dict]]) -> list[Path]:
    paths = []
    for n, rows in enumerate(bodies):
        path = directory / f"body-{n:04d}.json"
        path.write_text(json.dumps({"rows": rows}))
        paths.append(path)
    return paths


def rows_sql(files: list[Path]) -> ChunkSql:
    listed = ", ".join(f"'{f}'" for f in files)
    return ChunkSql(
        outputs={"items": "SELECT CAST(r->>'id' AS BIGINT) AS id, r->>'name' AS name FROM parsed"},
        temp_tables={
            "parsed": (
                f"SELECT unnest(rows) AS r FROM read_json([{listed}], "
                f"columns = {{rows: 'JSON[]'}}, format = 'unstructured')"
            )
        },
    )


def read(files: list[Path], sql: str | None = None) -> list[tuple]:
    con = duckdb.connect()
    query = sql or "SELECT id, name FROM read_parquet([{}])".format(
        ", ".join(f"'{f}'" for f in files)
    )
    return sorted(con.execute(query).fetchall())


def test_every_files_per_chunk_files_become_one_chunk_converted_off_the_calling_thread(
    tmp_path: Path,
) -> None:
    paths = stage_files(tmp_path, [[{"id": n, "name": f"n{n}"}] for n in range(5)])
    threads = set()

    with ParquetChunks(tmp_path, rows_sql, files_per_chunk=2) as chunks:
        original = chunks._convert

        def convert(*args):
            threads.add(threading.current_thread().name)
            return original(*args)

        chunks._convert = convert
        for path in paths:
            chunks.add(path)
        chunks.finish()
        files = chunks.files("items")

    assert [f.name for f in files] == [
        "items-000000.parquet", "items-000001.parquet", "items-000002.parquet"
    ]
    assert read(files) == [(n, f"n{n}") for n in range(5)]
    assert threads and threading.current_thread().name not in threads


def test_a_conversion_error_is_raised_by_finish_and_later_chunks_are_skipped(
    tmp_path: Path,
) -> None:
    good = stage_files(tmp_path, [[{"id": 1, "name": "a"}]])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with ParquetChunks(tmp_path, rows_sql, files_per_chunk=1) as chunks:
        chunks.add(good[0])
        chunks.add(broken)  # no exception while fetching goes on
        chunks.add(good[0])
        # while the fetch goes on, chunks are converted one at a time, in order
        concurrent.futures.wait(chunks._futures)
        with pytest.raises(duckdb.Error):
            chunks.finish()
    assert not list(tmp_path.glob("items-000002.parquet"))


def test_chunks_left_at_the_end_of_the_fetch_are_converted_side_by_side(
    tmp_path: Path,
) -> None:
    paths = stage_files(tmp_path, [[{"id": n, "name": f"n{n}"}] for n in range(6)])
    running, most = 0, 0
    lock = threading.Lock()
    with ParquetChunks(tmp_path, rows_sql, files_per_chunk=1) as chunks:
        convert_now = chunks._convert_now

        def counted(*args):
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                time.sleep(0.05)
                return convert_now(*args)
            finally:
                with lock:
                    running -= 1

        chunks._convert_now = counted
        for path in paths[:3]:
            chunks.add(path)
        concurrent.futures.wait(chunks._futures)
        assert most == 1  # during the fetch: one at a time
        for path in paths[3:]:
            chunks.add(path)
        chunks.finish()
        files = chunks.files("items")
    assert most == 2
    assert read(files) == [(n, f"n{n}") for n in range(6)]


def test_close_without_finish_stops_the_worker(tmp_path: Path) -> None:
    paths = stage_files(tmp_path, [[{"id": n, "name": "x"}] for n in range(3)])
    chunks = ParquetChunks(tmp_path, rows_sql, files_per_chunk=1)
    for path in paths:
        chunks.add(path)
    chunks.close()
    assert chunks._executor._shutdown


def test_a_key_repeated_across_chunks_keeps_the_row_of_the_last_chunk(tmp_path: Path) -> None:
    paths = stage_files(
        tmp_path,
        [[{"id": 1, "name": "old"}, {"id": 2, "name": "b"}], [{"id": 1, "name": "new"}]],
    )
    with ParquetChunks(tmp_path, rows_sql, files_per_chunk=1) as chunks:
        for path in paths:
            chunks.add(path)
        chunks.finish()
        files = chunks.files("items")
        deduplicated = chunk_rows_sql(files, ["id", "name"], "id", {1})
        everything = chunk_rows_sql(files, ["id", "name"], "id", set())
        assert read(files, deduplicated) == [(1, "new"), (2, "b")]
        assert read(files, everything) == [(1, "new"), (1, "old"), (2, "b")]


def test_a_chunk_that_runs_out_of_memory_is_converted_again_with_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the JSON reader alone takes a 32 MiB buffer: 12 and 24 MiB fail, 48 MiB passes (twice
    # that with the two threads of `finish`, so 12 MiB needs one retry or two, 4 MiB three)
    paths = stage_files(tmp_path, [[{"id": 1, "name": "a"}]])
    with ParquetChunks(tmp_path, rows_sql, memory_limit_bytes=12 << 20) as chunks:
        chunks.add(paths[0])
        chunks.finish()
        assert read(chunks.files("items")) == [(1, "a")]
    monkeypatch.setattr(parquet_chunks, "OUT_OF_MEMORY_RETRIES", 1)
    with ParquetChunks(tmp_path, rows_sql, memory_limit_bytes=4 << 20) as chunks:
        chunks.add(paths[0])
        with pytest.raises(duckdb.OutOfMemoryException):
            chunks.finish()
