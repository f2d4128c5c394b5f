"""`feature_execution_outcomes`: how the crowd's executions of each feature ended (2026 API).

Key (customer_id, feature_id). One row per feature with at least one test feature carrying an
`execution_status` (none on an account whose API predates 2026). Each test feature is one
execution of its feature in one cycle (see `execution_outcomes` for what counts as executed
and failed). Title and product follow `feature_bug_density` (catalog first, else the newest
snapshot); `product_name` comes from `products`.
"""

from __future__ import annotations

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.execution_outcomes import (
    outcome_aggregates,
    outcome_column_names,
    outcome_columns,
    outcome_rates,
    ranked_executions_cte,
)
from testio_pipeline.warehouse.analytics.feature_bug_density import FEATURE_BUG_DENSITY
from testio_pipeline.warehouse.analytics.spec import AnalyticsTable, Column

_EXECUTIONS = """
  SELECT tf.customer_id, tf.feature_id, lower(tf.execution_status) AS status,
         coalesce(t.end_at, t.start_at) AS cycle_at, tf.test_id, tf.id AS row_id, tf.bugs_found
  FROM test_features AS tf
  LEFT JOIN tests AS t ON t.customer_id = tf.customer_id AND t.id = tf.test_id
  WHERE tf.feature_id IS NOT NULL"""


def summary_ctes() -> str:
    """CTEs `density` (the feature_bug_density rows) and `outcomes` (one row per executed
    feature with its aggregates), shared with `feature_fragility`."""
    return f"""density AS (
{FEATURE_BUG_DENSITY.select_sql()}
),
{ranked_executions_cte(_EXECUTIONS, "feature_id")},
outcomes AS (
  SELECT customer_id, feature_id,
    {outcome_aggregates()}
  FROM ranked
  GROUP BY customer_id, feature_id
)"""


def select_sql() -> str:
    return f"""WITH
{summary_ctes()}
SELECT
  o.customer_id, o.feature_id, d.product_id, p.name AS product_name, d.feature_title,
  {outcome_column_names("o")},
  {outcome_rates("o")}
FROM outcomes AS o
LEFT JOIN density AS d ON d.customer_id = o.customer_id AND d.feature_id = o.feature_id
LEFT JOIN products AS p ON p.customer_id = o.customer_id AND p.id = d.product_id"""


FEATURE_EXECUTION_OUTCOMES = AnalyticsTable(
    name=settings.FEATURE_EXECUTION_OUTCOMES_TABLE,
    key=("customer_id", "feature_id"),
    description=(
        "Per feature, how its executions ended (2026 API): outcomes, failure rate "
        f"(failed + blocked over executed), its trend over the newest {settings.RECENT_CYCLES} "
        "cycles against the earlier ones, and the current failure streak."
    ),
    reads=(settings.PRODUCTS, settings.FEATURES, settings.TESTS, settings.TEST_FEATURES, settings.BUGS),
    select_sql=select_sql,
    preview_order="recent_failures DESC, failure_rate DESC NULLS LAST, customer_id, feature_id",
    preview_columns=(
        "product_name", "feature_title", "executed", "passed", "failed", "blocked",
        "failure_rate", "recent_failures", "recent_executed", "failure_rate_trend", "failure_streak",
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("feature_id", "BIGINT", "product feature id (test_features.feature_id)"),
        Column("product_id", "BIGINT", "product of the feature (as in feature_bug_density)"),
        Column("product_name", "VARCHAR", "products.name; NULL if the product list lacks it"),
        Column("feature_title", "VARCHAR", "catalog title, else the newest snapshot's"),
        *outcome_columns("test features"),
    ),
)
