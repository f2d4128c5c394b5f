"""`product_quality`: one row per product with test volume, bug outcomes and feature coverage.

Key (customer_id, product_id). Every bug counts here, including bugs without a test feature
(they are missing from `feature_bug_density`) and bugs whose feature link dangles. A bug's
product is `bugs.product_id`, else its test's product. Products come from `products` plus any
product id seen on tests, bugs or catalog features, so nothing is lost when the product list
lags behind; a bug or test with no product at all lands in one row with product_id NULL.
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
)

_BUG_COUNTS = [
    "bugs_total",
    "valid_bugs",
    "accepted_bugs",
    "rejected_bugs",
    "forwarded_bugs",
    "auto_accepted_bugs",
    "critical_bugs",
    "bugs_without_feature",
]


def select_sql() -> str:
    # IS NOT DISTINCT FROM: the product_id NULL row must join like any other
    return f"""WITH
{classified_bugs_cte(product_from_tests=True)},
product_keys AS (
  SELECT customer_id, id AS product_id FROM products
  UNION SELECT customer_id, product_id FROM tests
  UNION SELECT customer_id, product_id FROM classified_bugs
  UNION SELECT customer_id, product_id FROM features
    WHERE NOT coalesce(is_deleted, false) AND product_id IS NOT NULL
),
test_counts AS (
  SELECT customer_id, product_id,
    count(*) AS tests,
    count_if(coalesce(is_final, false)) AS tests_final,
    min(start_at) AS first_test_start_at,
    max(end_at) AS last_test_end_at
  FROM tests
  GROUP BY customer_id, product_id
),
bug_counts AS (
  SELECT customer_id, product_id,
    {bug_outcome_aggregates()},
    count_if(feature_id IS NULL) AS bugs_without_feature
  FROM classified_bugs
  GROUP BY customer_id, product_id
),
tested_features AS (
  SELECT DISTINCT customer_id, feature_id FROM test_features WHERE feature_id IS NOT NULL
),
feature_counts AS (
  SELECT f.customer_id, f.product_id,
    count(*) AS features_in_catalog,
    count(*) FILTER (WHERE tf.feature_id IS NULL) AS features_never_tested
  FROM features AS f
  LEFT JOIN tested_features AS tf ON tf.customer_id = f.customer_id AND tf.feature_id = f.id
  WHERE NOT coalesce(f.is_deleted, false)
  GROUP BY f.customer_id, f.product_id
)
SELECT
  k.customer_id,
  k.product_id,
  p.name AS product_name,
  coalesce(t.tests, 0) AS tests,
  coalesce(t.tests_final, 0) AS tests_final,
  t.first_test_start_at,
  t.last_test_end_at,
  {count_columns(_BUG_COUNTS, source="b")},
  {ratio("coalesce(b.accepted_bugs, 0)", "b.bugs_total")} AS accepted_rate,
  {ratio("coalesce(b.rejected_bugs, 0)", "b.bugs_total")} AS rejected_rate,
  {ratio("coalesce(b.auto_accepted_bugs, 0)", "b.accepted_bugs")} AS auto_accepted_rate,
  {ratio("coalesce(b.critical_bugs, 0)", "b.valid_bugs")} AS critical_share,
  {ratio("coalesce(b.valid_bugs, 0)", "t.tests")} AS valid_bugs_per_test,
  coalesce(f.features_in_catalog, 0) AS features_in_catalog,
  coalesce(f.features_never_tested, 0) AS features_never_tested
FROM product_keys AS k
LEFT JOIN products AS p ON p.customer_id = k.customer_id AND p.id = k.product_id
LEFT JOIN test_counts AS t
  ON t.customer_id = k.customer_id AND t.product_id IS NOT DISTINCT FROM k.product_id
LEFT JOIN bug_counts AS b
  ON b.customer_id = k.customer_id AND b.product_id IS NOT DISTINCT FROM k.product_id
LEFT JOIN feature_counts AS f
  ON f.customer_id = k.customer_id AND f.product_id IS NOT DISTINCT FROM k.product_id"""


PRODUCT_QUALITY = AnalyticsTable(
    name=settings.PRODUCT_QUALITY_TABLE,
    key=("customer_id", "product_id"),
    description=(
        "Per product: tests, bug outcomes and rates over every bug (with or without a test "
        "feature), and how much of the feature catalog was ever tested."
    ),
    reads=(
        settings.PRODUCTS,
        settings.FEATURES,
        settings.TESTS,
        settings.TEST_FEATURES,
        settings.BUGS,
    ),
    select_sql=select_sql,
    preview_order="bugs_total DESC, customer_id, product_id",
    preview_columns=(
        "customer_id", "product_id", "product_name", "tests", "tests_final", "bugs_total",
        "valid_bugs", "bugs_without_feature", "accepted_rate", "rejected_rate",
        "auto_accepted_rate", "critical_share", "valid_bugs_per_test", "features_in_catalog",
        "features_never_tested",
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("product_id", "BIGINT", "product id; NULL collects bugs/tests with no product"),
        Column("product_name", "VARCHAR", "products.name; NULL if the product list lacks it"),
        Column("tests", "BIGINT", "tests of the product"),
        Column("tests_final", "BIGINT", "tests with is_final (archived or cancelled)"),
        Column("first_test_start_at", "TIMESTAMPTZ", "earliest tests.start_at"),
        Column("last_test_end_at", "TIMESTAMPTZ", "latest tests.end_at"),
        Column("bugs_total", "BIGINT", "all bugs of the product, with or without a test feature"),
        Column("valid_bugs", "BIGINT", "bugs with any status other than 'rejected'"),
        Column("accepted_bugs", "BIGINT", "bugs with status 'accepted'"),
        Column("rejected_bugs", "BIGINT", "bugs with status 'rejected'"),
        Column("forwarded_bugs", "BIGINT", "bugs with status 'forwarded' (awaiting the customer)"),
        Column(
            "auto_accepted_bugs", "BIGINT", "accepted bugs with auto_accepted (10 days unreviewed)"
        ),
        Column("critical_bugs", "BIGINT", "valid bugs of severity 'critical'"),
        Column(
            "bugs_without_feature", "BIGINT", "bugs with no test feature link (feature_id NULL)"
        ),
        Column("accepted_rate", "DOUBLE", "accepted_bugs / bugs_total; NULL without bugs"),
        Column("rejected_rate", "DOUBLE", "rejected_bugs / bugs_total; NULL without bugs"),
        Column(
            "auto_accepted_rate",
            "DOUBLE",
            "auto_accepted_bugs / accepted_bugs; NULL if none accepted",
        ),
        Column("critical_share", "DOUBLE", "critical_bugs / valid_bugs; NULL without valid bugs"),
        Column("valid_bugs_per_test", "DOUBLE", "valid_bugs / tests; NULL without tests"),
        Column("features_in_catalog", "BIGINT", "catalog features (is_deleted = false)"),
        Column("features_never_tested", "BIGINT", "catalog features no test feature references"),
    ),
)
