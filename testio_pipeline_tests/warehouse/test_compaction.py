"""A compacting publish (the nightly reconciliation's) rewrites a working file whose blocks are
mostly free and leaves a lean one as it is; a compacted file holds the same tables, views,
constraints and rows. An ordinary publish never compacts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from testio_pipeline.warehouse import publish
from testio_pipeline.warehouse.connection import open_for_write
from testio_pipeline.warehouse.memory import MemoryBudget

ROWS = 200_000


def _content(path: Path) -> dict[str, object]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            "bugs": con.execute(
                "SELECT count(*), sum(hash(customer_id, id, title)) FROM bugs"
            ).fetchone(),
            "view": con.execute("SELECT count(*) FROM open_bugs").fetchone(),
            "constraints": con.execute(
                "SELECT table_name, constraint_type, constraint_column_names "
                "FROM duckdb_constraints() ORDER BY ALL"
            ).fetchall(),
        }


def _free_share(path: Path) -> float:
    with duckdb.connect(str(path), read_only=True) as con:
        return publish.free_block_share(con)


@pytest.fixture
def working(tmp_path: Path) -> Path:
    # a file name that is no plain SQL identifier (the compacted database is named after it)
    path = tmp_path / ".work" / "testio-warehouse.duckdb"
    with open_for_write(path) as con:
        con.execute(
            f"INSERT INTO bugs (customer_id, id, test_id, title, status) SELECT 1, i, i % 500, "
            f"'bug ' || i || repeat('x', 40), 'accepted' FROM range({ROWS}) t(i)"
        )
        con.execute("CREATE VIEW open_bugs AS SELECT * FROM bugs WHERE status = 'accepted'")
        con.execute("CHECKPOINT")
    return path


def test_a_file_of_mostly_free_blocks_is_compacted_before_it_is_published(
    working: Path, tmp_path: Path
) -> None:
    # rewriting most rows leaves the blocks of their old row groups free
    with open_for_write(working) as con:
        con.execute(f"DELETE FROM bugs WHERE id >= {ROWS // 4}")
        con.execute("CHECKPOINT")
    assert _free_share(working) > publish.COMPACT_FREE_SHARE
    before, content = working.stat().st_size, _content(working)

    published = tmp_path / "testio.duckdb"
    # an ordinary publish copies the file as it is
    assert publish.publish(working, published, lock_wait_seconds=5).method in ("copy", "reflink")
    assert working.stat().st_size == before

    # a compaction killed half way left its new file and spill directory behind
    (working.parent / f".{working.name}.999.compacting").write_bytes(b"partial")
    (working.parent / f".{working.name}.999.compacting.spill").mkdir()
    done = publish.publish(
        working,
        published,
        lock_wait_seconds=5,
        compact_free_share=publish.COMPACT_FREE_SHARE,
        memory_limit_bytes=64 << 20,
    )

    assert done.method.startswith("compacted")
    assert working.stat().st_size < before * 0.7
    assert published.stat().st_size == working.stat().st_size
    assert _content(working) == _content(published) == content
    assert _free_share(published) < publish.COMPACT_FREE_SHARE
    # nothing of the compaction is left beside the working file
    assert sorted(p.name for p in working.parent.iterdir()) == [working.name]
    # the compacted file is the warehouse from now on: writable, keys still enforced
    with open_for_write(working) as con, pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO bugs (customer_id, id) VALUES (1, 1)")


def test_a_compaction_killed_half_way_leaves_the_working_file_and_the_next_one_completes(
    working: Path,
) -> None:
    """SIGKILL while the new file is being written (a real process, not a simulated leftover):
    the working file is the old one, untouched; the next compaction clears what the killed one
    left and completes."""
    with open_for_write(working) as con:
        con.execute(f"DELETE FROM bugs WHERE id >= {ROWS // 4}")
        con.execute("CHECKPOINT")
    content, before = _content(working), working.read_bytes()
    compacting = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from testio_pipeline.warehouse import publish; "
         "publish.compact(Path(sys.argv[1]))", str(working)],
    )
    temporary = working.with_name(f".{working.name}.{compacting.pid}.compacting")
    deadline = time.monotonic() + 60
    # killed once the new file has content: DuckDB is copying the tables into it
    while not (temporary.exists() and temporary.stat().st_size > 0):
        assert compacting.poll() is None, "the compaction ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    os.kill(compacting.pid, signal.SIGKILL)
    assert compacting.wait() == -signal.SIGKILL

    assert working.read_bytes() == before
    assert _content(working) == content
    assert temporary.exists()  # what the killed compaction left

    publish.compact(working)
    assert _content(working) == content
    assert _free_share(working) < publish.COMPACT_FREE_SHARE
    assert sorted(p.name for p in working.parent.iterdir()) == [working.name]


def test_a_lean_file_is_published_as_it_is(working: Path, tmp_path: Path) -> None:
    assert _free_share(working) <= publish.COMPACT_FREE_SHARE
    before = working.stat().st_size
    done = publish.publish(
        working,
        tmp_path / "testio.duckdb",
        lock_wait_seconds=5,
        compact_free_share=publish.COMPACT_FREE_SHARE,
    )
    assert not done.method.startswith("compacted")
    assert working.stat().st_size == before


def test_a_compaction_that_fails_publishes_the_file_as_it_is(
    working: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_for_write(working) as con:
        con.execute(f"DELETE FROM bugs WHERE id >= {ROWS // 4}")
        con.execute("CHECKPOINT")
    content = _content(working)

    def disk_full(path: Path, **_: object) -> None:
        (path.parent / f".{path.name}.1.compacting").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish, "compact", disk_full)
    published = tmp_path / "testio.duckdb"
    done = publish.publish(
        working, published, lock_wait_seconds=5, compact_free_share=publish.COMPACT_FREE_SHARE
    )
    assert done.method in ("copy", "reflink")
    assert "No space left on device" in done.compaction_error
    assert _content(published) == content
    assert sorted(p.name for p in working.parent.iterdir()) == [working.name]


def test_the_nightly_reconciliation_compacts_and_an_incremental_run_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from testio_pipeline.definitions import defs
    from testio_pipeline.defs.resources import SyncOptionsResource, WarehouseResource
    from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
    from testio_pipeline_tests.ingest.harness import assert_warehouse_matches, served

    working = tmp_path / ".work" / "testio.duckdb"
    published = tmp_path / "testio.duckdb"

    def method(result: dg.ExecuteInProcessResult) -> str:
        (event,) = [e for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "published_warehouse"]
        return event.step_materialization_data.materialization.metadata["method"].value

    def waste_blocks() -> None:
        # space an earlier sync freed: a large table written and dropped, followed by a small
        # one (free blocks at the end of the file would be cut off instead)
        with open_for_write(working) as con:
            con.execute(
                "CREATE TABLE scratch AS SELECT i, md5(i::VARCHAR) || md5((-i)::VARCHAR) AS t "
                f"FROM range({ROWS}) t(i)"
            )
            con.execute("CHECKPOINT")
            con.execute("CREATE OR REPLACE TABLE scratch_tail AS SELECT 1 AS i")
            con.execute("CHECKPOINT")
            con.execute("DROP TABLE scratch")
            con.execute("CHECKPOINT")

    compactions: list[dict] = []
    real_compact = publish.compact

    def recorded_compact(path: Path, **settings) -> None:
        compactions.append(settings)
        real_compact(path, **settings)

    monkeypatch.setattr(publish, "compact", recorded_compact)
    sim = Simulator(SimulatorConfig(size="small", seed=3))
    with served(sim, working) as account:
        resources = account.resources()
        resources["warehouse"] = WarehouseResource(path=str(working), published_path=str(published))
        assert dg.materialize(list(defs.assets), resources=resources).success
        waste_blocks()
        assert _free_share(working) > publish.COMPACT_FREE_SHARE
        incremental = dg.materialize(list(defs.assets), resources=resources)
        assert not method(incremental).startswith("compacted")

        waste_blocks()
        nightly = dg.materialize(
            list(defs.assets),
            resources={**resources, "sync_options": SyncOptionsResource(full_refresh=True)},
        )
        assert method(nightly).startswith("compacted")
        # within the sync's memory budget, with the merges' limit and threads
        budget = MemoryBudget(resources["warehouse"].memory_budget_mb)
        assert compactions == [
            {"memory_limit_bytes": budget.write_limit_bytes, "threads": budget.write_threads}
        ]
        assert _free_share(published) < publish.COMPACT_FREE_SHARE
        assert_warehouse_matches(published, sim.ground_truth())
