"""`bug_trends`: bugs reported per ISO week, product, severity and status.

Key (customer_id, week_start, product_id, severity, status). Weeks are ISO weeks of
`bugs.reported_at` taken in UTC whatever the session's TimeZone: `week_start` is the Monday,
`iso_year`/`iso_week` the ISO calendar labels (30 Dec 2024 is 2025-W01). Only weeks with at
least one bug have rows. Every bug counts once: a bug with no product (and no test to take it
from) has product_id NULL, one with no `reported_at` has NULL week columns, and a missing
severity or status reads 'unknown'.
"""

from __future__ import annotations

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.spec import AnalyticsTable, Column, classified_bugs_cte


def select_sql() -> str:
    # timezone('UTC', ts) gives the UTC wall clock; date_trunc on a TIMESTAMPTZ would use the
    # session TimeZone and shift bugs reported near midnight into the neighbouring week
    return f"""WITH
{classified_bugs_cte(product_from_tests=True)},
utc_bugs AS (
  SELECT *, timezone('UTC', reported_at) AS reported_utc FROM classified_bugs
)
SELECT
  customer_id,
  CAST(date_trunc('week', reported_utc) AS DATE) AS week_start,
  isoyear(reported_utc) AS iso_year,
  week(reported_utc) AS iso_week,
  product_id,
  coalesce(severity, 'unknown') AS severity,
  coalesce(status, 'unknown') AS status,
  count(*) AS bugs,
  count_if(is_auto_accepted) AS auto_accepted_bugs
FROM utc_bugs
GROUP BY ALL"""


BUG_TRENDS = AnalyticsTable(
    name=settings.BUG_TRENDS_TABLE,
    key=("customer_id", "week_start", "product_id", "severity", "status"),
    description=(
        "Bugs reported per ISO week (UTC), product, severity and status: the input for "
        "trend charts and week-over-week comparisons."
    ),
    reads=(settings.TESTS, settings.BUGS),
    select_sql=select_sql,
    preview_order=(
        "week_start DESC NULLS LAST, bugs DESC, customer_id, product_id, severity, status"
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("week_start", "DATE", "Monday of the ISO week of reported_at in UTC"),
        Column("iso_year", "INTEGER", "ISO year of that week (may differ from the calendar year)"),
        Column("iso_week", "INTEGER", "ISO week number, 1-53"),
        Column("product_id", "BIGINT", "bugs.product_id, else the bug's test's product"),
        Column(
            "severity",
            "VARCHAR",
            "low, high, critical, visual, content, custom ('unknown' if NULL)",
        ),
        Column("status", "VARCHAR", "accepted, rejected, forwarded ('unknown' if NULL)"),
        Column("bugs", "BIGINT", "bugs reported in that week with that product, severity, status"),
        Column("auto_accepted_bugs", "BIGINT", "of those, accepted automatically"),
    ),
)
