"""The memory budget: how it is split, that the merges complete within a tiny one (spilling),
and that running out names the setting."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.warehouse.memory import (
    MIN_CONVERT_LIMIT_BYTES,
    MIN_WRITE_LIMIT_BYTES,
    WRITE_THREAD_OVERHEAD_MB,
    MemoryBudget,
    WarehouseMemoryError,
    within_budget,
)
from testio_pipeline_tests.ingest.harness import assert_warehouse_matches, query, served


def test_the_budget_is_split_between_the_write_and_the_parquet_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    default = MemoryBudget()
    assert default.budget_mb == 1024
    # DuckDB's two limits, plus what the merge's second thread holds outside its limit,
    # leave the process its reserve
    extra_threads = (default.write_threads - 1) * WRITE_THREAD_OVERHEAD_MB
    assert (default.write_limit_bytes + default.convert_limit_bytes) >> 20 < (
        1024 - 200 - extra_threads
    )
    bigger = MemoryBudget(4096)
    assert bigger.write_limit_bytes > 4 * default.write_limit_bytes > 0
    tiny = MemoryBudget(256)
    assert (tiny.write_limit_bytes, tiny.convert_limit_bytes) == (
        MIN_WRITE_LIMIT_BYTES, MIN_CONVERT_LIMIT_BYTES,
    )


def test_merges_get_a_second_thread_from_the_default_budget_and_never_more_than_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [MemoryBudget(mb).write_threads for mb in (256, 1023, 1024, 1279, 1280, 2048)] == [
        1, 1, 2, 2, 3, 6,
    ]
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert MemoryBudget(4096).write_threads == 2
    # a second thread's share comes off the write limit, not on top of the budget
    two = MemoryBudget(1024).write_limit_bytes
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert MemoryBudget(1024).write_threads == 1
    assert MemoryBudget(1024).write_limit_bytes - two == WRITE_THREAD_OVERHEAD_MB << 20
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert MemoryBudget(4096).write_threads == 1


def test_running_out_of_memory_names_the_setting() -> None:
    con = duckdb.connect()
    # 8 MB and nowhere to spill: a window over long strings cannot fit
    con.execute("SET memory_limit = '8MB'")
    con.execute("SET temp_directory = ''")
    big = (
        "SELECT max(s) FROM (SELECT string_agg(i::VARCHAR, ',') OVER "
        "(ORDER BY i ROWS BETWEEN 1000 PRECEDING AND CURRENT ROW) AS s FROM range(2000000) t(i))"
    )
    with pytest.raises(WarehouseMemoryError, match="TESTIO_MEMORY_BUDGET_MB") as caught:
        with within_budget(MemoryBudget(300), "the merge of the bugs"):
            con.execute(big).fetchall()
    assert "the merge of the bugs" in str(caught.value) and "300 MB" in str(caught.value)


def test_the_tests_and_bugs_merges_complete_within_a_tiny_budget(tmp_path: Path) -> None:
    # `medium` at the smallest budget: DuckDB's write limit is 64 MiB, far below what the
    # merges of ~3,200 tests and ~29,000 bugs with their raw JSON hold, so they must spill
    sim = Simulator(SimulatorConfig(size="medium", seed=3))
    with served(sim, tmp_path / "testio.duckdb") as account:
        # the catalog is re-fetched on every run: the simulated day passes in no time
        resources = account.resources(catalog_ttl_minutes=0)
        resources["warehouse"] = WarehouseResource(path=str(account.db_path), memory_budget_mb=256)
        assert dg.materialize(INGEST_ASSETS, resources=resources).success
        assert_warehouse_matches(account.db_path, sim.ground_truth())
        sim.advance(hours=24)
        assert dg.materialize(INGEST_ASSETS, resources=resources).success
        assert_warehouse_matches(account.db_path, sim.ground_truth())
        assert query(account.db_path, "SELECT count(*) FROM bugs")[0][0] > 20_000
