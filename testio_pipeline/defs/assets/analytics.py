"""Analytics assets: tables recomputed in DuckDB SQL from the ingest tables, never from the API.

Each asset rewrites its table with one `CREATE OR REPLACE TABLE ... AS SELECT` inside
`WarehouseResource.write()` (one transaction: readers see the old table or the new one), runs
in the `duckdb_writer` pool so DuckDB writers are serialised, and depends on exactly the
ingest assets whose tables its SQL reads. The SQL lives in `warehouse.analytics`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import dagster as dg

from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse.analytics import (
    BUG_TRENDS,
    FEATURE_BUG_DENSITY,
    FEATURE_COVERAGE_GAPS,
    PRODUCT_QUALITY,
    TESTER_STATS,
    AnalyticsTable,
    replace_table,
    settings,
)
from testio_pipeline.warehouse.analytics.markdown import query_markdown
from testio_pipeline.warehouse.analytics.ranking import (
    FragileFeature,
    fragile_features_markdown,
    top_fragile_features,
)

ANALYTICS_GROUP = "analytics"
PREVIEW_ROWS = 10


def ingest_deps(table: AnalyticsTable) -> list[dg.AssetKey]:
    """The ingest asset keys `table` reads: ingest assets are named after their tables."""
    return [dg.AssetKey(name) for name in table.reads]


def column_schema(table: AnalyticsTable) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(column.name, column.sql_type, description=column.description)
            for column in table.columns
        ]
    )


def _analytics_asset(
    table: AnalyticsTable,
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """The shared decorator: name, deps, group, kind and pool of an analytics asset.

    The decorated functions leave `context` unannotated on purpose: with postponed
    annotations Dagster 1.13 sees the string "dg.AssetExecutionContext" and rejects it.
    """
    return dg.asset(
        name=table.name,
        deps=ingest_deps(table),
        # declared up front so the UI shows the schema before the first materialization
        metadata={
            "dagster/table_name": f"main.{table.name}",
            "dagster/column_schema": column_schema(table),
            "primary_key": ", ".join(table.key),
        },
        group_name=ANALYTICS_GROUP,
        kinds={"duckdb"},
        pool=DUCKDB_WRITER_POOL,
    )


def _materialize(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    table: AnalyticsTable,
    started: float,
) -> tuple[dict[str, object], list[FragileFeature]]:
    """Replace `table` in one transaction; return its metadata and, for density, the ranking.

    The ranking is read inside the transaction (it sees the new table) but the chart is drawn
    by the caller after the connection is closed, so the file lock is held only for SQL.
    """
    fragile: list[FragileFeature] = []
    bound = bind_account(context, warehouse)
    warehouse = bound.warehouse
    # a run of one account replaces that customer's rows only
    customer_id = bound.warehouse.customer_id if bound.account else None
    where = f"customer_id = {int(customer_id)}" if customer_id is not None else ""
    with warehouse.write(log=context.log) as con:
        stats = replace_table(con, table, customer_id=customer_id)
        preview = query_markdown(con, table.preview_sql(limit=PREVIEW_ROWS, where=where))
        if table is FEATURE_BUG_DENSITY:
            fragile = top_fragile_features(con, customer_id=warehouse.customer_id)
    duration = time.perf_counter() - started
    context.log.info(f"{table.name}: {stats.row_count} rows in {duration:.2f} s")
    metadata: dict[str, object] = {
        "dagster/row_count": stats.row_count,
        "dagster/column_schema": column_schema(table),
        "dagster/table_name": f"main.{table.name}",
        "duration_seconds": dg.MetadataValue.float(round(duration, 3)),
        "previous_row_count": (
            dg.MetadataValue.int(stats.previous_row_count)
            if stats.previous_row_count is not None
            else dg.MetadataValue.null()
        ),
        "preview": dg.MetadataValue.md(
            f"Top {PREVIEW_ROWS} rows by `{table.preview_order}`\n\n{preview}"
        ),
    }
    return metadata, fragile


def _result(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, table: AnalyticsTable
) -> dg.MaterializeResult:
    metadata, _ = _materialize(context, warehouse, table, time.perf_counter())
    return dg.MaterializeResult(metadata=metadata)


@_analytics_asset(FEATURE_BUG_DENSITY)
def feature_bug_density(context, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Bug density per product feature: one row per catalog feature (tested or not) and per
    feature id only known from test snapshots (in_catalog = false), with distinct tests
    covering it, bugs attributed through bug.test_feature split by status and, for valid
    (non-rejected) bugs, by severity, and bug_density = valid_bugs / tests_covered (NULL when
    never tested). Metadata ranks the 10 most fragile features of the resource's customer
    among those covered by at least 5 tests (settings.FRAGILE_MIN_TESTS), as a table and as a
    bar chart also written to <warehouse dir>/reports/feature_bug_density.png."""
    started = time.perf_counter()
    metadata, fragile = _materialize(context, warehouse, FEATURE_BUG_DENSITY, started)
    min_tests = settings.FRAGILE_MIN_TESTS
    # imported here: matplotlib (~30 MB) is needed by this step only, not by every run process
    from testio_pipeline.warehouse import charts

    png = charts.render_fragile_features_png(fragile, min_tests=min_tests)
    bound = bind_account(context, warehouse)
    # one chart per account: accounts sharing a warehouse file share its reports directory
    reports = charts.reports_dir_for(bound.warehouse.path)
    chart_path = charts.write_report(
        png,
        (reports / bound.account.key if bound.account else reports)
        / settings.FEATURE_BUG_DENSITY_CHART,
    )
    encoded = base64.b64encode(png).decode("ascii")
    metadata["most_fragile_features"] = dg.MetadataValue.md(
        fragile_features_markdown(fragile, min_tests=min_tests)
    )
    metadata["most_fragile_features_chart"] = dg.MetadataValue.md(
        f"![most fragile features](data:image/png;base64,{encoded})"
    )
    metadata["most_fragile_features_chart_path"] = dg.MetadataValue.path(str(chart_path))
    metadata["duration_seconds"] = dg.MetadataValue.float(round(time.perf_counter() - started, 3))
    return dg.MaterializeResult(metadata=metadata)


@_analytics_asset(PRODUCT_QUALITY)
def product_quality(context, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Quality summary per product: tests and final tests, all bugs (including those without a
    test feature) with valid / accepted / rejected / forwarded / auto-accepted counts, accepted
    and rejected rates over all bugs, the auto-accepted share of accepted bugs, the critical
    share of valid bugs, valid bugs per test, and how many catalog features were never tested."""
    return _result(context, warehouse, PRODUCT_QUALITY)


@_analytics_asset(BUG_TRENDS)
def bug_trends(context, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Bugs reported per ISO week (Monday week_start, iso_year / iso_week, from reported_at in
    UTC) by product, severity and status, with the auto-accepted subset: the input for trend
    charts and week-over-week comparisons. Every bug lands in exactly one cell."""
    return _result(context, warehouse, BUG_TRENDS)


@_analytics_asset(FEATURE_COVERAGE_GAPS)
def feature_coverage_gaps(context, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Catalog features that were never tested, or whose newest non-cancelled test ended more
    than 90 days (settings.COVERAGE_STALE_DAYS) before the customer's newest test end, with
    days since the last test and the valid bugs ever found in them, so the riskiest untested
    areas can be scheduled for the next test cycle."""
    return _result(context, warehouse, FEATURE_COVERAGE_GAPS)


@_analytics_asset(TESTER_STATS)
def tester_stats(context, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Statistics per tester (bug author name): bugs reported, valid / accepted / rejected /
    forwarded counts, accepted and rejected rates, the severity mix of valid bugs, tests and
    products worked on, and the first and last report time."""
    return _result(context, warehouse, TESTER_STATS)


ANALYTICS_ASSETS: list[dg.AssetsDefinition] = [
    feature_bug_density,
    product_quality,
    bug_trends,
    feature_coverage_gaps,
    tester_stats,
]
