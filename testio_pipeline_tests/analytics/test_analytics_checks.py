from __future__ import annotations

import duckdb
import pytest

from testio_pipeline.warehouse.analytics import (
    ANALYTICS_TABLES,
    ANALYTICS_TABLES_BY_NAME,
    replace_all,
)
from testio_pipeline.warehouse.analytics import checks

from .builder import WarehouseBuilder
from .worlds import CHECKOUT, SHOP, shop

ALL_CHECKS = [
    checks.check_density_null_iff_untested,
    checks.check_attributed_bugs_reconcile,
    checks.check_unattributed_feature_links,
    checks.check_density_no_customer_mixing,
    checks.check_product_bugs_reconcile,
    checks.check_trend_bugs_reconcile,
]


@pytest.fixture
def built(con: duckdb.DuckDBPyConnection, wb: WarehouseBuilder) -> duckdb.DuckDBPyConnection:
    shop(wb)
    shop(wb.for_customer(2))
    replace_all(con)
    return con


def test_every_check_passes_on_good_data_with_two_customers(built):
    for check in ALL_CHECKS:
        outcome = check(built)
        assert outcome.passed, (check.__name__, outcome.details)
    for table in ANALYTICS_TABLES:
        assert checks.check_key_unique(built, table).passed, table.name


def test_density_check_fails_when_an_untested_feature_gets_a_density(built):
    built.execute("UPDATE feature_bug_density SET bug_density = 0 WHERE tests_covered = 0")
    outcome = checks.check_density_null_iff_untested(built)
    assert not outcome.passed
    assert outcome.details["violations"] == 2  # search, for both customers


def test_density_check_fails_when_a_tested_feature_loses_its_density(built):
    built.execute(f"UPDATE feature_bug_density SET bug_density = NULL WHERE feature_id = {CHECKOUT}")
    assert not checks.check_density_null_iff_untested(built).passed


def test_density_check_fails_when_density_is_not_valid_bugs_per_test(built):
    built.execute(f"UPDATE feature_bug_density SET bug_density = 4.0 WHERE feature_id = {CHECKOUT}")
    assert not checks.check_density_null_iff_untested(built).passed


def test_reconcile_fails_when_a_bug_arrives_after_the_table_was_built(built, wb):
    wb.bug(99, test_id=1000, product_id=SHOP, test_feature_id=5000, feature_id=CHECKOUT)
    outcome = checks.check_attributed_bugs_reconcile(built)
    assert not outcome.passed
    # customer 1 expects 10 attributable bugs, the table holds 9
    assert outcome.details["mismatch_sample"][0][:3] == [1, 10, 9]


def test_reconcile_fails_on_a_row_whose_counts_do_not_add_up(built):
    built.execute(
        "UPDATE feature_bug_density SET bugs_total = bugs_total + 1, "
        "rejected_bugs = rejected_bugs + 1, valid_bugs = valid_bugs + 1 "
        f"WHERE customer_id = 2 AND feature_id = {CHECKOUT}"
    )
    outcome = checks.check_attributed_bugs_reconcile(built)
    assert not outcome.passed
    assert outcome.details["inconsistent_rows"] == 1


def test_a_bug_linked_to_a_feature_nothing_else_knows_is_reported_as_unattributed(built, wb):
    wb.bug(99, test_id=1000, product_id=SHOP, test_feature_id=777, feature_id=4242)
    replace_all(built)
    outcome = checks.check_unattributed_feature_links(built)
    assert not outcome.passed
    assert outcome.details["unattributed_bugs"] == 1
    assert outcome.details["sample"] == [[1, 99, 4242]]
    # the same bug still reconciles: it is not attributable, and product totals hold it
    assert checks.check_attributed_bugs_reconcile(built).passed
    assert checks.check_product_bugs_reconcile(built).passed


def test_mixing_check_fails_on_a_row_with_another_customers_product(built, wb):
    wb.product(555, "only customer 1 has this")
    built.execute(
        "UPDATE feature_bug_density SET product_id = 555 "
        f"WHERE customer_id = 2 AND feature_id = {CHECKOUT}"
    )
    outcome = checks.check_density_no_customer_mixing(built)
    assert not outcome.passed
    assert outcome.details["sample"] == [[2, CHECKOUT, 555]]


def test_mixing_check_fails_on_a_feature_the_customer_does_not_have(built, wb):
    wb.feature(888, SHOP)
    replace_all(built)
    built.execute(
        "UPDATE feature_bug_density SET customer_id = 2 WHERE customer_id = 1 AND feature_id = 888"
    )
    assert not checks.check_density_no_customer_mixing(built).passed


def test_product_reconcile_fails_when_a_product_row_is_lost(built):
    built.execute(f"DELETE FROM product_quality WHERE customer_id = 1 AND product_id = {SHOP}")
    outcome = checks.check_product_bugs_reconcile(built)
    assert not outcome.passed
    assert outcome.details["sample"] == [[1, 10, 0, 1, 0]]


def test_trend_reconcile_fails_when_a_bug_is_missing_from_the_trends(built):
    built.execute("DELETE FROM bug_trends WHERE customer_id = 2 AND severity = 'custom'")
    outcome = checks.check_trend_bugs_reconcile(built)
    assert not outcome.passed
    assert outcome.details["sample"] == [[2, 10, 9]]


def test_key_check_fails_on_a_duplicated_key(built):
    built.execute("INSERT INTO tester_stats SELECT * FROM tester_stats WHERE customer_id = 1")
    outcome = checks.check_key_unique(built, ANALYTICS_TABLES_BY_NAME["tester_stats"])
    assert not outcome.passed
    assert outcome.details["duplicate_keys"] == 1


def test_checks_fail_rather_than_crash_when_the_table_is_missing(con):
    outcome = checks.check_density_null_iff_untested(con)
    assert not outcome.passed
    assert "does not exist" in outcome.details["error"]
