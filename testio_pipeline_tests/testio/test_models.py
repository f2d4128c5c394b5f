"""Raw API objects into warehouse rows: exact columns, null quirks, UTC timestamps.

Bugs are parsed in DuckDB; their cases live in test_bug_rows.py."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from testio_pipeline.testio import models
from testio_pipeline.testio.errors import TestIOResponseError
from testio_pipeline.warehouse.schema import FEATURES, PRODUCTS, TEST_FEATURES, TESTS, ensure_schema

SYNCED = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
CUSTOMER = 3


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


PRODUCT = {
    "id": 18559, "name": "Canva Monoproduct", "description": None, "type": "website",
    "default_section_id": 22040,
    "sections": [{"id": 22042, "name": "Presentations"}, {"id": 22041, "name": "Editor"}],
    "sections_with_default": [{"id": 22041, "name": "Editor"}, {"id": 22042, "name": "Presentations"}],
    "connection": None, "remote_device_testing": False,
}
TEST = {
    "id": 109363, "test_title": "Release 4.2 regression", "title": "Release 4.2 regression",
    "status": "archived", "review_status": "review_successful", "testing_type": "coverage",
    "section": {"id": 22042, "name": "Presentations"},
    "product": {"id": 18559, "name": "Canva Monoproduct"},
    "created_by": "jane.customer", "submitted_by": None,
    "start_at": "2025-10-20T13:00:00+02:00", "end_at": "2025-10-27T02:00:00+01:00",
    "features": [
        {"id": 1042409, "feature_id": 196992, "title": "[Presentations] Recording",
         "description": "Record a talk", "location": "Present > Record", "howtofind": "Present > Record",
         "enable_default": True, "enable_content": None, "enable_visual": True,
         "user_stories": ["I can start a recording", "I can discard a recording"]},
        {"id": 1042410, "feature_id": 196993, "title": "Sharing", "description": None,
         "location": "Share menu", "howtofind": None,
         "enable_default": None, "enable_content": None, "enable_visual": None, "user_stories": None},
    ],
}



def with_(raw: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**raw, **changes}


def without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != key}


def test_rows_have_exactly_the_schema_columns() -> None:
    feature = {"id": 196992, "title": "t", "user_stories": None, "section_ids": [22042]}
    assert list(models.product_row(PRODUCT, CUSTOMER, SYNCED)) == PRODUCTS.column_names
    assert list(models.feature_row(feature, 18559, CUSTOMER, SYNCED)) == FEATURES.column_names
    assert list(models.test_row(TEST, 18559, CUSTOMER, SYNCED)) == TESTS.column_names
    for row in models.test_feature_rows(TEST, CUSTOMER, SYNCED):
        assert list(row) == TEST_FEATURES.column_names


def test_rows_load_into_a_real_duckdb_warehouse(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    feature = {"id": 196992, "title": "t", "user_stories": [{"id": 1, "title": "s"}], "section_ids": [22042]}
    rows = {
        PRODUCTS: [models.product_row(PRODUCT, CUSTOMER, SYNCED)],
        FEATURES: [models.feature_row(feature, 18559, CUSTOMER, SYNCED)],
        TESTS: [models.test_row(TEST, 18559, CUSTOMER, SYNCED)],
        TEST_FEATURES: models.test_feature_rows(TEST, CUSTOMER, SYNCED),
    }
    for spec, table_rows in rows.items():
        marks = ", ".join("?" for _ in spec.column_names)
        con.executemany(f"INSERT INTO {spec.name} VALUES ({marks})", [list(r.values()) for r in table_rows])
    assert con.execute("SELECT section_ids, raw->>'$.name' FROM products").fetchone() == (
        [22041, 22042], "Canva Monoproduct",
    )
    assert con.execute("SELECT user_stories, user_story_ids FROM features").fetchone() == (["s"], [1])
    end_at = con.execute("SELECT end_at AT TIME ZONE 'UTC' FROM tests").fetchone()[0]
    assert end_at == datetime(2025, 10, 27, 1, 0)
    con.close()


def test_product_sections_follow_the_reference_detection() -> None:
    sectioned = models.product_row(PRODUCT, CUSTOMER, SYNCED)
    assert (sectioned["has_sections"], sectioned["section_ids"]) == (True, [22041, 22042])
    legacy = with_(PRODUCT, sections=[], sections_with_default=[{"id": 21855, "name": "default-section"}])
    row = models.product_row(legacy, CUSTOMER, SYNCED)
    assert (row["has_sections"], row["section_ids"]) == (False, [21855])
    default_only = with_(PRODUCT, sections=[], sections_with_default=[{"id": 1}, {"id": 2}])
    row = models.product_row(default_only, CUSTOMER, SYNCED)
    assert (row["has_sections"], row["section_ids"]) == (True, [1, 2])
    bare = without(without(PRODUCT, "sections"), "sections_with_default")
    row = models.product_row(bare, CUSTOMER, SYNCED)
    assert (row["has_sections"], row["section_ids"]) == (False, [])


def test_raw_is_compact_json_of_the_api_object() -> None:
    product = with_(PRODUCT, name="Canva – «ü»")
    row = models.product_row(product, CUSTOMER, SYNCED)
    assert row["raw"] == json.dumps(product, separators=(",", ":"), ensure_ascii=False)
    assert "«ü»" in row["raw"] and ", " not in row["raw"]


def test_missing_ids_fail_loudly_naming_the_object() -> None:
    with pytest.raises(TestIOResponseError, match="product"):
        models.product_row(without(PRODUCT, "id"), CUSTOMER, SYNCED)
    with pytest.raises(TestIOResponseError, match="feature"):
        models.feature_row({"title": "x"}, 1, CUSTOMER, SYNCED)
    with pytest.raises(TestIOResponseError, match="exploratory test"):
        models.test_row(with_(TEST, id=None), 1, CUSTOMER, SYNCED)
    with pytest.raises(TestIOResponseError, match="test feature of test 109363"):
        models.test_feature_rows(with_(TEST, features=[{"feature_id": 5}]), CUSTOMER, SYNCED)


def test_feature_user_stories_accept_strings_and_objects() -> None:
    mixed = {
        "id": 177038, "section_ids": [22042, 22041, 22042],
        "user_stories": [
            "On mobile, I can tap",
            {"id": 60011, "path": "p1", "title": "Swipe down closes", "feature_id": 177038},
            {"id": 60012, "path": "Only a path", "title": None},
        ],
    }
    row = models.feature_row(mixed, 18559, CUSTOMER, SYNCED)
    assert row["user_stories"] == ["On mobile, I can tap", "Swipe down closes", "Only a path"]
    assert row["user_story_ids"] == [60011, 60012]
    assert row["section_ids"] == [22041, 22042]
    assert (row["is_deleted"], row["deleted_at"], row["product_id"]) == (False, None, 18559)
    # raw is the API object: the client's section_ids is not part of it
    assert "section_ids" not in json.loads(row["raw"])
    nulls = models.feature_row({"id": 1, "user_stories": None}, 18559, CUSTOMER, SYNCED)
    assert (nulls["user_stories"], nulls["user_story_ids"], nulls["section_ids"]) == ([], [], [])


def test_test_timestamps_become_utc() -> None:
    row = models.test_row(TEST, 18559, CUSTOMER, SYNCED)
    assert row["start_at"] == utc(2025, 10, 20, 11, 0) and row["start_at"].tzinfo == timezone.utc
    assert row["end_at"] == utc(2025, 10, 27, 1, 0)
    assert models.parse_timestamp("2026-01-02T03:04:05.000Z") == utc(2026, 1, 2, 3, 4, 5)
    assert models.parse_timestamp("2026-01-02T03:04:05") == utc(2026, 1, 2, 3, 4, 5)
    assert models.parse_timestamp(None) is None and models.parse_timestamp("") is None
    with pytest.raises(TestIOResponseError, match="end_at"):
        models.test_row(with_(TEST, end_at="last tuesday"), 18559, CUSTOMER, SYNCED)


@pytest.mark.parametrize(
    ("status", "final"),
    [("archived", True), ("cancelled", True), ("locked", False), ("customer_finalized", False),
     ("running", False), ("completed", False), (None, False)],
)
def test_only_archived_and_cancelled_tests_are_final(status: str | None, final: bool) -> None:
    row = models.test_row(with_(TEST, status=status), 18559, CUSTOMER, SYNCED)
    assert (row["status"], row["is_final"]) == (status, final)


def test_test_row_fields_and_fallbacks() -> None:
    row = models.test_row(TEST, 18559, CUSTOMER, SYNCED)
    assert (row["customer_id"], row["id"], row["product_id"], row["section_id"]) == (CUSTOMER, 109363, 18559, 22042)
    assert (row["created_by"], row["submitted_by"]) == ("jane.customer", None)
    assert (row["bugs_synced_at"], row["bugs_synced_final"], row["synced_at"]) == (None, None, SYNCED)
    legacy = with_(without(TEST, "title"), section=None)
    row = models.test_row(legacy, 18559, CUSTOMER, SYNCED)
    assert (row["title"], row["section_id"]) == ("Release 4.2 regression", None)


def test_test_feature_nulls_become_false_and_empty() -> None:
    first, second = models.test_feature_rows(TEST, CUSTOMER, SYNCED)
    assert (first["id"], first["test_id"], first["feature_id"], first["product_id"]) == (1042409, 109363, 196992, 18559)
    assert (first["enable_default"], first["enable_content"], first["enable_visual"]) == (True, False, True)
    assert first["user_stories"] == ["I can start a recording", "I can discard a recording"]
    assert (second["enable_default"], second["enable_content"], second["enable_visual"]) == (False, False, False)
    assert second["user_stories"] == [] and second["howtofind"] == "Share menu"
    assert models.test_feature_rows(with_(TEST, features=None), CUSTOMER, SYNCED) == []
    explicit = models.test_feature_rows(without(TEST, "product"), CUSTOMER, SYNCED, product_id=42)
    assert {r["product_id"] for r in explicit} == {42}
