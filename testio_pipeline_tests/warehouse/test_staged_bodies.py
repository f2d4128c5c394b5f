"""Raw bodies staged as files: arrival order in the names, labels, cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

from testio_pipeline.warehouse.staged_bodies import StagedBodies


def test_bodies_are_written_as_is_in_arrival_order(tmp_path: Path) -> None:
    with StagedBodies("bugs", directory=tmp_path) as stage:
        first = stage.add(b'{"bugs": []}', "tests 1, 2")
        second = stage.add(b'{"bugs": [{"id": 1}]}' * 3, "tests 3")
        assert stage.files == [first, second] and sorted(stage.files) == stage.files
        assert first.read_bytes() == b'{"bugs": []}'
        assert stage.labels == {str(first): "tests 1, 2", str(second): "tests 3"}
        assert (stage.byte_count, stage.largest_body) == (12 + 63, 63)
        assert first.parent.parent == tmp_path


def test_the_stage_directory_is_removed_on_exit_and_the_stage_closed(tmp_path: Path) -> None:
    with StagedBodies("bugs", directory=tmp_path) as stage:
        directory = stage.add(b"{}").parent
        assert directory.exists()
    assert not directory.exists()
    with pytest.raises(RuntimeError, match="cleaned up"):
        stage.add(b"{}")


def test_a_stage_name_must_be_a_plain_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        StagedBodies("../bugs")
