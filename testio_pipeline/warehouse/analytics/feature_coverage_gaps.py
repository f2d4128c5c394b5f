"""`feature_coverage_gaps`: catalog features never tested, or not tested for a long time.

Key (customer_id, feature_id). Time is measured against the data, not the wall clock: the
reference is the customer's newest `tests.end_at`, so a re-run over the same warehouse gives
the same answer. A feature counts as tested by a test that had it in scope (`test_features`)
and is in `tests` with a status other than 'cancelled' (a cancelled test tested nothing); its
last test time is that test's `end_at` (its `start_at` while `end_at` is unknown). A feature is
a gap when no such test exists ('never_tested') or its last test ended more than
`stale_days` days before the reference ('stale'). Deleted features are not gaps: nobody can
test them any more.
"""

from __future__ import annotations

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.spec import AnalyticsTable, Column, classified_bugs_cte

_SECONDS_PER_DAY = 86400


def select_sql(*, stale_days: int = settings.COVERAGE_STALE_DAYS) -> str:
    stale_days = int(stale_days)
    return f"""WITH
{classified_bugs_cte(product_from_tests=False)},
reference AS (
  SELECT customer_id, max(end_at) AS reference_at FROM tests GROUP BY customer_id
),
tested AS (
  SELECT tf.customer_id, tf.feature_id,
    count(DISTINCT tf.test_id) AS tests_covered,
    max(coalesce(t.end_at, t.start_at)) AS last_tested_at
  FROM test_features AS tf
  JOIN tests AS t ON t.customer_id = tf.customer_id AND t.id = tf.test_id
  WHERE tf.feature_id IS NOT NULL
    AND lower(t.status) IS DISTINCT FROM '{settings.TEST_STATUS_CANCELLED}'
  GROUP BY tf.customer_id, tf.feature_id
),
valid AS (
  SELECT customer_id, feature_id, count_if(is_valid) AS valid_bugs
  FROM classified_bugs WHERE feature_id IS NOT NULL
  GROUP BY customer_id, feature_id
),
candidates AS (
  SELECT
    f.customer_id,
    f.id AS feature_id,
    f.product_id,
    f.title AS feature_title,
    coalesce(t.tests_covered, 0) AS tests_covered,
    t.last_tested_at,
    r.reference_at,
    -- whole days elapsed, from epochs so the session TimeZone cannot move a day boundary
    CAST(floor((epoch(r.reference_at) - epoch(t.last_tested_at)) / {_SECONDS_PER_DAY}) AS BIGINT)
      AS days_since_last_test,
    coalesce(v.valid_bugs, 0) AS valid_bugs
  FROM features AS f
  LEFT JOIN tested AS t ON t.customer_id = f.customer_id AND t.feature_id = f.id
  LEFT JOIN reference AS r ON r.customer_id = f.customer_id
  LEFT JOIN valid AS v ON v.customer_id = f.customer_id AND v.feature_id = f.id
  WHERE NOT coalesce(f.is_deleted, false)
)
SELECT *,
  CASE WHEN tests_covered = 0 THEN 'never_tested' ELSE 'stale' END AS gap_reason,
  {stale_days} AS stale_after_days
FROM candidates
WHERE tests_covered = 0
   OR last_tested_at < reference_at - INTERVAL {stale_days} DAY"""


FEATURE_COVERAGE_GAPS = AnalyticsTable(
    name=settings.FEATURE_COVERAGE_GAPS_TABLE,
    key=("customer_id", "feature_id"),
    description=(
        "Catalog features never tested, or whose last non-cancelled test ended more than "
        f"{settings.COVERAGE_STALE_DAYS} days before the account's newest test end."
    ),
    reads=(settings.FEATURES, settings.TESTS, settings.TEST_FEATURES, settings.BUGS),
    select_sql=select_sql,
    params={"stale_days": settings.COVERAGE_STALE_DAYS},
    # the riskiest gaps first: features that were buggy and have not been retested since
    preview_order="valid_bugs DESC, days_since_last_test DESC NULLS FIRST, customer_id, feature_id",
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("feature_id", "BIGINT", "catalog feature id"),
        Column("product_id", "BIGINT", "product of the feature"),
        Column("feature_title", "VARCHAR", "catalog title"),
        Column("gap_reason", "VARCHAR", "'never_tested' or 'stale'"),
        Column("tests_covered", "BIGINT", "distinct non-cancelled tests that had it in scope"),
        Column("last_tested_at", "TIMESTAMPTZ", "end (else start) of its newest such test"),
        Column("reference_at", "TIMESTAMPTZ", "the customer's newest tests.end_at"),
        Column("days_since_last_test", "BIGINT", "whole days from last_tested_at to reference_at"),
        Column("stale_after_days", "INTEGER", "the threshold used (days)"),
        Column("valid_bugs", "BIGINT", "valid bugs ever attributed to the feature"),
    ),
)
