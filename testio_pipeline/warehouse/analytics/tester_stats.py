"""`tester_stats`: one row per tester (bug author) with volume, outcomes and severity mix.

Key (customer_id, tester_name). Testers are identified by `bugs.author_name`, the only tester
identity the API exposes; bugs without an author belong to no tester and are left out here
(they still count in `product_quality` and `bug_trends`). Rates are over all bugs the tester
reported; severities count valid bugs only.
"""

from __future__ import annotations

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.spec import (
    AnalyticsTable,
    Column,
    bug_outcome_aggregates,
    classified_bugs_cte,
    ratio,
    severity_columns,
)


def select_sql() -> str:
    return f"""WITH
{classified_bugs_cte(product_from_tests=False)},
per_tester AS (
  SELECT customer_id, author_name AS tester_name,
    {bug_outcome_aggregates(total_name="bugs_reported")},
    count(DISTINCT test_id) AS tests_participated,
    count(DISTINCT product_id) AS products_tested,
    min(reported_at) AS first_reported_at,
    max(reported_at) AS last_reported_at
  FROM classified_bugs
  WHERE author_name IS NOT NULL
  GROUP BY customer_id, author_name
)
SELECT *,
  {ratio("accepted_bugs", "bugs_reported")} AS accepted_rate,
  {ratio("rejected_bugs", "bugs_reported")} AS rejected_rate,
  {ratio("critical_bugs", "valid_bugs")} AS critical_share
FROM per_tester"""


TESTER_STATS = AnalyticsTable(
    name=settings.TESTER_STATS_TABLE,
    key=("customer_id", "tester_name"),
    description=(
        "Per tester (bug author): bugs reported, how many the customer accepted or rejected, "
        "severity mix of the valid ones, and the first and last report."
    ),
    reads=(settings.BUGS,),
    select_sql=select_sql,
    preview_order="valid_bugs DESC, customer_id, tester_name",
    preview_columns=(
        "customer_id", "tester_name", "bugs_reported", "valid_bugs", "accepted_rate",
        "rejected_rate", "critical_bugs", "high_bugs", "low_bugs", "critical_share",
        "tests_participated", "first_reported_at", "last_reported_at",
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("tester_name", "VARCHAR", "bugs.author_name"),
        Column("bugs_reported", "BIGINT", "bugs the tester reported"),
        Column("valid_bugs", "BIGINT", "of those, any status other than 'rejected'"),
        Column("accepted_bugs", "BIGINT", "status 'accepted'"),
        Column("rejected_bugs", "BIGINT", "status 'rejected'"),
        Column("forwarded_bugs", "BIGINT", "status 'forwarded' (awaiting the customer)"),
        Column("auto_accepted_bugs", "BIGINT", "accepted automatically after 10 days unreviewed"),
        Column("accepted_rate", "DOUBLE", "accepted_bugs / bugs_reported"),
        Column("rejected_rate", "DOUBLE", "rejected_bugs / bugs_reported"),
        *severity_columns(scope="reported by the tester"),
        Column("critical_share", "DOUBLE", "critical_bugs / valid_bugs; NULL without valid bugs"),
        Column("tests_participated", "BIGINT", "distinct tests the tester reported bugs in"),
        Column("products_tested", "BIGINT", "distinct products of those bugs"),
        Column("first_reported_at", "TIMESTAMPTZ", "earliest reported_at"),
        Column("last_reported_at", "TIMESTAMPTZ", "latest reported_at"),
    ),
)
