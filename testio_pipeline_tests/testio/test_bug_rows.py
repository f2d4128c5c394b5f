"""Raw `/bugs` bodies into `bugs` rows, in DuckDB: exact columns, null quirks, UTC timestamps,
loud failures, deduplication. The cases of the former Python `bug_row`, run through the SQL."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from testio_pipeline.testio.bug_rows import bug_rows_sql
from testio_pipeline.warehouse.schema import BUGS, ensure_schema
from testio_pipeline.warehouse.staged_bodies import StagedBodies
from testio_pipeline_tests.testio.records import utc, with_, without

SYNCED = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
CUSTOMER = 3

BUG = {
    "id": 2231457, "title": "Checkout total ignores promo code – «ü»", "severity": "high",
    "status": "accepted", "auto_accepted": False, "known": False, "exported_at": None,
    "language": "en", "location": "https://staging.example.com/checkout",
    "steps": ["Add any item to cart", "Apply code PROMO20"],
    "expected_result": "Total is reduced by 20%", "actual_result": "Total unchanged",
    "reported_at": "2025-10-20T15:42:11+02:00", "author": {"name": "tester_k.m"},
    "test": {"id": 109363, "title": "Release 4.2 regression"},
    "test_feature": {"id": 1042409, "feature_id": 196992},
    "feature": {"id": 196992, "title": "[Presentations] Recording"},
    "product": {"id": 18559, "name": "Canva Monoproduct"},
}


def write_bodies(directory: Path, *bodies: list[dict[str, Any]] | bytes) -> list[Path]:
    """Stage the bodies as the sync does (`StagedBodies`, two bodies a file; errors name a
    body by its id, `<file>#<seq>`) and return the files, which outlive this helper."""
    stage = StagedBodies("bugs", directory=directory, bodies_per_file=2)
    for body in bodies:
        raw = body if isinstance(body, bytes) else json.dumps({"bugs": body}, ensure_ascii=False).encode()
        stage.add(raw)
    stage.finish()
    return stage.files


def load(
    tmp_path: Path, *bodies: list[dict[str, Any]] | bytes, duplicate_ids: Collection[int] | None = None
) -> list[dict[str, Any]]:
    """The rows the transform builds from `bodies`, inserted into a real warehouse file."""
    files = write_bodies(tmp_path / "stage", *bodies)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        ensure_schema(con)
        con.execute("DELETE FROM bugs")
        sql = bug_rows_sql(files, CUSTOMER, SYNCED, duplicate_ids=duplicate_ids)
        con.execute(f"INSERT INTO {BUGS.name} SELECT * FROM ({sql})")
        cursor = con.execute(f"SELECT * FROM {BUGS.name} ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        con.close()


def one(tmp_path: Path, bug: dict[str, Any]) -> dict[str, Any]:
    (row,) = load(tmp_path, [bug])
    return row


def test_the_select_has_exactly_the_bugs_columns_in_order(tmp_path: Path) -> None:
    files = write_bodies(tmp_path, [BUG])
    cursor = duckdb.connect().execute(bug_rows_sql(files, CUSTOMER, SYNCED))
    assert [d[0] for d in cursor.description] == BUGS.column_names


def test_raw_is_compact_json_of_the_api_object(tmp_path: Path) -> None:
    row = one(tmp_path, BUG)
    assert row["raw"] == json.dumps(BUG, separators=(",", ":"), ensure_ascii=False)
    assert "«ü»" in row["raw"] and ", " not in row["raw"].replace("Release 4.2", "")


def test_bug_links_and_names_come_from_nested_objects(tmp_path: Path) -> None:
    row = one(tmp_path, BUG)
    assert (row["customer_id"], row["id"], row["synced_at"]) == (CUSTOMER, 2231457, SYNCED)
    assert (row["test_id"], row["product_id"], row["test_feature_id"], row["feature_id"]) == (
        109363, 18559, 1042409, 196992,
    )
    assert (row["author_name"], row["severity"], row["status"]) == ("tester_k.m", "high", "accepted")
    assert (row["title"], row["language"], row["location"]) == (
        BUG["title"], "en", "https://staging.example.com/checkout",
    )
    assert (row["auto_accepted"], row["known"], row["exported_at"]) == (False, False, None)
    assert row["reported_at"] == utc(2025, 10, 20, 13, 42, 11)


@pytest.mark.parametrize("link", ["missing", None, {}, "1042409", [1042409]])
def test_a_bug_without_test_feature_is_kept_with_null_links(tmp_path: Path, link: Any) -> None:
    raw = without(BUG, "test_feature") if link == "missing" else with_(BUG, test_feature=link)
    row = one(tmp_path, raw)
    assert (row["id"], row["test_feature_id"], row["feature_id"]) == (2231457, None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(109363, 109363), ("109363", 109363), (" 42\n", 42), ("4x2", None), (True, None),
     (1.5, None), (None, None), (-7, -7), ("-7", None)],
)
def test_ids_are_integers_or_digit_strings(tmp_path: Path, value: Any, expected: int | None) -> None:
    row = one(tmp_path, with_(BUG, test={"id": value}, product={"id": value}))
    assert (row["test_id"], row["product_id"]) == (expected, expected)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        ("Open the cart\n\n  Apply PROMO20 \r\nCheck out\n", ["Open the cart", "Apply PROMO20", "Check out"]),
        ("one\rtwo\u2028three\x0bfour", ["one", "two", "three", "four"]),
        (None, []),
        ("", []),
        (["  keep spaces ", "", "   ", None, 5], ["  keep spaces ", "5"]),
        (7, ["7"]),
    ],
)
def test_bug_steps_become_a_list_of_strings(tmp_path: Path, steps: Any, expected: list[str]) -> None:
    assert one(tmp_path, with_(BUG, steps=steps))["steps"] == expected


def test_missing_steps_become_an_empty_list(tmp_path: Path) -> None:
    assert one(tmp_path, without(BUG, "steps"))["steps"] == []


@pytest.mark.parametrize("blank", [None, "", "   ", "\n\t", "\u00a0", 0])
def test_blank_bug_results_become_null(tmp_path: Path, blank: Any) -> None:
    row = one(tmp_path, with_(BUG, expected_result=blank, actual_result=blank))
    assert (row["expected_result"], row["actual_result"]) == (None, None)


def test_results_that_are_not_blank_are_kept_unstripped(tmp_path: Path) -> None:
    row = one(tmp_path, with_(BUG, expected_result=" Total -20% ", actual_result="x"))
    assert (row["expected_result"], row["actual_result"]) == (" Total -20% ", "x")


@pytest.mark.parametrize(("flag", "expected"), [(True, True), (False, False), (None, None), ("yes", None), (1, None)])
def test_booleans_are_json_booleans_or_null(tmp_path: Path, flag: Any, expected: bool | None) -> None:
    row = one(tmp_path, with_(BUG, auto_accepted=flag, known=flag))
    assert (row["auto_accepted"], row["known"]) == (expected, expected)


def test_a_bug_with_sparse_nested_objects_still_parses(tmp_path: Path) -> None:
    sparse = {"id": 5, "author": None, "test": None, "product": "18559", "steps": None}
    row = one(tmp_path, sparse)
    assert (row["test_id"], row["product_id"], row["author_name"], row["reported_at"]) == (None, None, None, None)
    assert (row["title"], row["steps"], row["raw"]) == (None, [], json.dumps(sparse, separators=(",", ":")))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-20T15:42:11+02:00", utc(2025, 10, 20, 13, 42, 11)),
        ("2025-10-27T02:00:00+01:00", utc(2025, 10, 27, 1, 0)),
        ("2026-01-02T03:04:05.000Z", utc(2026, 1, 2, 3, 4, 5)),
        ("2026-01-02T03:04:05-0530", utc(2026, 1, 2, 8, 34, 5)),
        (" 2026-01-02T03:04:05 ", utc(2026, 1, 2, 3, 4, 5)),
        ("2026-01-02 03:04:05", utc(2026, 1, 2, 3, 4, 5)),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_timestamps_become_utc(tmp_path: Path, text: str | None, expected: datetime | None) -> None:
    row = one(tmp_path, with_(BUG, reported_at=text, exported_at=text))
    assert (row["reported_at"], row["exported_at"]) == (expected, expected)


def problems(tmp_path: Path, *bodies: list[Any] | bytes) -> list[tuple]:
    """(id, body position, problem field, problem value) of every bug `with_problems` marks."""
    files = write_bodies(tmp_path / "problems", *bodies)
    sql = bug_rows_sql(files, CUSTOMER, SYNCED, with_problems=True)
    return duckdb.connect().execute(
        f"SELECT id, body_position, problem_field, problem_value FROM ({sql}) "
        "WHERE problem_field IS NOT NULL ORDER BY body_file, body_position"
    ).fetchall()


@pytest.mark.parametrize(("column", "value"), [("reported_at", "last tuesday"), ("exported_at", 1700000000)])
def test_a_broken_timestamp_marks_the_bug_with_its_field_and_value(
    tmp_path: Path, column: str, value: Any
) -> None:
    broken = with_(BUG, **{column: value})
    assert [r["id"] for r in load(tmp_path, [with_(BUG, id=1), broken])] == [1]
    assert problems(tmp_path, [with_(BUG, id=1), broken]) == [
        (2231457, 1, column, json.dumps(value))
    ]


@pytest.mark.parametrize("bad_id", ["missing", None, "abc", True, 1.5, {"id": 1}])
def test_a_bug_without_a_valid_id_is_marked_not_stored(tmp_path: Path, bad_id: Any) -> None:
    bug = without(BUG, "id") if bad_id == "missing" else with_(BUG, id=bad_id)
    assert [r["id"] for r in load(tmp_path, [with_(BUG, id=1)], [bug], duplicate_ids=())] == [1]
    ((bug_id, position, field, value),) = problems(tmp_path, [with_(BUG, id=1)], [bug])
    assert (bug_id, position, field) == (None, 0, "id")
    # the broken id, or the bug itself when it has none
    expected = '{"' if bad_id in ("missing", None) else json.dumps(bad_id, separators=(",", ":"))
    assert value.startswith(expected)


@pytest.mark.parametrize("item", ["a string", 42, None, [1, 2]])
def test_a_bug_that_is_not_an_object_is_marked_and_the_others_kept(tmp_path: Path, item: Any) -> None:
    assert [r["id"] for r in load(tmp_path, [with_(BUG, id=1), item, with_(BUG, id=2)])] == [1, 2]
    marked = problems(tmp_path, [with_(BUG, id=1), item, with_(BUG, id=2)])
    assert [p[1:3] for p in marked] == [(1, "bug")]


def test_the_select_with_problems_adds_where_and_why_after_the_bugs_columns(tmp_path: Path) -> None:
    files = write_bodies(tmp_path, [BUG])
    cursor = duckdb.connect().execute(bug_rows_sql(files, CUSTOMER, SYNCED, with_problems=True))
    assert [d[0] for d in cursor.description] == [
        *BUGS.column_names, "body_file", "body_position", "problem_field", "problem_value"
    ]


def test_the_last_occurrence_of_a_bug_wins_across_and_within_files(tmp_path: Path) -> None:
    first = [with_(BUG, id=1, title="a"), with_(BUG, id=2, title="b"), with_(BUG, id=1, title="c")]
    second = [with_(BUG, id=2, title="d"), with_(BUG, id=3, title="e")]
    for duplicates in (None, {1, 2}):
        rows = load(tmp_path, first, second, duplicate_ids=duplicates)
        assert [(r["id"], r["title"]) for r in rows] == [(1, "c"), (2, "d"), (3, "e")]


def test_declaring_no_duplicates_skips_deduplication(tmp_path: Path) -> None:
    # the caller's promise is trusted: a repeat it did not declare comes through twice, and
    # the primary key (here) or merge's duplicate check rejects it loudly
    with pytest.raises(duckdb.ConstraintException):
        load(tmp_path, [with_(BUG, id=1)], [with_(BUG, id=1)], duplicate_ids=())


def test_bodies_without_bugs_give_no_rows(tmp_path: Path) -> None:
    assert load(tmp_path, [], b'{"bugs": []}', b'{\n  "bugs": [],\n  "meta": {}\n}\n') == []


def test_pretty_printed_bodies_are_read_like_compact_ones(tmp_path: Path) -> None:
    pretty = json.dumps({"bugs": [BUG]}, indent=2, ensure_ascii=False).encode()
    (row,) = load(tmp_path, pretty)
    assert row["raw"] == json.dumps(BUG, separators=(",", ":"), ensure_ascii=False)


def test_a_glob_reads_every_matching_body(tmp_path: Path) -> None:
    write_bodies(tmp_path, [with_(BUG, id=1)], [with_(BUG, id=2)], [with_(BUG, id=3)])
    sql = bug_rows_sql(str(tmp_path / "testio-bodies-*" / "bugs-*.json"), CUSTOMER, SYNCED)
    assert duckdb.connect().execute(f"SELECT id FROM ({sql}) ORDER BY id").fetchall() == [(1,), (2,), (3,)]


def test_synced_at_must_be_timezone_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        bug_rows_sql([tmp_path / "x.json"], CUSTOMER, datetime(2026, 1, 1))
