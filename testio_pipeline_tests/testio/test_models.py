"""Raw API objects into warehouse rows: exact columns, null quirks, UTC timestamps.

Tests, test features and bugs are parsed in DuckDB: their cases live in test_test_rows.py
and test_bug_rows.py."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from testio_pipeline.testio import models
from testio_pipeline.testio.errors import TestIOResponseError
from testio_pipeline.warehouse.schema import FEATURES, PRODUCTS, ensure_schema
from testio_pipeline_tests.testio.records import utc, with_, without

SYNCED = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
CUSTOMER = 3


PRODUCT = {
    "id": 18559, "name": "Canva Monoproduct", "description": None, "type": "website",
    "default_section_id": 22040,
    "sections": [{"id": 22042, "name": "Presentations"}, {"id": 22041, "name": "Editor"}],
    "sections_with_default": [{"id": 22041, "name": "Editor"}, {"id": 22042, "name": "Presentations"}],
    "connection": None, "remote_device_testing": False,
}
def test_rows_have_exactly_the_schema_columns() -> None:
    feature = {"id": 196992, "title": "t", "user_stories": None, "section_ids": [22042]}
    assert list(models.product_row(PRODUCT, CUSTOMER, SYNCED)) == PRODUCTS.column_names
    assert list(models.feature_row(feature, 18559, CUSTOMER, SYNCED)) == FEATURES.column_names


def test_rows_load_into_a_real_duckdb_warehouse(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(con)
    feature = {"id": 196992, "title": "t", "user_stories": [{"id": 1, "title": "s"}], "section_ids": [22042]}
    rows = {
        PRODUCTS: [models.product_row(PRODUCT, CUSTOMER, SYNCED)],
        FEATURES: [models.feature_row(feature, 18559, CUSTOMER, SYNCED)],
    }
    for spec, table_rows in rows.items():
        marks = ", ".join("?" for _ in spec.column_names)
        con.executemany(f"INSERT INTO {spec.name} VALUES ({marks})", [list(r.values()) for r in table_rows])
    assert con.execute("SELECT section_ids, raw->>'$.name' FROM products").fetchone() == (
        [22041, 22042], "Canva Monoproduct",
    )
    assert con.execute("SELECT user_stories, user_story_ids FROM features").fetchone() == (["s"], [1])
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


def test_timestamps_become_utc() -> None:
    assert models.parse_timestamp("2025-10-27T02:00:00+01:00") == utc(2025, 10, 27, 1, 0)
    assert models.parse_timestamp("2026-01-02T03:04:05.000Z") == utc(2026, 1, 2, 3, 4, 5)
    assert models.parse_timestamp("2026-01-02T03:04:05") == utc(2026, 1, 2, 3, 4, 5)
    assert models.parse_timestamp(None) is None and models.parse_timestamp("") is None
    with pytest.raises(TestIOResponseError, match="end_at"):
        models.parse_timestamp("last tuesday", "test 1 end_at")
