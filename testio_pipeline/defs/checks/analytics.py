"""Asset checks of the analytics tables: thin Dagster wrappers over `warehouse.analytics.checks`.

They are declared on their asset (`check_specs`) and evaluated inside the asset's own step,
on its write connection right after the table is rebuilt: a check step of its own cost a
Dagster step, a pool turn and a DuckDB open each (10 steps, ~1 s of a run on a small
account). ERROR checks are blocking (a wrong analytics table must not feed anything
downstream in the same run); the unattributed-link check is a WARN: it reports an upstream
data gap (a bug linked to a feature nothing else knows), not a fault of the analytics SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import duckdb

from testio_pipeline.warehouse.analytics import (
    ANALYTICS_TABLES,
    BUG_TRENDS,
    FEATURE_BUG_DENSITY,
    FEATURE_EXECUTION_OUTCOMES,
    PRODUCT_QUALITY,
    AnalyticsTable,
    settings,
)
from testio_pipeline.warehouse.analytics import checks
from testio_pipeline.warehouse.analytics.checks import CheckOutcome

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN

Check = Callable[[duckdb.DuckDBPyConnection], CheckOutcome]


@dataclass(frozen=True)
class AnalyticsCheck:
    """One SQL check of an analytics table, declared on its asset (`check_specs`)."""

    spec: dg.AssetCheckSpec
    severity: dg.AssetCheckSeverity
    evaluate: Check

    def result(self, con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
        outcome = self.evaluate(con)
        return dg.AssetCheckResult(
            asset_key=self.spec.asset_key,
            check_name=self.spec.name,
            passed=outcome.passed,
            severity=self.severity,
            metadata=outcome.details,
        )


def _sql_check(
    table: AnalyticsTable, name: str, check: Check, severity: dg.AssetCheckSeverity
) -> AnalyticsCheck:
    spec = dg.AssetCheckSpec(
        name,
        asset=dg.AssetKey(table.name),
        description=(check.__doc__ or "").strip().splitlines()[0],
        blocking=severity == ERROR,
    )
    return AnalyticsCheck(spec, severity, check)


def _key_unique(table: AnalyticsTable) -> AnalyticsCheck:
    def check(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
        return checks.check_key_unique(con, table)

    check.__doc__ = f"No two rows share the key ({', '.join(table.key)})."
    return _sql_check(table, settings.CHECK_KEY_UNIQUE, check, ERROR)


ANALYTICS_CHECKS: list[AnalyticsCheck] = [
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
    # WARN: a difference is an upstream gap (a quarantined bug, a failed batch), not a fault
    # of the outcome table, and must not block the analytics
    _sql_check(
        FEATURE_EXECUTION_OUTCOMES,
        settings.CHECK_EXECUTION_BUGS_RECONCILE,
        checks.check_execution_bugs_reconcile,
        WARN,
    ),
    *(_key_unique(table) for table in ANALYTICS_TABLES),
]


def checks_of(table: AnalyticsTable) -> list[AnalyticsCheck]:
    """The checks declared on `table`'s asset."""
    return [c for c in ANALYTICS_CHECKS if c.spec.asset_key == dg.AssetKey(table.name)]
