"""Analytics assets: tables recomputed in DuckDB SQL from the ingest tables, never from the API.

One asset per table, all computed by one subsettable multi-asset step (`analytics`): each
table is rewritten with one `CREATE OR REPLACE TABLE ... AS SELECT` inside one
`WarehouseResource.write()` (one transaction: readers see the old tables or the new ones),
its checks are evaluated on the same connection, the step runs in the `duckdb_writer` pool so
DuckDB writers are serialised, and each asset depends on exactly the ingest assets whose
tables its SQL reads. The SQL lives in `warehouse.analytics`.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dagster as dg
import duckdb

from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.checks.analytics import checks_of
from testio_pipeline.defs.metadata import OWNERS
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse import charts, report
from testio_pipeline.warehouse.scoping import customer_scope
from testio_pipeline.warehouse.analytics import (
    BUG_TRENDS,
    FEATURE_BUG_DENSITY,
    FEATURE_COVERAGE_GAPS,
    FEATURE_EXECUTION_OUTCOMES,
    FEATURE_FRAGILITY,
    PRODUCT_QUALITY,
    STORY_FAILURES,
    TESTER_STATS,
    ANALYTICS_TABLES,
    AnalyticsTable,
    replace_table,
    settings,
)
from testio_pipeline.warehouse.analytics.feature_fragility import (
    FRAGILITY_HEADERS,
    fragility_markdown,
    fragility_rows,
)
from testio_pipeline.warehouse.analytics.markdown import query_markdown
from testio_pipeline.warehouse.analytics.ranking import (
    FragileFeature,
    create_fragile_features_view,
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


# the UI description of each table's asset, in a QA lead's words
DESCRIPTIONS = {
    FEATURE_BUG_DENSITY.name: (
        "Bug density per product feature: one row per catalog feature (tested or not) and per "
        "feature id only known from test snapshots (in_catalog = false), with distinct tests "
        "covering it, bugs attributed through bug.test_feature split by status and, for valid "
        "(non-rejected) bugs, by severity, and bug_density = valid_bugs / tests_covered (NULL "
        "when never tested). The page shows the 10 most fragile features (highest density "
        f"among features covered by at least {settings.FRAGILE_MIN_TESTS} tests, with product "
        "names: the `fragile_features` view) as a table and a chart, also in the report "
        "reports/fragile_features.html next to the warehouse file."
    ),
    PRODUCT_QUALITY.name: (
        "Quality summary per product: tests and final tests, all bugs (including those without "
        "a test feature) with valid / accepted / rejected / forwarded / auto-accepted counts, "
        "accepted and rejected rates over all bugs, the auto-accepted share of accepted bugs, "
        "the critical share of valid bugs, valid bugs per test, and how many catalog features "
        "were never tested."
    ),
    BUG_TRENDS.name: (
        "Bugs reported per ISO week (Monday week_start, iso_year / iso_week, from reported_at "
        "in UTC) by product, severity and status, with the auto-accepted subset: the input for "
        "trend charts and week-over-week comparisons. Every bug lands in exactly one cell."
    ),
    FEATURE_COVERAGE_GAPS.name: (
        "Catalog features that were never tested, or whose newest non-cancelled test ended "
        f"more than {settings.COVERAGE_STALE_DAYS} days before the customer's newest test end, "
        "with days since the last test and the valid bugs ever found in them, so the riskiest "
        "untested areas can be scheduled for the next test cycle."
    ),
    TESTER_STATS.name: (
        "Statistics per tester (bug author name): bugs reported, valid / accepted / rejected / "
        "forwarded counts, accepted and rejected rates, the severity mix of valid bugs, tests "
        "and products worked on, and the first and last report time."
    ),
    FEATURE_EXECUTION_OUTCOMES.name: (
        "How the crowd's executions of each feature ended (2026 API `execution_status` of test "
        "features): not_tested / passed / failed / blocked counts, failure rate (failed + "
        f"blocked over executed), the failure rate of the newest {settings.RECENT_CYCLES} cycles "
        "against the earlier ones (trend) and the current failure streak, with product names. "
        "Empty for an API before 2026."
    ),
    STORY_FAILURES.name: (
        "Per user story, how its executions ended across test cycles (2026 API, story outcomes "
        "in test_feature_stories), with keeps_failing for stories whose newest "
        f"{settings.KEEPS_FAILING_STREAK} or more executions all failed or were blocked; the "
        "preview lists those first."
    ),
    FEATURE_FRAGILITY.name: (
        "Features ranked by fragility_score = (percentile of bug density + failure rate) / 2, "
        f"among features covered by at least {settings.FRAGILE_MIN_TESTS} tests and executed at "
        f"least {settings.FRAGILITY_MIN_EXECUTED} times: features that collect bugs and features "
        "whose executions keep failing both rank high. The page shows the customer's 10 most "
        "fragile features with product names (most_fragile_features)."
    ),
}


def _spec(table: AnalyticsTable) -> dg.AssetSpec:
    return dg.AssetSpec(
        table.name,
        deps=ingest_deps(table),
        description=DESCRIPTIONS[table.name],
        # declared up front so the UI shows the schema before the first materialization
        metadata={
            "dagster/table_name": f"main.{table.name}",
            "dagster/column_schema": column_schema(table),
            "primary_key": ", ".join(table.key),
        },
        group_name=ANALYTICS_GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        skippable=True,
    )


@dataclass
class _Rebuilt:
    """What rebuilding one analytics table gives its asset."""

    table: AnalyticsTable
    metadata: dict[str, object]
    check_results: list[dg.AssetCheckResult]
    fragile: list[FragileFeature]
    # the combined ranking of feature_fragility (bugs and execution outcomes), for the report
    by_outcomes: list[tuple] = field(default_factory=list)


def _rebuild(
    con: duckdb.DuckDBPyConnection, table: AnalyticsTable, customer_id: int, partitioned: bool
) -> _Rebuilt:
    """Replace `table` and evaluate its checks on the new table, in the caller's transaction.

    For density the ranking is read too (it sees the new table); the chart is drawn by the
    caller after the connection is closed, so the file lock is held only for SQL.
    """
    started = time.perf_counter()
    # a run of one account (partitioned) replaces that customer's rows only
    scoped = customer_id if partitioned else None
    where = f"customer_id = {int(customer_id)}" if partitioned else ""
    stats = replace_table(con, table, customer_id=scoped)
    preview = query_markdown(con, table.preview_sql(limit=PREVIEW_ROWS, where=where))
    fragile = []
    if table is FEATURE_BUG_DENSITY:
        create_fragile_features_view(con)
        fragile = top_fragile_features(con, customer_id=customer_id)
    # a partitioned run rebuilt its own customer's rows: the checks judge those alone
    with customer_scope(con, customer_id) if partitioned else contextlib.nullcontext():
        check_results = [check.result(con) for check in checks_of(table)]
    ranking = (
        fragility_markdown(con, customer_id=customer_id) if table is FEATURE_FRAGILITY else None
    )
    by_outcomes = (
        fragility_rows(con, customer_id=customer_id) if table is FEATURE_FRAGILITY else []
    )
    metadata: dict[str, object] = {
        "dagster/row_count": stats.row_count,
        "dagster/column_schema": column_schema(table),
        "dagster/table_name": f"main.{table.name}",
        "duration_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
        "previous_row_count": (
            dg.MetadataValue.int(stats.previous_row_count)
            if stats.previous_row_count is not None
            else dg.MetadataValue.null()
        ),
        "preview": dg.MetadataValue.md(
            f"Top {PREVIEW_ROWS} rows by `{table.preview_order}`\n\n{preview}"
        ),
    }
    if ranking is not None:
        metadata["most_fragile_features"] = dg.MetadataValue.md(ranking)
    return _Rebuilt(table, metadata, check_results, fragile, by_outcomes)


def fragile_features_table(features: list[FragileFeature]) -> dg.TableMetadataValue:
    """The ranking as Dagster table metadata: rank, feature, product and the numbers first."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("rank", "int"),
            dg.TableColumn("feature", "string"),
            dg.TableColumn("product", "string"),
            dg.TableColumn("bugs_per_test", "float"),
            dg.TableColumn("valid_bugs", "int"),
            dg.TableColumn("critical", "int"),
            dg.TableColumn("tests", "int"),
        ]
    )
    records = [
        dg.TableRecord(
            {
                "rank": rank,
                "feature": f.feature_title or f"feature {f.feature_id}",
                "product": f.product,
                "bugs_per_test": round(f.bug_density, 2),
                "valid_bugs": f.valid_bugs,
                "critical": f.critical_bugs,
                "tests": f.tests_covered,
            }
        )
        for rank, f in enumerate(features, start=1)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _add_ranking(
    rebuilt: _Rebuilt,
    warehouse: WarehouseResource,
    by_outcomes: list[tuple],
    account_key: str | None,
) -> None:
    """The density asset's ranking as a table and a chart (drawn only when it changed)."""
    min_tests = settings.FRAGILE_MIN_TESTS
    reports = charts.reports_dir_for(warehouse.users_path)
    # one chart and report per account: accounts sharing a warehouse file share its reports
    chart_path = (
        reports / account_key if account_key else reports
    ) / settings.FEATURE_BUG_DENSITY_CHART
    png = charts.fragile_features_chart(rebuilt.fragile, min_tests=min_tests, path=chart_path)
    encoded = base64.b64encode(png).decode("ascii")
    # a table value is drawn on the asset page as it is (markdown waits behind a click)
    rebuilt.metadata["most_fragile_features_table"] = fragile_features_table(rebuilt.fragile)
    rebuilt.metadata["most_fragile_features"] = dg.MetadataValue.md(
        fragile_features_markdown(rebuilt.fragile, min_tests=min_tests)
    )
    rebuilt.metadata["most_fragile_features_chart"] = dg.MetadataValue.md(
        f"![most fragile features](data:image/png;base64,{encoded})"
    )
    rebuilt.metadata["most_fragile_features_chart_path"] = dg.MetadataValue.path(str(chart_path))
    page = report.fragile_features_html(
        rebuilt.fragile, min_tests=min_tests, png=png, customer_id=warehouse.customer_id,
        generated_at=datetime.now(timezone.utc), source=warehouse.users_path,
        by_outcomes=by_outcomes, by_outcomes_headers=FRAGILITY_HEADERS,
    )
    report_path = charts.write_report(page, chart_path.with_name(report.REPORT_NAME))
    rebuilt.metadata["report"] = dg.MetadataValue.path(str(report_path))


@dg.multi_asset(
    name="analytics",
    specs=[_spec(table) for table in ANALYTICS_TABLES],
    check_specs=[check.spec for table in ANALYTICS_TABLES for check in checks_of(table)],
    can_subset=True,
    pool=DUCKDB_WRITER_POOL,
)
def analytics(context, warehouse: WarehouseResource) -> Iterator[dg.MaterializeResult]:
    """Every selected analytics table rebuilt in one step and one transaction: readers see
    the previous set of tables or the new one. One step instead of one per table: each step
    costs Dagster's step overhead, a turn of the `duckdb_writer` pool and a DuckDB open, which
    on a small account was most of the analytics' time."""
    selected = [
        table for table in ANALYTICS_TABLES
        if dg.AssetKey(table.name) in context.selected_asset_keys
    ]
    started = time.perf_counter()
    bound = bind_account(context, warehouse)
    warehouse = bound.warehouse
    partitioned = bound.account is not None
    with warehouse.write(log=context.log) as con:
        rebuilt = [
            _rebuild(con, table, warehouse.customer_id, partitioned) for table in selected
        ]
    # the combined ranking goes into the report too, when this run rebuilt it
    by_outcomes = next((r.by_outcomes for r in rebuilt if r.table is FEATURE_FRAGILITY), [])
    for result in rebuilt:
        if result.table is FEATURE_BUG_DENSITY:
            _add_ranking(
                result, warehouse, by_outcomes, bound.account.key if partitioned else None
            )
        yield dg.MaterializeResult(
            asset_key=result.table.name,
            metadata=result.metadata,
            check_results=result.check_results,
        )
    # one line for all tables: every log line is an event written to the instance's storage
    tables = ", ".join(
        f"{r.table.name} {r.metadata['dagster/row_count']} rows "
        f"{r.metadata['duration_seconds'].value:.2f} s"
        for r in rebuilt
    )
    context.log.info(
        f"analytics: {len(rebuilt)} tables in {time.perf_counter() - started:.2f} s ({tables})"
    )


ANALYTICS_ASSETS: list[dg.AssetsDefinition] = [analytics]
