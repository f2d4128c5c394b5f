"""A compacting publish (the nightly reconciliation's) rewrites a working file whose blocks are
mostly free and leaves a lean one as it is; a compacted file holds the same tables, views,
constraints and rows. An ordinary publish never compacts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from testio_pipeline.warehouse import publish
from testio_pipeline.warehouse.connection import open_for_write

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
