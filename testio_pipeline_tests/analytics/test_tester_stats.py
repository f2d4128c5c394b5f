from __future__ import annotations

import datetime as dt

import pytest

from .builder import build, row_by, rows

TABLE = "tester_stats"


@pytest.fixture
def testers(con, wb):
    wb.bug(1, test_id=1, product_id=10, author_name="ana", severity="critical", status="accepted",
           reported_at="2025-03-01 10:00:00+00")
    wb.bug(2, test_id=1, product_id=10, author_name="ana", severity="high", status="rejected",
           reported_at="2025-03-02 10:00:00+00")
    wb.bug(3, test_id=2, product_id=11, author_name="ana", severity="custom", status="forwarded",
           reported_at="2025-03-03 10:00:00+00")
    wb.bug(4, test_id=2, product_id=11, author_name="ana", severity="low", status="accepted",
           auto_accepted=True, reported_at="2025-02-01 10:00:00+00")
    wb.bug(5, test_id=2, product_id=11, author_name="ben", severity="visual", status="rejected")
    wb.bug(6, test_id=2, product_id=11, author_name=None)
    build(con, TABLE)
    return con


def test_one_row_per_named_tester(testers):
    names = [row["tester_name"] for row in rows(testers, f"SELECT * FROM {TABLE} ORDER BY tester_name")]
    assert names == ["ana", "ben"]


def test_outcomes_rates_and_report_span(testers):
    row = row_by(testers, TABLE, customer_id=1, tester_name="ana")
    assert (row["bugs_reported"], row["valid_bugs"], row["accepted_bugs"]) == (4, 3, 2)
    assert (row["rejected_bugs"], row["forwarded_bugs"], row["auto_accepted_bugs"]) == (1, 1, 1)
    assert row["accepted_rate"] == pytest.approx(0.5)
    assert row["rejected_rate"] == pytest.approx(0.25)
    assert (row["tests_participated"], row["products_tested"]) == (2, 2)
    assert row["first_reported_at"] == dt.datetime(2025, 2, 1, 10, tzinfo=dt.timezone.utc)
    assert row["last_reported_at"] == dt.datetime(2025, 3, 3, 10, tzinfo=dt.timezone.utc)


def test_severity_mix_counts_valid_bugs_only(testers):
    ana = row_by(testers, TABLE, customer_id=1, tester_name="ana")
    assert (ana["critical_bugs"], ana["high_bugs"], ana["low_bugs"], ana["custom_bugs"]) == (1, 0, 1, 1)
    assert ana["critical_share"] == pytest.approx(1 / 3)
    ben = row_by(testers, TABLE, customer_id=1, tester_name="ben")
    assert (ben["valid_bugs"], ben["visual_bugs"], ben["critical_share"]) == (0, 0, None)


def test_same_tester_name_at_two_customers_gives_two_rows(con, wb):
    wb.bug(1, author_name="ana")
    wb.for_customer(2).bug(1, author_name="ana", status="rejected")
    build(con, TABLE)
    found = rows(con, f"SELECT customer_id, bugs_reported, rejected_bugs FROM {TABLE} ORDER BY 1")
    assert found == [
        {"customer_id": 1, "bugs_reported": 1, "rejected_bugs": 0},
        {"customer_id": 2, "bugs_reported": 1, "rejected_bugs": 1},
    ]
