"""The most fragile features: highest bug density among features tested often enough to trust it."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.markdown import markdown_table

_HEADERS = ("rank", "feature", "feature_id", "product_id", "tests", "valid bugs", "critical", "density")


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


def top_fragile_features(
    con: duckdb.DuckDBPyConnection,
    *,
    customer_id: int,
    limit: int = settings.FRAGILE_TOP_N,
    min_tests: int = settings.FRAGILE_MIN_TESTS,
) -> list[FragileFeature]:
    """Features of `customer_id` with `tests_covered >= min_tests`, by bug density descending.

    Ties break on more valid bugs, then more critical bugs, then the lower feature id, so the
    ranking is deterministic. Reads the `feature_bug_density` table.
    """
    # integers inlined, not `?` parameters: binding makes duckdb import numpy and pandas
    rows = con.execute(
        f"""SELECT customer_id, feature_id, product_id, feature_title, in_catalog,
                   tests_covered, valid_bugs, critical_bugs, bug_density
            FROM {settings.FEATURE_BUG_DENSITY_TABLE}
            WHERE customer_id = {int(customer_id)} AND tests_covered >= {int(min_tests)}
            ORDER BY bug_density DESC, valid_bugs DESC, critical_bugs DESC, feature_id
            LIMIT {int(limit)}"""
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
                feature.feature_id,
                feature.product_id,
                feature.tests_covered,
                feature.valid_bugs,
                feature.critical_bugs,
                feature.bug_density,
            )
            for rank, feature in enumerate(features, start=1)
        ],
    )
    return f"{heading}\n\n{table}\n"
