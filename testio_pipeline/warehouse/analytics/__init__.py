"""The analytics layer: tables computed set-based in DuckDB from the ingest tables.

No Dagster and no API here. Each table is an `AnalyticsTable` (declared columns, the ingest
tables it reads, its SELECT); `replace_table` rewrites one with `CREATE OR REPLACE TABLE ...
AS SELECT`, inside the caller's transaction. Checks live in `.checks`, the fragile-feature
ranking in `.ranking`, a markdown sampler in `.sample`, a synthetic account in `.synthetic`.
"""

from __future__ import annotations

import duckdb

from testio_pipeline.warehouse.analytics.bug_trends import BUG_TRENDS
from testio_pipeline.warehouse.analytics.feature_bug_density import FEATURE_BUG_DENSITY
from testio_pipeline.warehouse.analytics.feature_coverage_gaps import FEATURE_COVERAGE_GAPS
from testio_pipeline.warehouse.analytics.feature_execution_outcomes import (
    FEATURE_EXECUTION_OUTCOMES,
)
from testio_pipeline.warehouse.analytics.feature_fragility import FEATURE_FRAGILITY
from testio_pipeline.warehouse.analytics.product_quality import PRODUCT_QUALITY
from testio_pipeline.warehouse.analytics.spec import (
    AnalyticsTable,
    Column,
    ReplaceStats,
    replace_table,
)
from testio_pipeline.warehouse.analytics.story_failures import STORY_FAILURES
from testio_pipeline.warehouse.analytics.tester_stats import TESTER_STATS

ANALYTICS_TABLES: tuple[AnalyticsTable, ...] = (
    FEATURE_BUG_DENSITY,
    PRODUCT_QUALITY,
    BUG_TRENDS,
    FEATURE_COVERAGE_GAPS,
    TESTER_STATS,
    FEATURE_EXECUTION_OUTCOMES,
    STORY_FAILURES,
    FEATURE_FRAGILITY,
)
ANALYTICS_TABLES_BY_NAME: dict[str, AnalyticsTable] = {
    table.name: table for table in ANALYTICS_TABLES
}


def replace_all(con: duckdb.DuckDBPyConnection) -> list[ReplaceStats]:
    """Rebuild every analytics table on `con` (in the caller's transaction, if any)."""
    return [replace_table(con, table) for table in ANALYTICS_TABLES]


__all__ = [
    "ANALYTICS_TABLES",
    "ANALYTICS_TABLES_BY_NAME",
    "BUG_TRENDS",
    "FEATURE_BUG_DENSITY",
    "FEATURE_COVERAGE_GAPS",
    "FEATURE_EXECUTION_OUTCOMES",
    "FEATURE_FRAGILITY",
    "STORY_FAILURES",
    "PRODUCT_QUALITY",
    "TESTER_STATS",
    "AnalyticsTable",
    "Column",
    "ReplaceStats",
    "replace_all",
    "replace_table",
]
