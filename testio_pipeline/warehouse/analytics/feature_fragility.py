"""`feature_fragility`: features ranked by bug density and failure rate together (2026 API).

Key (customer_id, feature_id). Only features both measures can be trusted for: covered by at
least `settings.FRAGILE_MIN_TESTS` tests (the density rule of `feature_bug_density`'s ranking)
and executed at least `settings.FRAGILITY_MIN_EXECUTED` times.

    fragility_score = (density_percentile + failure_rate) / 2

`failure_rate` (failed + blocked over executed) is already a share in 0..1. Bug density
(valid bugs per covering test) has no upper bound and a long tail, so it enters as its
percentile among the customer's ranked features (`percent_rank`: 0 for the lowest density, 1
for the highest; ties share a value), which puts both on the same 0..1 scale and keeps one
outlier from drowning the other measure. Equal weights: a feature that collects many bugs and
a feature whose executions keep failing are both fragile. `fragility_rank` 1 is the most
fragile; ties break on the higher failure rate, then more valid bugs, then the lower id.
"""

from __future__ import annotations

import duckdb

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.feature_execution_outcomes import summary_ctes
from testio_pipeline.warehouse.analytics.markdown import markdown_table
from testio_pipeline.warehouse.analytics.spec import AnalyticsTable, Column, ratio


def select_sql(
    *, min_tests: int = settings.FRAGILE_MIN_TESTS,
    min_executed: int = settings.FRAGILITY_MIN_EXECUTED,
) -> str:
    return f"""WITH
{summary_ctes()},
eligible AS (
  SELECT d.customer_id, d.feature_id, d.product_id, d.feature_title, d.tests_covered,
    d.valid_bugs, d.bug_density, o.executed, o.failures, o.recent_executed, o.recent_failures,
    {ratio("o.failures", "o.executed")} AS failure_rate,
    percent_rank() OVER (PARTITION BY d.customer_id ORDER BY d.bug_density) AS density_percentile
  FROM density AS d
  JOIN outcomes AS o ON o.customer_id = d.customer_id AND o.feature_id = d.feature_id
  WHERE d.tests_covered >= {int(min_tests)} AND o.executed >= {int(min_executed)}
),
scored AS (
  SELECT *, (density_percentile + failure_rate) / 2 AS fragility_score FROM eligible
)
SELECT s.*, p.name AS product_name,
  row_number() OVER (
    PARTITION BY s.customer_id
    ORDER BY fragility_score DESC, failure_rate DESC, valid_bugs DESC, feature_id
  ) AS fragility_rank
FROM scored AS s
LEFT JOIN products AS p ON p.customer_id = s.customer_id AND p.id = s.product_id"""


FEATURE_FRAGILITY = AnalyticsTable(
    name=settings.FEATURE_FRAGILITY_TABLE,
    key=("customer_id", "feature_id"),
    description=(
        "Features ranked by fragility_score = (percentile of bug density + failure rate) / 2, "
        f"among features covered by >= {settings.FRAGILE_MIN_TESTS} tests and executed >= "
        f"{settings.FRAGILITY_MIN_EXECUTED} times."
    ),
    reads=(settings.PRODUCTS, settings.FEATURES, settings.TESTS, settings.TEST_FEATURES, settings.BUGS),
    select_sql=select_sql,
    params={"min_tests": settings.FRAGILE_MIN_TESTS, "min_executed": settings.FRAGILITY_MIN_EXECUTED},
    preview_order="customer_id, fragility_rank",
    preview_columns=(
        "fragility_rank", "product_name", "feature_title", "fragility_score", "bug_density",
        "density_percentile", "failure_rate", "executed", "recent_failures", "recent_executed",
    ),
    columns=(
        Column("customer_id", "BIGINT", "customer the row belongs to"),
        Column("feature_id", "BIGINT", "product feature id"),
        Column("fragility_rank", "BIGINT", "1 = most fragile feature of the customer"),
        Column("product_id", "BIGINT", "product of the feature"),
        Column("product_name", "VARCHAR", "products.name; NULL if the product list lacks it"),
        Column("feature_title", "VARCHAR", "as in feature_bug_density"),
        Column("fragility_score", "DOUBLE", "(density_percentile + failure_rate) / 2, in 0..1"),
        Column("tests_covered", "BIGINT", "distinct tests that had the feature in scope"),
        Column("valid_bugs", "BIGINT", "valid bugs attributed to the feature"),
        Column("bug_density", "DOUBLE", "valid_bugs / tests_covered (feature_bug_density)"),
        Column(
            "density_percentile", "DOUBLE",
            "percent_rank of bug_density among the customer's ranked features (0 lowest, 1 highest)",
        ),
        Column("executed", "BIGINT", "test features passed, failed or blocked"),
        Column("failures", "BIGINT", "of those, failed or blocked"),
        Column("failure_rate", "DOUBLE", "failures / executed"),
        Column("recent_executed", "BIGINT", f"executions among the newest {settings.RECENT_CYCLES} cycles"),
        Column("recent_failures", "BIGINT", "failures among them"),
    ),
)


FRAGILITY_HEADERS = (
    "rank", "product", "feature", "score", "bug density", "density pct", "failure rate",
    "failed or blocked", f"last {settings.RECENT_CYCLES} cycles",
)


def fragility_rows(
    con: duckdb.DuckDBPyConnection, *, customer_id: int, limit: int = settings.FRAGILE_TOP_N
) -> list[tuple]:
    """The customer's `limit` most fragile features, in `FRAGILITY_HEADERS` order."""
    # integers inlined, not `?` parameters: binding makes duckdb import numpy and pandas
    return con.execute(
        f"""SELECT fragility_rank, coalesce(product_name, CAST(product_id AS VARCHAR)),
                   feature_title, fragility_score, bug_density, density_percentile,
                   failure_rate, failures || ' / ' || executed,
                   recent_failures || ' / ' || recent_executed
            FROM {settings.FEATURE_FRAGILITY_TABLE}
            WHERE customer_id = {int(customer_id)} AND fragility_rank <= {int(limit)}
            ORDER BY fragility_rank"""
    ).fetchall()


def fragility_markdown(
    con: duckdb.DuckDBPyConnection, *, customer_id: int, limit: int = settings.FRAGILE_TOP_N
) -> str:
    """The customer's `limit` most fragile features as a markdown table with product names,
    headed by the formula; says why when nothing qualifies (e.g. an API before 2026)."""
    rows = fragility_rows(con, customer_id=customer_id, limit=limit)
    heading = (
        "fragility_score = (percentile of bug density + failure rate) / 2, among features "
        f"covered by at least {settings.FRAGILE_MIN_TESTS} tests and executed at least "
        f"{settings.FRAGILITY_MIN_EXECUTED} times (failure rate: failed + blocked over executed)."
    )
    if not rows:
        return (
            f"No feature qualifies yet: no execution outcomes stored (an API before 2026 sends "
            f"none) or too few executions.\n\n{heading}\n"
        )
    table = markdown_table(FRAGILITY_HEADERS, rows)
    return f"Top {len(rows)} most fragile features. {heading}\n\n{table}\n"
