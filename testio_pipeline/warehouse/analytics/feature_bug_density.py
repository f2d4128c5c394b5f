"""`feature_bug_density`: valid bugs per test for every feature, key (customer_id, feature_id).

Row set (warehouse contract): every catalog feature (`features.is_deleted = false`), tested or
not, plus every feature id that `test_features` reference but the catalog does not list
(`in_catalog = false`, including referenced features flagged `is_deleted`). A deleted feature
that no test feature references gets no row. A bug counts for the feature in its own
`bugs.feature_id` (the link the API gives through `bug.test_feature`); a bug whose feature id
has no row here is "unattributed" and surfaced by a check instead of silently dropped.
"""

from __future__ import annotations

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.spec import (
    AnalyticsTable,
    Column,
    bug_outcome_aggregates,
    classified_bugs_cte,
    count_columns,
    ratio,
    severity_column_names,
    severity_columns,
)

_COUNTS = [
    "bugs_total",
    "valid_bugs",
    "accepted_bugs",
    "rejected_bugs",
    "forwarded_bugs",
    *severity_column_names(),
]


def attributable_features_cte() -> str:
    """CTE `attributable_features` (customer_id, feature_id): the row set of the table.

    Shared with the reconciliation check so "which bugs can be attributed" is defined once.
    """
    return """attributable_features AS (
  SELECT customer_id, id AS feature_id FROM features WHERE NOT coalesce(is_deleted, false)
  UNION
  SELECT customer_id, feature_id FROM test_features WHERE feature_id IS NOT NULL
)"""


def select_sql() -> str:
    # joins always carry customer_id: the same feature id may exist for two customers
    return f"""WITH
{classified_bugs_cte(product_from_tests=False)},
{attributable_features_cte()},
catalog AS (
  SELECT customer_id, id AS feature_id, product_id, title
  FROM features WHERE NOT coalesce(is_deleted, false)
),
deleted AS (
  SELECT customer_id, id AS feature_id, product_id, title
  FROM features WHERE coalesce(is_deleted, false)
),
snapshots AS (
  -- arg_max skips NULL titles: the newest snapshot that carries one
  SELECT
    customer_id, feature_id,
    count(DISTINCT test_id) AS tests_covered,
    arg_max(title, id) AS snapshot_title,
    arg_max(product_id, id) AS snapshot_product_id
  FROM test_features
  WHERE feature_id IS NOT NULL
  GROUP BY customer_id, feature_id
),
bug_counts AS (
  SELECT customer_id, feature_id,
    {bug_outcome_aggregates()}
  FROM classified_bugs
  WHERE feature_id IS NOT NULL
  GROUP BY customer_id, feature_id
)
SELECT
  a.customer_id,
  a.feature_id,
  coalesce(c.product_id, s.snapshot_product_id, d.product_id) AS product_id,
  CASE WHEN c.feature_id IS NOT NULL THEN coalesce(c.title, s.snapshot_title)
       ELSE coalesce(s.snapshot_title, d.title) END AS feature_title,
  c.feature_id IS NOT NULL AS in_catalog,
  coalesce(s.tests_covered, 0) AS tests_covered,
  {count_columns(_COUNTS, source="b")},
  CASE WHEN coalesce(s.tests_covered, 0) = 0 THEN NULL
       ELSE {ratio("coalesce(b.valid_bugs, 0)", "s.tests_covered")} END AS bug_density
FROM attributable_features AS a
LEFT JOIN catalog AS c ON c.customer_id = a.customer_id AND c.feature_id = a.feature_id
LEFT JOIN deleted AS d ON d.customer_id = a.customer_id AND d.feature_id = a.feature_id
LEFT JOIN snapshots AS s ON s.customer_id = a.customer_id AND s.feature_id = a.feature_id
LEFT JOIN bug_counts AS b ON b.customer_id = a.customer_id AND b.feature_id = a.feature_id"""


FEATURE_BUG_DENSITY = AnalyticsTable(
    name=settings.FEATURE_BUG_DENSITY_TABLE,
    key=("customer_id", "feature_id"),
    description=(
        "Valid bugs per covering test for every catalog feature, tested or not, and for every "
        "feature only known from test snapshots."
    ),
    reads=(settings.FEATURES, settings.TEST_FEATURES, settings.BUGS),
    select_sql=select_sql,
    preview_order="bug_density DESC NULLS LAST, valid_bugs DESC, customer_id, feature_id",
    preview_columns=(
        "customer_id", "feature_id", "product_id", "feature_title", "in_catalog",
        "tests_covered", "bugs_total", "valid_bugs", "rejected_bugs", "critical_bugs",
        "high_bugs", "bug_density",
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column(
            "feature_id", "BIGINT", "product feature id (features.id / test_features.feature_id)"
        ),
        Column("product_id", "BIGINT", "product of the feature (catalog, else newest snapshot)"),
        Column(
            "feature_title",
            "VARCHAR",
            "catalog title; for features not in the catalog, the title of the referencing "
            "test feature with the highest test_features.id",
        ),
        Column("in_catalog", "BOOLEAN", "false for features only known from test snapshots"),
        Column("tests_covered", "BIGINT", "distinct tests that had the feature in scope"),
        Column(
            "bugs_total", "BIGINT", "bugs attributed through bug.test_feature (bugs.feature_id)"
        ),
        Column("valid_bugs", "BIGINT", "bugs_total minus rejected bugs (any other status)"),
        Column("accepted_bugs", "BIGINT", "bugs with status 'accepted'"),
        Column("rejected_bugs", "BIGINT", "bugs with status 'rejected'"),
        Column("forwarded_bugs", "BIGINT", "bugs with status 'forwarded' (awaiting the customer)"),
        *severity_columns(scope="attributed to the feature"),
        Column("bug_density", "DOUBLE", "valid_bugs / tests_covered; NULL when tests_covered = 0"),
    ),
)
