"""Asset checks of the analytics tables: thin Dagster wrappers over `warehouse.analytics.checks`.

ERROR checks are blocking (a wrong analytics table must not feed anything downstream in the
same run); the unattributed-link check is a WARN: it reports an upstream data gap (a bug
linked to a feature nothing else knows), not a fault of the analytics SQL. Checks read with
`WarehouseResource.read()`, which takes the file lock like a write, so they share the
`duckdb_writer` pool with the assets.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import duckdb

from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse.analytics import (
    ANALYTICS_TABLES,
    BUG_TRENDS,
    FEATURE_BUG_DENSITY,
    PRODUCT_QUALITY,
    AnalyticsTable,
    settings,
)
from testio_pipeline.warehouse.analytics import checks
from testio_pipeline.warehouse.analytics.checks import CheckOutcome

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def run_check(
    warehouse: WarehouseResource,
    check: Callable[[duckdb.DuckDBPyConnection], CheckOutcome],
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    """Run one SQL check on the warehouse and turn its outcome into an `AssetCheckResult`."""
    with warehouse.read() as con:
        outcome = check(con)
    return dg.AssetCheckResult(passed=outcome.passed, severity=severity, metadata=outcome.details)


def _sql_check(
    table: AnalyticsTable,
    name: str,
    check: Callable[[duckdb.DuckDBPyConnection], CheckOutcome],
    severity: dg.AssetCheckSeverity,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(table.name),
        name=name,
        description=(check.__doc__ or "").strip().splitlines()[0],
        blocking=severity == ERROR,
        pool=DUCKDB_WRITER_POOL,
    )
    def _check(context, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        # the account's own file, when it has one (context unannotated: see analytics assets)
        return run_check(bind_account(context, warehouse).warehouse, check, severity)

    return _check


def _key_unique(table: AnalyticsTable) -> dg.AssetChecksDefinition:
    def check(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
        return checks.check_key_unique(con, table)

    check.__doc__ = f"No two rows share the key ({', '.join(table.key)})."
    return _sql_check(table, settings.CHECK_KEY_UNIQUE, check, ERROR)


ANALYTICS_CHECKS: list[dg.AssetChecksDefinition] = [
    _sql_check(
        FEATURE_BUG_DENSITY,
        settings.CHECK_DENSITY_NULL_IFF_UNTESTED,
        checks.check_density_null_iff_untested,
        ERROR,
    ),
    _sql_check(
        FEATURE_BUG_DENSITY,
        settings.CHECK_DENSITY_BUGS_RECONCILE,
        checks.check_attributed_bugs_reconcile,
        ERROR,
    ),
    _sql_check(
        FEATURE_BUG_DENSITY,
        settings.CHECK_NO_CUSTOMER_MIXING,
        checks.check_density_no_customer_mixing,
        ERROR,
    ),
    _sql_check(
        FEATURE_BUG_DENSITY,
        settings.CHECK_DENSITY_UNATTRIBUTED_BUGS,
        checks.check_unattributed_feature_links,
        WARN,
    ),
    _sql_check(
        PRODUCT_QUALITY,
        settings.CHECK_PRODUCT_BUGS_RECONCILE,
        checks.check_product_bugs_reconcile,
        ERROR,
    ),
    _sql_check(
        BUG_TRENDS,
        settings.CHECK_TREND_BUGS_RECONCILE,
        checks.check_trend_bugs_reconcile,
        ERROR,
    ),
    *(_key_unique(table) for table in ANALYTICS_TABLES),
]
