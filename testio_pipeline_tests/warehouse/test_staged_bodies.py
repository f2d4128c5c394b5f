"""Raw bodies staged to disk: appended as received, ids in arrival order, labels, complete
files handed on, cleanup; and read back by the SQL that parses them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from testio_pipeline.testio.json_sql import staged_bodies_sql
from testio_pipeline.warehouse.staged_bodies import StagedBodies, body_id


def test_bodies_are_appended_as_received_and_known_by_ids_in_arrival_order(tmp_path: Path) -> None:
    completed: list[Path] = []
    with StagedBodies("bugs", directory=tmp_path, bodies_per_file=2) as stage:
        stage.on_file(completed.append)
        ids = [
            stage.add(b'{"bugs": []}', "tests 1, 2"),
            stage.add(b'{"bugs": [{"id": 1}]}', "tests 3"),
            stage.add(b'{\n  "bugs": [{"id": 2}]\n}', "tests 4"),
        ]
        assert ids == sorted(ids)
        assert ids[0] == body_id(stage.files[0], 0) and ids[2] == body_id(stage.files[1], 2)
        assert completed == stage.files[:1]  # the second file is still open
        stage.finish()
        assert completed == stage.files
        assert stage.labels == {ids[0]: "tests 1, 2", ids[1]: "tests 3", ids[2]: "tests 4"}
        assert (stage.body_count, stage.largest_body) == (3, len(b'{\n  "bugs": [{"id": 2}]\n}'))
        assert stage.files[0].read_bytes() == (
            b'{"seq":0,"body":{"bugs": []}}\n{"seq":1,"body":{"bugs": [{"id": 1}]}}\n'
        )
        # what the row builders read: each body's array under its id
        rows = duckdb.connect().execute(
            f"SELECT filename, bugs FROM ({staged_bodies_sql(stage.files, 'bugs', stage.largest_body)}) "
            "ORDER BY filename"
        ).fetchall()
        assert rows == [(ids[0], []), (ids[1], ['{"id":1}']), (ids[2], ['{"id":2}'])]
        assert stage.files[0].parent.parent == tmp_path


def test_the_stage_directory_is_removed_on_exit_and_the_stage_closed(tmp_path: Path) -> None:
    with StagedBodies("bugs", directory=tmp_path) as stage:
        stage.add(b"{}")
        directory = stage.files[0].parent
        assert directory.exists()
    assert not directory.exists()
    with pytest.raises(RuntimeError, match="cleaned up"):
        stage.add(b"{}")


def test_a_stage_name_must_be_a_plain_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        StagedBodies("../bugs")
