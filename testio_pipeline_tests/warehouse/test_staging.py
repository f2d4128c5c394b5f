from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from testio_pipeline.warehouse import schema
from testio_pipeline.warehouse.staging import StagedRows, base_type, staged_columns
from testio_pipeline_tests.warehouse.rows import bug_row


def test_staged_columns_cover_every_duckdb_type_of_the_specs() -> None:
    spec = schema.TableSpec(
        name="all_types",
        key=("id",),
        description="",
        columns=(
            ("id", "BIGINT NOT NULL"),
            ("name", "VARCHAR"),
            ("flag", "BOOLEAN"),
            ("at", "TIMESTAMPTZ"),
            ("ids", "BIGINT[]"),
            ("names", "VARCHAR[]"),
            ("raw", "JSON"),
            ("ratio", "DOUBLE"),
        ),
    )
    assert staged_columns(spec) == {
        "id": "BIGINT", "name": "VARCHAR", "flag": "BOOLEAN", "at": "TIMESTAMPTZ",
        "ids": "BIGINT[]", "names": "VARCHAR[]", "raw": "VARCHAR", "ratio": "DOUBLE",
    }


def test_every_ingest_table_can_be_staged(tmp_path: Path) -> None:
    for spec in schema.INGEST_TABLES:
        assert list(staged_columns(spec)) == spec.column_names
        # a column type without a staging rule would fail here
        with StagedRows(spec, directory=tmp_path):
            pass


def test_round_trip_preserves_types_timestamps_lists_and_json(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with StagedRows(schema.BUGS, directory=tmp_path) as stage:
        stage.append(
            bug_row(
                1,
                reported_at="2025-10-20T15:42:11+02:00",
                exported_at=datetime(2025, 10, 21, 9, 0, tzinfo=timezone(timedelta(hours=-5))),
                steps=["Open cart", "Pay"],
                raw={"id": 1, "devices": [{"name": "XPS 13"}], "note": "ünïcode"},
            )
        )
        stage.append(bug_row(2, steps=None, raw='{"id": 2}', known=True))
        stage.append(bug_row(3, raw=b'{"id": 3, "bytes": "from orjson"}'))
        relation = stage.relation(con)
        types = dict(zip(relation.columns, [str(t) for t in relation.types], strict=True))
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                f"""SELECT id, reported_at, exported_at, steps, raw->>'$.devices[0].name',
                       raw->>'$.note', json_type(raw), known, language
                FROM ({stage.sql()})"""
            ).fetchall()
        }

    expected_types = {name: base_type(t) for name, t in schema.BUGS.columns}
    assert {
        k: v.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ") for k, v in types.items()
    } == expected_types
    reported, exported, steps, device, note, json_type, known, language = rows[1]
    assert reported == datetime(2025, 10, 20, 13, 42, 11, tzinfo=timezone.utc)
    assert reported.utcoffset() == timedelta(0)
    assert exported == datetime(2025, 10, 21, 14, 0, tzinfo=timezone.utc)
    assert steps == ["Open cart", "Pay"]
    assert (device, note, json_type) == ("XPS 13", "ünïcode", "OBJECT")
    assert known is False
    assert language is None
    assert rows[2][2] is None
    assert rows[2][5] == "OBJECT"
    assert rows[2][6] is True
    assert rows[3][5] == "OBJECT"


def test_rows_are_flushed_to_files_in_batches_of_batch_rows(tmp_path: Path) -> None:
    def lines(path: Path) -> int:
        return len(path.read_bytes().splitlines())

    with StagedRows(schema.BUGS, directory=tmp_path, batch_rows=3) as stage:
        stage.extend(bug_row(i) for i in range(1, 8))
        assert stage.row_count == 7
        assert [lines(f) for f in stage.files] == [3, 3]
        stage.flush()
        assert [lines(f) for f in stage.files] == [3, 3, 1]


def test_a_key_staged_twice_keeps_the_row_appended_last(tmp_path: Path) -> None:
    con = duckdb.connect()
    with StagedRows(schema.BUGS, directory=tmp_path, batch_rows=2) as stage:
        stage.append(bug_row(1, title="first"))
        stage.append(bug_row(2, title="other"))
        stage.append(bug_row(1, title="second"))
        stage.append(bug_row(1, title="third"))  # same batch as "second": row order decides
        stage.append(bug_row(1, customer_id=2, title="another customer"))
        rows = con.sql(
            f"SELECT customer_id, id, title FROM ({stage.sql()}) ORDER BY ALL"
        ).fetchall()
    assert rows == [(1, 1, "third"), (1, 2, "other"), (2, 1, "another customer")]


def test_an_empty_stage_yields_an_empty_correctly_typed_relation(tmp_path: Path) -> None:
    con = duckdb.connect()
    with StagedRows(schema.FEATURES, directory=tmp_path) as stage:
        relation = stage.relation(con)
        assert relation.columns == schema.FEATURES.column_names
        assert [str(t) for t in relation.types] == [
            str(con.sql(f"SELECT CAST(NULL AS {base_type(t)})").types[0])
            for _, t in schema.FEATURES.columns
        ]
        assert relation.fetchall() == []
        assert stage.files == []


def test_unknown_columns_are_rejected_at_append(tmp_path: Path) -> None:
    with StagedRows(schema.BUGS, directory=tmp_path) as stage:
        with pytest.raises(KeyError, match="unknown column.*'colour'"):
            stage.append(bug_row(1, colour="red"))
        assert stage.row_count == 0


def test_a_missing_key_column_is_rejected_at_append(tmp_path: Path) -> None:
    with StagedRows(schema.BUGS, directory=tmp_path) as stage:
        row = bug_row(1)
        del row["customer_id"]
        with pytest.raises(ValueError, match="key column customer_id"):
            stage.append(row)


def test_naive_timestamps_are_rejected_because_their_instant_is_unknown(tmp_path: Path) -> None:
    with StagedRows(schema.BUGS, directory=tmp_path, batch_rows=1) as stage:
        with pytest.raises(ValueError, match="no time zone"):
            stage.append(bug_row(1, reported_at="2025-10-20T15:42:11"))


def test_a_value_of_the_wrong_type_names_the_column(tmp_path: Path) -> None:
    with StagedRows(schema.BUGS, directory=tmp_path, batch_rows=1) as stage:
        with pytest.raises(TypeError, match="bugs.test_id"):
            stage.append(bug_row(1, test_id="not a number"))
        with pytest.raises(TypeError, match="bugs.known"):
            stage.append(bug_row(1, known=1))
        with pytest.raises(TypeError, match="bugs.steps"):
            stage.append(bug_row(1, steps=["ok", 2]))
        with pytest.raises(TypeError, match="bugs.reported_at"):
            stage.append(bug_row(1, reported_at="last tuesday"))
        assert stage.row_count == 0


def test_files_are_removed_on_exit_and_the_stage_is_closed(tmp_path: Path) -> None:
    with StagedRows(schema.BUGS, directory=tmp_path, batch_rows=1) as stage:
        stage.extend(bug_row(i) for i in range(3))
        directory = stage.directory
        assert len(list(directory.glob("*.jsonl"))) == 3
    assert not directory.exists()
    with pytest.raises(RuntimeError, match="cleaned up"):
        stage.append(bug_row(4))


def test_files_are_removed_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="fetch failed"):
        with StagedRows(schema.BUGS, directory=tmp_path, batch_rows=1) as stage:
            stage.append(bug_row(1))
            raise RuntimeError("fetch failed")
    assert list(tmp_path.iterdir()) == []
