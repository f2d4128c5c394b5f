from __future__ import annotations

import datetime as dt

from .builder import build, rows

TABLE = "bug_trends"


def _week_of(con, bug_id: int) -> tuple[dt.date, int, int]:
    """(week_start, iso_year, iso_week) of the only bug in the warehouse."""
    found = rows(con, f"SELECT week_start, iso_year, iso_week FROM {TABLE}")
    assert len(found) == 1, found
    row = found[0]
    return row["week_start"], row["iso_year"], row["iso_week"]


def test_sunday_late_evening_belongs_to_the_week_that_started_on_monday(con, wb):
    wb.bug(1, product_id=10, reported_at="2025-03-09 23:30:00+00")
    build(con, TABLE)
    assert _week_of(con, 1) == (dt.date(2025, 3, 3), 2025, 10)


def test_monday_just_after_midnight_starts_a_new_week(con, wb):
    wb.bug(1, product_id=10, reported_at="2025-03-10 00:30:00+00")
    build(con, TABLE)
    assert _week_of(con, 1) == (dt.date(2025, 3, 10), 2025, 11)


def test_weeks_are_taken_in_utc_not_in_the_reported_offset_or_session_zone(con, wb):
    # Monday 01:30 in Berlin is still Sunday 23:30 UTC; the session runs in Los Angeles
    wb.bug(1, product_id=10, reported_at="2025-03-10 01:30:00+02:00")
    build(con, TABLE)
    assert _week_of(con, 1) == (dt.date(2025, 3, 3), 2025, 10)


def test_last_days_of_december_can_be_iso_week_1_of_the_next_year(con, wb):
    wb.bug(1, product_id=10, reported_at="2024-12-30 10:00:00+00")
    build(con, TABLE)
    assert _week_of(con, 1) == (dt.date(2024, 12, 30), 2025, 1)


def test_first_days_of_january_can_be_iso_week_53_of_the_previous_year(con, wb):
    wb.bug(1, product_id=10, reported_at="2021-01-03 10:00:00+00")
    build(con, TABLE)
    assert _week_of(con, 1) == (dt.date(2020, 12, 28), 2020, 53)


def test_counts_per_week_product_severity_and_status(con, wb):
    for bug_id, severity, status, day in [
        (1, "high", "accepted", "2025-03-03"),
        (2, "high", "accepted", "2025-03-09"),
        (3, "high", "rejected", "2025-03-04"),
        (4, "custom", "accepted", "2025-03-05"),
        (5, "high", "accepted", "2025-03-10"),
    ]:
        wb.bug(
            bug_id, product_id=10, severity=severity, status=status,
            reported_at=f"{day} 12:00:00+00", auto_accepted=bug_id == 2,
        )
    wb.bug(6, product_id=11, severity="high", reported_at="2025-03-03 12:00:00+00")
    build(con, TABLE)
    cells = {
        (str(row["week_start"]), row["product_id"], row["severity"], row["status"]): (
            row["bugs"], row["auto_accepted_bugs"],
        )
        for row in rows(con, f"SELECT * FROM {TABLE}")
    }
    assert cells == {
        ("2025-03-03", 10, "high", "accepted"): (2, 1),
        ("2025-03-03", 10, "high", "rejected"): (1, 0),
        ("2025-03-03", 10, "custom", "accepted"): (1, 0),
        ("2025-03-10", 10, "high", "accepted"): (1, 0),
        ("2025-03-03", 11, "high", "accepted"): (1, 0),
    }


def test_bugs_missing_time_product_or_severity_are_kept_not_dropped(con, wb):
    wb.test(7, 12)
    wb.bug(1, test_id=7, product_id=None, severity=None, status=None, reported_at=None)
    build(con, TABLE)
    [row] = rows(con, f"SELECT * FROM {TABLE}")
    assert (row["week_start"], row["product_id"], row["severity"], row["status"], row["bugs"]) == (
        None, 12, "unknown", "unknown", 1,
    )


def test_two_customers_are_counted_separately(con, wb):
    wb.bug(1, product_id=10, reported_at="2025-03-03 12:00:00+00")
    wb.for_customer(2).bug(1, product_id=10, reported_at="2025-03-03 12:00:00+00")
    wb.for_customer(2).bug(2, product_id=10, reported_at="2025-03-04 12:00:00+00")
    build(con, TABLE)
    totals = dict(con.execute(f"SELECT customer_id, sum(bugs) FROM {TABLE} GROUP BY 1").fetchall())
    assert totals == {1: 1, 2: 2}
