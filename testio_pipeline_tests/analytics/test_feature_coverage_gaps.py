from __future__ import annotations

import datetime as dt

import pytest

from .builder import build, rows

TABLE = "feature_coverage_gaps"
REFERENCE = "2025-06-30 12:00:00+00"

RECENT, STALE, NEVER, CANCELLED_ONLY, DELETED, BOUNDARY = 1, 2, 3, 4, 5, 6


@pytest.fixture
def gaps_world(con, wb):
    """Catalog features with known last-test times; the newest test ends at REFERENCE."""
    for feature_id in (RECENT, STALE, NEVER, CANCELLED_ONLY, BOUNDARY):
        wb.feature(feature_id, 10, f"feature {feature_id}")
    wb.feature(DELETED, 10, "deleted", is_deleted=True)
    wb.test(100, 10, end_at=REFERENCE)
    wb.test(101, 10, end_at="2025-06-01 12:00:00+00")
    wb.test(102, 10, end_at="2025-03-01 12:00:00+00")
    wb.test(103, 10, end_at="2025-06-29 12:00:00+00", status="cancelled")
    wb.test(104, 10, end_at="2025-04-01 12:00:00+00")  # exactly 90 days before REFERENCE
    wb.test(105, 10, end_at=None, start_at="2025-01-01 12:00:00+00")
    wb.test_feature(1, 101, RECENT)
    wb.test_feature(2, 102, STALE)
    wb.test_feature(3, 105, STALE)  # a test without an end counts at its start
    wb.test_feature(4, 103, CANCELLED_ONLY)
    wb.test_feature(5, 104, BOUNDARY)
    wb.test_feature(6, 102, DELETED)
    wb.bug(1, test_id=102, test_feature_id=2, feature_id=STALE, status="accepted")
    wb.bug(2, test_id=102, test_feature_id=2, feature_id=STALE, status="rejected")
    return con


def _gaps(con) -> dict[int, dict]:
    return {row["feature_id"]: row for row in rows(con, f"SELECT * FROM {TABLE}")}


def test_lists_never_tested_and_stale_catalog_features_only(gaps_world):
    build(gaps_world, TABLE)
    gaps = _gaps(gaps_world)
    assert sorted(gaps) == [STALE, NEVER, CANCELLED_ONLY]
    assert gaps[NEVER]["gap_reason"] == "never_tested"
    assert gaps[STALE]["gap_reason"] == "stale"


def test_a_cancelled_test_does_not_count_as_testing_a_feature(gaps_world):
    build(gaps_world, TABLE)
    row = _gaps(gaps_world)[CANCELLED_ONLY]
    assert (row["gap_reason"], row["tests_covered"], row["last_tested_at"]) == ("never_tested", 0, None)


def test_stale_gap_reports_last_test_days_since_and_valid_bugs(gaps_world):
    build(gaps_world, TABLE)
    row = _gaps(gaps_world)[STALE]
    assert row["tests_covered"] == 2
    assert row["last_tested_at"] == dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)
    assert row["reference_at"] == dt.datetime(2025, 6, 30, 12, tzinfo=dt.timezone.utc)
    assert row["days_since_last_test"] == 121
    assert row["stale_after_days"] == 90
    assert row["valid_bugs"] == 1


def test_exactly_the_threshold_is_not_yet_stale_but_a_smaller_threshold_makes_it_so(gaps_world):
    build(gaps_world, TABLE)
    assert BOUNDARY not in _gaps(gaps_world)
    build(gaps_world, TABLE, stale_days=20)
    gaps = _gaps(gaps_world)
    assert sorted(gaps) == [RECENT, STALE, NEVER, CANCELLED_ONLY, BOUNDARY]
    assert gaps[RECENT]["days_since_last_test"] == 29
    assert gaps[RECENT]["stale_after_days"] == 20


def test_reference_is_per_customer(con, wb):
    wb.feature(1, 10)
    wb.test(1, 10, end_at="2025-01-01 00:00:00+00")
    wb.test_feature(1, 1, 1)
    other = wb.for_customer(2)
    other.feature(1, 10)
    other.test(1, 10, end_at="2025-01-01 00:00:00+00")
    other.test(2, 10, end_at="2025-12-01 00:00:00+00")
    other.test_feature(1, 1, 1)
    build(con, TABLE)
    # customer 1's newest test is its only one; customer 2 moved on 334 days later
    gaps = rows(con, f"SELECT customer_id, feature_id, days_since_last_test FROM {TABLE}")
    assert gaps == [{"customer_id": 2, "feature_id": 1, "days_since_last_test": 334}]
