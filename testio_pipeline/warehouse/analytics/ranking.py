"""The most fragile features: highest bug density among features tested often enough to trust it."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.markdown import markdown_table

_HEADERS = ("rank", "feature", "product", "tests", "valid bugs", "critical", "density", "feature_id")

# the one ranking everyone sees: the view users query, the asset metadata, the chart and the
# report are all read from `fragile_features_sql`
FRAGILE_FEATURES_VIEW = "fragile_features"


@dataclass(frozen=True)
class FragileFeature:
    customer_id: int
    feature_id: int
    product_id: int | None
    feature_title: str | None
    in_catalog: bool
    tests_covered: int
    valid_bugs: int
    critical_bugs: int
    bug_density: float
    product_name: str | None = None

    @property
    def product(self) -> str:
        """The product's name, else its id."""
        return self.product_name or f"product {self.product_id}"


def fragile_features_sql(min_tests: int = settings.FRAGILE_MIN_TESTS) -> str:
    """Per customer, the features covered by at least `min_tests` tests, ranked by bug density
    (ties: more valid bugs, more critical bugs, lower feature id), with the product's name."""
    return f"""
SELECT d.customer_id,
       row_number() OVER (
           PARTITION BY d.customer_id
           ORDER BY d.bug_density DESC, d.valid_bugs DESC, d.critical_bugs DESC, d.feature_id
       ) AS rank,
       d.feature_id, d.feature_title, d.product_id, p.name AS product_name, d.in_catalog,
       d.tests_covered, d.valid_bugs, d.critical_bugs, d.bug_density
FROM {settings.FEATURE_BUG_DENSITY_TABLE} AS d
LEFT JOIN {settings.PRODUCTS} AS p ON p.customer_id = d.customer_id AND p.id = d.product_id
WHERE d.tests_covered >= {int(min_tests)}
"""


def create_fragile_features_view(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the `fragile_features` view: the ranking in SQL, for the CLI and BI tools."""
    con.execute(f"CREATE OR REPLACE VIEW {FRAGILE_FEATURES_VIEW} AS {fragile_features_sql()}")


def top_fragile_features(
    con: duckdb.DuckDBPyConnection,
    *,
    customer_id: int,
    limit: int = settings.FRAGILE_TOP_N,
    min_tests: int = settings.FRAGILE_MIN_TESTS,
) -> list[FragileFeature]:
    """The first `limit` of `fragile_features_sql(min_tests)` for `customer_id`. Reads the
    `feature_bug_density` and `products` tables."""
    # integers inlined, not `?` parameters: binding makes duckdb import numpy and pandas
    rows = con.execute(
        f"""SELECT customer_id, feature_id, product_id, feature_title, in_catalog,
                   tests_covered, valid_bugs, critical_bugs, bug_density, product_name
            FROM ({fragile_features_sql(min_tests)})
            WHERE customer_id = {int(customer_id)} AND rank <= {int(limit)}
            ORDER BY rank"""
    ).fetchall()
    return [FragileFeature(*row) for row in rows]


def fragile_features_markdown(features: list[FragileFeature], *, min_tests: int) -> str:
    """The ranking as a markdown table, headed by the rule that selected it."""
    heading = (
        f"Top {len(features)} features by bug density (valid bugs per covering test), "
        f"among features covered by at least {min_tests} tests."
    )
    if not features:
        return heading.replace(f"Top {len(features)} features", "No feature qualifies yet") + "\n"
    table = markdown_table(
        _HEADERS,
        [
            (
                rank,
                feature.feature_title
                if feature.in_catalog
                else f"{feature.feature_title} (not in catalog)",
                feature.product,
                feature.tests_covered,
                feature.valid_bugs,
                feature.critical_bugs,
                feature.bug_density,
                feature.feature_id,
            )
            for rank, feature in enumerate(features, start=1)
        ],
    )
    return f"{heading}\n\n{table}\n"
