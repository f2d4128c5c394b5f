from __future__ import annotations

import duckdb
import pytest

from .builder import WarehouseBuilder, build, row_by, rows
from .worlds import CHECKOUT, LEGACY_LOGIN, OLD_CART, SEARCH, SHOP, WISHLIST, shop

TABLE = "feature_bug_density"


@pytest.fixture
def shop_density(con: duckdb.DuckDBPyConnection, wb: WarehouseBuilder) -> duckdb.DuckDBPyConnection:
    shop(wb)
    build(con, TABLE)
    return con


def test_one_row_per_catalog_feature_and_per_referenced_unknown_feature(shop_density):
    keys = [
        (row["feature_id"], row["in_catalog"])
        for row in rows(shop_density, f"SELECT * FROM {TABLE} ORDER BY feature_id")
    ]
    assert keys == [(CHECKOUT, True), (SEARCH, True), (OLD_CART, False), (WISHLIST, False)]


def test_deleted_feature_never_referenced_gets_no_row(shop_density):
    assert row_by(shop_density, TABLE, customer_id=1, feature_id=LEGACY_LOGIN) is None


def test_feature_never_tested_has_zero_tests_and_null_density(shop_density):
    row = row_by(shop_density, TABLE, customer_id=1, feature_id=SEARCH)
    assert row["tests_covered"] == 0
    assert row["bugs_total"] == 0
    assert row["bug_density"] is None
    assert row["feature_title"] == "Search"


def test_counts_valid_bugs_over_distinct_covering_tests(shop_density):
    row = row_by(shop_density, TABLE, customer_id=1, feature_id=CHECKOUT)
    assert row["feature_title"] == "Checkout"
    assert row["product_id"] == SHOP
    assert row["tests_covered"] == 2
    assert (row["bugs_total"], row["valid_bugs"]) == (8, 6)
    assert row["bug_density"] == pytest.approx(3.0)


def test_rejected_bugs_are_counted_as_rejected_and_not_valid(shop_density):
    row = row_by(shop_density, TABLE, customer_id=1, feature_id=CHECKOUT)
    assert row["rejected_bugs"] == 2
    assert row["accepted_bugs"] == 5
    assert row["forwarded_bugs"] == 1
    assert row["valid_bugs"] == row["bugs_total"] - row["rejected_bugs"]


def test_each_severity_counts_only_valid_bugs(shop_density):
    row = row_by(shop_density, TABLE, customer_id=1, feature_id=CHECKOUT)
    names = ("critical", "high", "low", "visual", "content", "custom")
    # one valid bug of each severity; the rejected high and critical bugs are not counted
    assert {name: row[f"{name}_bugs"] for name in names} == dict.fromkeys(names, 1)


def test_bug_without_test_feature_is_in_no_feature_count(shop_density):
    total = shop_density.execute(f"SELECT sum(bugs_total) FROM {TABLE}").fetchone()[0]
    # bugs 1-8 (checkout) and 10 (old cart); bug 9 has no test feature
    assert total == 9


def test_deleted_but_referenced_feature_takes_the_title_of_its_highest_snapshot_id(shop_density):
    row = row_by(shop_density, TABLE, customer_id=1, feature_id=OLD_CART)
    assert row["in_catalog"] is False
    assert row["feature_title"] == "Cart (newest snapshot)"
    assert row["tests_covered"] == 2
    assert (row["bugs_total"], row["valid_bugs"], row["low_bugs"]) == (1, 1, 1)
    assert row["bug_density"] == pytest.approx(0.5)


def test_feature_known_only_from_a_snapshot_takes_its_product_from_the_snapshot(shop_density):
    row = row_by(shop_density, TABLE, customer_id=1, feature_id=WISHLIST)
    assert (row["in_catalog"], row["feature_title"], row["product_id"]) == (False, "Wishlist", SHOP)
    assert row["tests_covered"] == 1
    assert row["bug_density"] == 0.0


def test_two_customers_with_the_same_ids_never_mix(con, wb):
    shop(wb)
    other = wb.for_customer(2)
    # customer 2 reuses product, feature, test, test feature and bug ids of customer 1
    other.product(SHOP, "Laden")
    other.feature(CHECKOUT, SHOP, "Kasse")
    other.test(1000, SHOP)
    other.test_feature(5000, 1000, CHECKOUT, product_id=SHOP, title="Kasse v1")
    # customer 2 tests feature 101, which customer 1 has in its catalog but never tested
    other.test_feature(5001, 1000, SEARCH, product_id=SHOP, title="Suche")
    other.bug(
        1, test_id=1000, product_id=SHOP, test_feature_id=5000, feature_id=CHECKOUT,
        status="rejected",
    )
    build(con, TABLE)

    query = f"SELECT * FROM {TABLE} WHERE customer_id = ?"
    first = {row["feature_id"]: row for row in rows(con, query, [1])}
    second = {row["feature_id"]: row for row in rows(con, query, [2])}
    assert sorted(first) == [CHECKOUT, SEARCH, OLD_CART, WISHLIST]
    assert (first[CHECKOUT]["tests_covered"], first[CHECKOUT]["bugs_total"]) == (2, 8)
    assert first[SEARCH]["tests_covered"] == 0
    assert sorted(second) == [CHECKOUT, SEARCH]
    assert second[CHECKOUT]["feature_title"] == "Kasse"
    assert (second[CHECKOUT]["tests_covered"], second[CHECKOUT]["bugs_total"]) == (1, 1)
    assert (second[CHECKOUT]["valid_bugs"], second[CHECKOUT]["bug_density"]) == (0, 0.0)
    assert (second[SEARCH]["in_catalog"], second[SEARCH]["feature_title"]) == (False, "Suche")


def test_rebuilding_replaces_rows_instead_of_appending(shop_density):
    build(shop_density, TABLE)
    assert shop_density.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 4


def test_unknown_status_counts_as_valid_and_status_case_is_ignored(con, wb):
    wb.feature(1, SHOP)
    wb.test(1, SHOP)
    wb.test_feature(1, 1, 1)
    wb.bug(1, test_id=1, test_feature_id=1, feature_id=1, status="Rejected")
    wb.bug(2, test_id=1, test_feature_id=1, feature_id=1, status=None, severity="HIGH")
    build(con, TABLE)
    row = row_by(con, TABLE, customer_id=1, feature_id=1)
    assert (row["bugs_total"], row["valid_bugs"], row["rejected_bugs"], row["high_bugs"]) == (2, 1, 1, 1)
