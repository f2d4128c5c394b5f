from __future__ import annotations

import pytest

from .builder import build, row_by, rows
from .worlds import SHOP, TEST_A, shop

TABLE = "product_quality"


def test_product_totals_include_bugs_without_a_test_feature(con, wb):
    shop(wb)
    build(con, TABLE)
    row = row_by(con, TABLE, customer_id=1, product_id=SHOP)
    assert row["product_name"] == "Shop"
    # bugs 1-8 and 10 are linked to features, bug 9 is not
    assert row["bugs_total"] == 10
    assert row["bugs_without_feature"] == 1
    assert row["valid_bugs"] == 8
    assert (row["accepted_bugs"], row["rejected_bugs"], row["forwarded_bugs"]) == (7, 2, 1)
    assert row["critical_bugs"] == 2  # bug 1 and the unlinked bug 9; bug 8 is rejected


def test_rates_and_shares_use_their_documented_denominators(con, wb):
    shop(wb)
    build(con, TABLE)
    row = row_by(con, TABLE, customer_id=1, product_id=SHOP)
    assert row["accepted_rate"] == pytest.approx(7 / 10)
    assert row["rejected_rate"] == pytest.approx(2 / 10)
    assert row["auto_accepted_rate"] == pytest.approx(1 / 7)
    assert row["critical_share"] == pytest.approx(2 / 8)
    assert row["valid_bugs_per_test"] == pytest.approx(8 / 2)


def test_counts_tests_final_tests_and_catalog_features_never_tested(con, wb):
    shop(wb)
    build(con, TABLE)
    row = row_by(con, TABLE, customer_id=1, product_id=SHOP)
    assert (row["tests"], row["tests_final"]) == (2, 1)
    # catalog = checkout (tested) and search (never); deleted features are not catalog
    assert (row["features_in_catalog"], row["features_never_tested"]) == (2, 1)


def test_product_without_bugs_or_tests_has_zero_counts_and_null_rates(con, wb):
    wb.product(20, "Empty")
    wb.feature(1, 20)
    build(con, TABLE)
    row = row_by(con, TABLE, customer_id=1, product_id=20)
    assert (row["tests"], row["bugs_total"], row["features_never_tested"]) == (0, 0, 1)
    assert row["accepted_rate"] is None
    assert row["valid_bugs_per_test"] is None


def test_bug_without_product_takes_its_tests_product_else_lands_in_the_null_product_row(con, wb):
    wb.product(SHOP, "Shop")
    wb.test(TEST_A, SHOP)
    wb.bug(1, test_id=TEST_A, product_id=None)
    wb.bug(2, test_id=None, product_id=None)
    wb.bug(3, test_id=None, product_id=77)  # a product the product list does not know
    build(con, TABLE)
    by_product = {row["product_id"]: row for row in rows(con, f"SELECT * FROM {TABLE}")}
    assert by_product[SHOP]["bugs_total"] == 1
    assert by_product[None]["bugs_total"] == 1
    assert (by_product[77]["bugs_total"], by_product[77]["product_name"]) == (1, None)


def test_products_of_two_customers_with_the_same_id_never_mix(con, wb):
    shop(wb)
    other = wb.for_customer(2)
    other.product(SHOP, "Laden")
    other.test(1, SHOP)
    other.bug(1, test_id=1, product_id=SHOP, status="rejected")
    build(con, TABLE)
    first = row_by(con, TABLE, customer_id=1, product_id=SHOP)
    second = row_by(con, TABLE, customer_id=2, product_id=SHOP)
    assert (first["tests"], first["bugs_total"]) == (2, 10)
    assert (second["product_name"], second["tests"], second["bugs_total"], second["rejected_bugs"]) == (
        "Laden", 1, 1, 1,
    )
    assert second["features_in_catalog"] == 0
