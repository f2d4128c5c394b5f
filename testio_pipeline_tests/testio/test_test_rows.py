"""Raw test-list pages into `tests` and `test_features` rows, in DuckDB: exact columns, null
quirks, UTC timestamps, loud failures. The cases of the former Python `test_row` /
`test_feature_rows`, run through the SQL, plus the listing's choice of records."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from testio_pipeline.testio.bodies import valid_id
from testio_pipeline.testio.test_rows import (
    checked_tests_sql,
    chosen_test_feature_stories_sql,
    chosen_test_features_sql,
    chosen_tests_sql,
    listed_tests_sql,
    rejected_tests_sql,
    test_feature_items_sql,
    test_feature_rows_sql,
    test_feature_story_rows_sql,
    test_rows_sql,
)
from testio_pipeline.warehouse.schema import (
    TEST_FEATURE_STORIES,
    TEST_FEATURES,
    TESTS,
    ensure_schema,
)
from testio_pipeline.warehouse.staged_bodies import StagedBodies
from testio_pipeline_tests.testio.records import utc, with_, without

SYNCED = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
CUSTOMER = 3
PRODUCT = 18559

TEST = {
    "id": 109363, "test_title": "Release 4.2 regression", "title": "Release 4.2 regression",
    "status": "archived", "review_status": "review_successful", "testing_type": "coverage",
    "section": {"id": 22042, "name": "Presentations"},
    "product": {"id": 18559, "name": "Canva – «ü»"},
    "created_by": "jane.customer", "submitted_by": None,
    "start_at": "2025-10-20T13:00:00+02:00", "end_at": "2025-10-27T02:00:00+01:00",
    "features": [
        {"id": 1042409, "feature_id": 196992, "title": "[Presentations] Recording",
         "description": "Record a talk", "location": "Present > Record", "howtofind": "Present > Record",
         "enable_default": True, "enable_content": None, "enable_visual": True,
         "user_stories": ["I can start a recording", {"id": 7, "title": "I can discard it"}]},
        {"id": 1042410, "feature_id": 196993, "title": "Sharing", "description": None,
         "location": "Share menu", "howtofind": None,
         "enable_default": None, "enable_content": None, "enable_visual": None, "user_stories": None},
    ],
}


def rows(
    tmp_path: Path,
    *pages: list[dict[str, Any]],
    chosen: list[tuple[int, int, int]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(tests rows, test_features rows) of `pages`; `chosen` is (page, position, product_id)
    per test to keep, by default every record under PRODUCT. Rejected records are in
    `last_rejected` (id, field, value), the `test_feature_stories` rows in `last_stories`."""
    # staged as the sync stages them: two pages a file, each page known by its id
    stage = StagedBodies("tests", directory=tmp_path, bodies_per_file=2)
    page_ids = [
        stage.add(json.dumps({"exploratory_tests": page}, ensure_ascii=False).encode())
        for page in pages
    ]
    stage.finish()
    files = stage.files
    if chosen is None:
        chosen = [(n, p, PRODUCT) for n, page in enumerate(pages) for p in range(len(page))]
    con = duckdb.connect()
    ensure_schema(con)
    con.execute(
        "CREATE TEMP TABLE selection (filename VARCHAR, position BIGINT, product_id BIGINT, id BIGINT)"
    )
    con.executemany(
        "INSERT INTO selection VALUES (?, ?, ?, ?)",
        [(page_ids[n], p, pid, _id(pages[n][p].get("id"))) for n, p, pid in chosen],
    )
    con.execute(f"CREATE TEMP TABLE listed AS {listed_tests_sql(files, 'selection', max_body_bytes=0)}")
    # through the warehouse tables: the SELECTs fit the contract's columns and types
    con.execute(f"INSERT INTO tests {test_rows_sql('listed', CUSTOMER, SYNCED)}")
    con.execute(f"INSERT INTO test_features {test_feature_rows_sql('listed', CUSTOMER, SYNCED)}")
    con.execute(
        f"INSERT INTO test_feature_stories {test_feature_story_rows_sql('listed', CUSTOMER, SYNCED)}"
    )
    tests = _dicts(con, "SELECT * FROM tests ORDER BY id")
    features = _dicts(con, "SELECT * FROM test_features ORDER BY id")
    stories = _dicts(con, _STORIES_IN_ORDER)
    # the sync's way must give the same rows: every record parsed with its place into
    # Parquet first, the rejected ones set aside, the chosen good ones picked afterwards
    # (as the sync does: each record checked once, for its row and its items)
    con.execute(
        "CREATE TEMP TABLE all_records AS "
        + checked_tests_sql(f"({listed_tests_sql(files, None, max_body_bytes=0)})")
    )
    all_records = "all_records"
    con.execute(f"CREATE TEMP TABLE items AS {test_feature_items_sql(all_records, checked=True)}")
    for table, sql in (
        ("tests", test_rows_sql(all_records, CUSTOMER, SYNCED, place=True, checked=True)),
        ("test_features", test_feature_rows_sql(all_records, CUSTOMER, SYNCED, place=True, items="items")),
        ("stories", test_feature_story_rows_sql(all_records, CUSTOMER, SYNCED, place=True, items="items")),
    ):
        con.execute(f"COPY ({sql}) TO '{tmp_path / table}.parquet' (FORMAT parquet)")
    con.execute("DELETE FROM test_feature_stories; DELETE FROM test_features; DELETE FROM tests")
    tests_chunk, features_chunk = [tmp_path / "tests.parquet"], [tmp_path / "test_features.parquet"]
    rejected = rejected_tests_sql(tests_chunk, "selection")
    rows.last_rejected = con.execute(f"SELECT id, field, value FROM ({rejected}) ORDER BY id").fetchall()
    con.execute(
        "CREATE TEMP TABLE stored AS SELECT * FROM selection "
        f"WHERE (filename, position) NOT IN (SELECT (filename, position) FROM ({rejected}))"
    )
    con.execute(f"INSERT INTO tests {chosen_tests_sql(tests_chunk, 'stored', TESTS.column_names)}")
    con.execute(
        "INSERT INTO test_features "
        + chosen_test_features_sql(features_chunk, "stored", TEST_FEATURES.column_names)
    )
    con.execute(
        "INSERT INTO test_feature_stories "
        + chosen_test_feature_stories_sql(
            [tmp_path / "stories.parquet"], "stored", TEST_FEATURE_STORIES.column_names
        )
    )
    assert _dicts(con, "SELECT * FROM tests ORDER BY id") == tests
    assert _dicts(con, "SELECT * FROM test_features ORDER BY id") == features
    assert _dicts(con, _STORIES_IN_ORDER) == stories
    rows.last_stories = stories
    con.close()
    return tests, features


_STORIES_IN_ORDER = "SELECT * FROM test_feature_stories ORDER BY test_feature_id, user_story_id"


def _id(value: Any) -> int | None:
    return valid_id(value) if isinstance(value, (int, str)) else None


def _dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def test_rows_have_exactly_the_schema_columns(tmp_path: Path) -> None:
    tests, features = rows(tmp_path, [TEST])
    assert list(tests[0]) == TESTS.column_names
    assert list(features[0]) == TEST_FEATURES.column_names


def test_test_row_fields_and_fallbacks(tmp_path: Path) -> None:
    (row,), _ = rows(tmp_path, [TEST])
    assert (row["customer_id"], row["id"], row["product_id"], row["section_id"]) == (CUSTOMER, 109363, 18559, 22042)
    assert (row["title"], row["status"], row["review_status"], row["testing_type"]) == (
        "Release 4.2 regression", "archived", "review_successful", "coverage",
    )
    assert (row["created_by"], row["submitted_by"]) == ("jane.customer", None)
    assert (row["bugs_synced_at"], row["bugs_synced_final"], row["synced_at"]) == (None, None, SYNCED)
    legacy = with_(without(TEST, "title"), section=None, id="  77 ")
    (row,), _ = rows(tmp_path, [legacy])
    assert (row["id"], row["title"], row["section_id"]) == (77, "Release 4.2 regression", None)
    (row,), _ = rows(tmp_path, [with_(TEST, title="", section="22042")])
    assert (row["title"], row["section_id"]) == ("Release 4.2 regression", None)


def test_product_id_is_the_listing_product_not_the_embedded_one(tmp_path: Path) -> None:
    (row,), features = rows(tmp_path, [TEST], chosen=[(0, 0, 42)])
    assert row["product_id"] == 42
    # test features keep the test's own product, as the contract says
    assert {f["product_id"] for f in features} == {18559}


def test_raw_is_compact_json_of_the_api_object(tmp_path: Path) -> None:
    (row,), _ = rows(tmp_path, [TEST])
    assert row["raw"] == json.dumps(TEST, separators=(",", ":"), ensure_ascii=False)
    assert "«ü»" in row["raw"]


def test_test_timestamps_become_utc(tmp_path: Path) -> None:
    (row,), _ = rows(tmp_path, [TEST])
    assert row["start_at"] == utc(2025, 10, 20, 11, 0)
    assert row["end_at"] == utc(2025, 10, 27, 1, 0)
    (row,), _ = rows(tmp_path, [with_(TEST, start_at="2026-01-02T03:04:05", end_at="")])
    assert (row["start_at"], row["end_at"]) == (utc(2026, 1, 2, 3, 4, 5), None)


@pytest.mark.parametrize(
    ("fields", "field", "value"),
    [
        ({"start_at": "20/11/2025 12:00"}, "start_at", '"20/11/2025 12:00"'),
        ({"end_at": 1700000000}, "end_at", "1700000000"),
        ({"id": 18446744073709551617}, "id", "18446744073709551617"),
        ({"features": [{"feature_id": 5}]}, "features[].id", '{"feature_id":5}'),
        # the first broken item, as listed, wherever it is and whatever it is
        ({"features": [{"id": 1}, "an item", {"id": 2}]}, "features[].id", '"an item"'),
        ({"features": [{"id": 1}, None]}, "features[].id", "null"),
        ({"features": [{"id": 1}, {"id": True}]}, "features[].id", '{"id":true}'),
    ],
)
def test_a_record_that_cannot_be_a_row_is_rejected_with_its_field_and_value(
    tmp_path: Path, fields: dict[str, Any], field: str, value: str
) -> None:
    good = with_(TEST, id=7, features=[])
    tests, features = rows(tmp_path, [good, with_(TEST, **fields)])
    assert [t["id"] for t in tests] == [7] and features == []
    ((test_id, rejected_field, rejected_value),) = rows.last_rejected
    assert (rejected_field, rejected_value) == (field, value)
    assert test_id == (None if field == "id" else 109363)


@pytest.mark.parametrize("features", [None, {"id": 1}, "not a list"])
def test_features_that_are_no_list_give_a_test_without_test_features(
    tmp_path: Path, features: Any
) -> None:
    (row,), items = rows(tmp_path, [with_(TEST, features=features)])
    assert row["id"] == 109363 and items == [] and rows.last_rejected == []


@pytest.mark.parametrize(
    ("status", "final"),
    [("archived", True), ("cancelled", True), ("locked", False), ("customer_finalized", False),
     ("running", False), ("completed", False), (None, False)],
)
def test_only_archived_and_cancelled_tests_are_final(
    tmp_path: Path, status: str | None, final: bool
) -> None:
    (row,), _ = rows(tmp_path, [with_(TEST, status=status)])
    assert (row["status"], row["is_final"]) == (status, final)


def test_test_feature_nulls_become_false_and_empty(tmp_path: Path) -> None:
    _, (first, second) = rows(tmp_path, [TEST])
    assert (first["id"], first["test_id"], first["feature_id"], first["product_id"]) == (
        1042409, 109363, 196992, 18559,
    )
    assert (first["enable_default"], first["enable_content"], first["enable_visual"]) == (True, False, True)
    assert first["user_stories"] == ["I can start a recording", "I can discard it"]
    assert (second["enable_default"], second["enable_content"], second["enable_visual"]) == (False, False, False)
    assert second["user_stories"] == [] and second["howtofind"] == "Share menu"
    assert rows(tmp_path, [with_(TEST, features=None)])[1] == []
    _, features = rows(tmp_path, [without(TEST, "product")])
    assert {f["product_id"] for f in features} == {None}


def test_only_chosen_records_become_rows_and_a_repeated_test_feature_keeps_the_last(
    tmp_path: Path,
) -> None:
    other = with_(TEST, id=2, features=[dict(TEST["features"][0], title="newer snapshot")])
    tests, features = rows(tmp_path, [TEST, with_(TEST, id=3)], [other], chosen=[(0, 0, 1), (1, 0, 1)])
    assert sorted(t["id"] for t in tests) == [2, 109363]
    by_id = {f["id"]: f for f in features}
    assert by_id[1042409]["title"] == "newer snapshot" and by_id[1042409]["test_id"] == 2
    assert set(by_id) == {1042409, 1042410}


OUTCOME = {"execution_status": "failed", "tester_count": 4, "bugs_found": 2, "bug_ids": [11, "12"]}
STORY_2026 = {
    "id": 60011, "path": "I can start a recording", "title": "", "feature_id": 196992,
    "user_story_version_id": 180034, "execution_status": "blocked", "tested_by_count": 3,
    "bugs_found": 1, "bug_ids": [11],
}


def test_execution_outcome_of_the_2026_api_is_stored_and_null_where_omitted(tmp_path: Path) -> None:
    feature = dict(TEST["features"][0], **OUTCOME)
    _, (first, second) = rows(tmp_path, [with_(TEST, features=[feature, TEST["features"][1]])])
    assert (first["execution_status"], first["tester_count"], first["bugs_found"]) == ("failed", 4, 2)
    assert first["bug_ids"] == [11, 12]
    # the older API sends none of them: NULL, not zero or an empty list
    assert (second["execution_status"], second["tester_count"], second["bugs_found"], second["bug_ids"]) == (
        None, None, None, None,
    )
    odd = dict(feature, execution_status=7, bug_ids=[1, "x", None, {"id": 3}], tester_count="n/a")
    _, (row, _) = rows(tmp_path, [with_(TEST, features=[odd, TEST["features"][1]])])
    assert (row["execution_status"], row["tester_count"], row["bug_ids"]) == (None, None, [1])


def test_story_outcomes_become_rows_keyed_by_test_feature_and_story(tmp_path: Path) -> None:
    stories = [
        STORY_2026,
        "a story as plain text",  # the older shape: no row
        {"title": "no id"},  # no row
        dict(STORY_2026, id=60012, title="Share", feature_id=None, execution_status="passed",
             bug_ids=[], bugs_found=0),
    ]
    feature = dict(TEST["features"][0], user_stories=stories, **OUTCOME)
    _, (first, _) = rows(tmp_path, [with_(TEST, features=[feature, TEST["features"][1]])])
    assert first["user_stories"] == ["I can start a recording", "a story as plain text", "no id", "Share"]
    blocked, passed = rows.last_stories
    assert list(blocked) == TEST_FEATURE_STORIES.column_names
    assert (blocked["customer_id"], blocked["test_feature_id"], blocked["user_story_id"]) == (CUSTOMER, 1042409, 60011)
    assert (blocked["test_id"], blocked["feature_id"], blocked["product_id"]) == (109363, 196992, 18559)
    # an empty title falls back to the path, as for test feature stories as texts
    assert (blocked["title"], blocked["user_story_version_id"]) == ("I can start a recording", 180034)
    assert (blocked["execution_status"], blocked["tested_by_count"], blocked["bugs_found"], blocked["bug_ids"]) == (
        "blocked", 3, 1, [11],
    )
    # a story without its own feature_id belongs to its test feature's feature
    assert (passed["user_story_id"], passed["feature_id"], passed["bug_ids"]) == (60012, 196992, [])
    assert rows(tmp_path, [TEST]) and rows.last_stories[0]["user_story_id"] == 7


def test_a_story_listed_twice_keeps_its_last_outcome(tmp_path: Path) -> None:
    first = dict(TEST["features"][0], user_stories=[STORY_2026])
    again = dict(first, user_stories=[dict(STORY_2026, execution_status="passed")])
    rows(tmp_path, [with_(TEST, features=[first])], [with_(TEST, id=2, features=[again])],
         chosen=[(0, 0, 1), (1, 0, 1)])
    ((story,),) = [rows.last_stories]
    assert (story["execution_status"], story["test_id"]) == ("passed", 2)
