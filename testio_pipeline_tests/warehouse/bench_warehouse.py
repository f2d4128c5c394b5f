"""Benchmark of the warehouse layer (not a test): staging memory and merge speed.

    .venv/bin/python -m testio_pipeline_tests.warehouse.bench_warehouse [--rows 200000]

Stages `--rows` bug rows with ~1.5 KB of barely compressible raw JSON each and reports the
peak RSS growth while staging; then times merges into a real DuckDB file under a temp dir:
first load, no-change re-merge, 10 % changed, and a scoped delete of 10 %.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

from testio_pipeline.warehouse.connection import open_for_read, write_transaction
from testio_pipeline.warehouse.merge import MergeCounts, merge
from testio_pipeline.warehouse.schema import BUGS
from testio_pipeline.warehouse.staging import StagedRows
from testio_pipeline_tests.warehouse.rows import large_bug_rows


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _changed(rows: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for row in rows:
        if row["id"] % 10 == 0:
            raw = json.loads(row["raw"])
            raw["status"] = "rejected"
            row = dict(row, status="rejected", raw=json.dumps(raw))
        yield row


def _merge(
    db: Path, stage_dir: Path, label: str, rows: Iterable[dict[str, Any]], **options: Any
) -> MergeCounts:
    started = time.perf_counter()
    with StagedRows(BUGS, directory=stage_dir) as stage:
        stage.extend(rows)
        stage.flush()
        staged = time.perf_counter()
        cpu = time.process_time()
        with write_transaction(db) as con:
            counts = merge(con, BUGS, stage, **options)
        done = time.perf_counter()
        cpu = time.process_time() - cpu
    print(
        f"{label:<20} stage {staged - started:6.2f} s  merge+commit {done - staged:6.2f} s "
        f"(cpu {cpu:.2f} s)  {counts}"
    )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    rows: int = args.rows

    with tempfile.TemporaryDirectory(prefix="testio-bench-") as tmp:
        tmp_path = Path(tmp)
        rss_before = psutil.Process().memory_info().rss / 2**20
        peak_before = _peak_rss_mib()
        started = time.perf_counter()
        raw_bytes = 0
        with StagedRows(BUGS, directory=tmp_path / "stage") as stage:
            for row in large_bug_rows(rows):
                raw_bytes += len(row["raw"])
                stage.append(row)
            stage.flush()
            files = stage.files
            parquet_mib = sum(f.stat().st_size for f in files) / 2**20
        elapsed = time.perf_counter() - started
        print(
            f"staging {rows:,} rows ({raw_bytes / rows:,.0f} B raw JSON each, "
            f"{raw_bytes / 2**20:,.0f} MiB): "
            f"{elapsed:.2f} s, {len(files)} Parquet files, {parquet_mib:.0f} MiB; "
            f"peak RSS growth {max(0.0, _peak_rss_mib() - max(peak_before, rss_before)):.0f} MiB"
        )

        db = tmp_path / "warehouse.duckdb"
        scope = {"delete_where": "customer_id = ?", "delete_params": [1]}
        _merge(db, tmp_path / "stage", "first load", large_bug_rows(rows), **scope)
        _merge(db, tmp_path / "stage", "no-change re-merge", large_bug_rows(rows), **scope)
        _merge(db, tmp_path / "stage", "10% changed", _changed(large_bug_rows(rows)), **scope)
        _merge(
            db,
            tmp_path / "stage",
            "10% gone (deleted)",
            (r for r in _changed(large_bug_rows(rows)) if r["id"] % 10 != 1),
            **scope,
        )
        with open_for_read(db) as con:
            count = con.execute("SELECT count(*) FROM bugs").fetchone()
        print(
            f"bugs rows {count[0] if count else 0:,}; file {db.stat().st_size / 2**20:.0f} MiB; "
            f"peak RSS of the whole run {_peak_rss_mib():.0f} MiB"
        )


if __name__ == "__main__":
    main()
