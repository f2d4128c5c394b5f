"""`story_failures`: user stories and how their executions ended, the ones that keep failing
first (2026 API, `includes[]=user_stories`).

Key (customer_id, user_story_id). One row per story with at least one execution status in
`test_feature_stories`; each (test feature, story) row is one execution of the story in one
cycle (see `execution_outcomes`). A story *keeps failing* when its newest
`settings.KEEPS_FAILING_STREAK` executions or more all failed or were blocked. Title, feature
and product are the newest execution's.
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
  SELECT s.customer_id, s.user_story_id, lower(s.execution_status) AS status,
         coalesce(t.end_at, t.start_at) AS cycle_at, s.test_id, s.test_feature_id AS row_id,
         s.bugs_found, s.title, s.feature_id, s.product_id
  FROM test_feature_stories AS s
  LEFT JOIN tests AS t ON t.customer_id = s.customer_id AND t.id = s.test_id"""


def select_sql(*, streak: int = settings.KEEPS_FAILING_STREAK) -> str:
    return f"""WITH
density AS (
{FEATURE_BUG_DENSITY.select_sql()}
),
{ranked_executions_cte(_EXECUTIONS, "user_story_id")},
outcomes AS (
  SELECT customer_id, user_story_id,
    min_by(title, recency) AS story_title,
    min_by(feature_id, recency) AS feature_id,
    min_by(product_id, recency) AS product_id,
    {outcome_aggregates()}
  FROM ranked
  GROUP BY customer_id, user_story_id
)
SELECT
  o.customer_id, o.user_story_id, o.story_title, o.feature_id, d.feature_title,
  coalesce(d.product_id, o.product_id) AS product_id, p.name AS product_name,
  o.failure_streak >= {int(streak)} AS keeps_failing,
  {outcome_column_names("o")},
  {outcome_rates("o")}
FROM outcomes AS o
LEFT JOIN density AS d ON d.customer_id = o.customer_id AND d.feature_id = o.feature_id
LEFT JOIN products AS p
  ON p.customer_id = o.customer_id AND p.id = coalesce(d.product_id, o.product_id)"""


STORY_FAILURES = AnalyticsTable(
    name=settings.STORY_FAILURES_TABLE,
    key=("customer_id", "user_story_id"),
    description=(
        "Per user story, how its executions ended (2026 API), with keeps_failing for stories "
        f"whose newest {settings.KEEPS_FAILING_STREAK}+ executions all failed or were blocked."
    ),
    reads=(
        settings.PRODUCTS, settings.FEATURES, settings.TESTS, settings.TEST_FEATURES,
        settings.TEST_FEATURE_STORIES, settings.BUGS,
    ),
    select_sql=select_sql,
    params={"streak": settings.KEEPS_FAILING_STREAK},
    preview_order=(
        "keeps_failing DESC, failure_streak DESC, failure_rate DESC NULLS LAST, customer_id, "
        "user_story_id"
    ),
    preview_columns=(
        "product_name", "feature_title", "story_title", "keeps_failing", "failure_streak",
        "executed", "failures", "failure_rate", "recent_failure_rate", "last_status",
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("user_story_id", "BIGINT", "user story id"),
        Column("story_title", "VARCHAR", "the story's title at its newest execution"),
        Column("feature_id", "BIGINT", "feature of the story (its newest execution's)"),
        Column("feature_title", "VARCHAR", "that feature's title (as in feature_bug_density)"),
        Column("product_id", "BIGINT", "product of the feature"),
        Column("product_name", "VARCHAR", "products.name; NULL if the product list lacks it"),
        Column(
            "keeps_failing", "BOOLEAN",
            f"failure_streak >= {settings.KEEPS_FAILING_STREAK}: its newest executions failed in a row",
        ),
        *outcome_columns("story executions"),
    ),
)
