"""Asset checks on the ingest tables: keys, customer scoping and references between tables.

All of them run in one step (a subsettable multi-asset check) that opens DuckDB once: one
step per check would cost a process and a turn of the `duckdb_writer` pool each.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
import duckdb
from dagster import AssetCheckExecutionContext

from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse import quality
from testio_pipeline.warehouse.schema import (
    BUGS,
    FEATURES,
    PRODUCTS,
    TEST_FEATURE_STORIES,
    TEST_FEATURES,
    TESTS,
    USERS,
    TableSpec,
)

# the check every ingest table has: its rows carry a customer id and a unique key
KEYED_BY_CUSTOMER = "keyed_by_customer"
CHECKED_TABLES = (PRODUCTS, FEATURES, TESTS, TEST_FEATURES, TEST_FEATURE_STORIES, BUGS, USERS)
Metadata = dict[str, object]


@dataclass(frozen=True)
class IngestCheck:
    spec: dg.AssetCheckSpec
    severity: dg.AssetCheckSeverity
    evaluate: Callable[[duckdb.DuckDBPyConnection], tuple[bool, Metadata]]


def _keyed_by_customer(table: TableSpec) -> IngestCheck:
    """Both halves of a row's identity in one check (one scan, and one check's events instead
    of two in every run): the table's own PRIMARY KEY and NOT NULL enforce them, so this fails
    only for a table recreated by hand or by another tool without its constraints."""

    def evaluate(con: duckdb.DuckDBPyConnection) -> tuple[bool, Metadata]:
        duplicates = quality.duplicate_keys(con, table)
        nulls = quality.null_customer_ids(con, table.name)
        return duplicates == 0 and nulls == 0, {
            "duplicate_keys": duplicates,
            "rows_without_customer": nulls,
        }

    return IngestCheck(
        dg.AssetCheckSpec(
            KEYED_BY_CUSTOMER,
            asset=table.name,
            description=(
                f"Every row of {table.name} names its customer and no two rows share "
                f"({', '.join(table.key)})."
            ),
        ),
        dg.AssetCheckSeverity.ERROR,
        evaluate,
    )


def _references(
    name: str,
    child: TableSpec,
    column: str,
    parent: TableSpec,
    severity: dg.AssetCheckSeverity,
    description: str,
) -> IngestCheck:
    def evaluate(con: duckdb.DuckDBPyConnection) -> tuple[bool, Metadata]:
        dangling, examples = quality.dangling_references(
            con, child=child.name, column=column, parent=parent.name
        )
        return dangling == 0, {
            "dangling_rows": dangling,
            "example_ids": dg.MetadataValue.json(examples),
        }

    return IngestCheck(
        dg.AssetCheckSpec(name, asset=child.name, description=description), severity, evaluate
    )


CHECKS: list[IngestCheck] = [
    *(_keyed_by_customer(t) for t in CHECKED_TABLES),
    _references(
        "test_features_point_at_stored_tests",
        TEST_FEATURES,
        "test_id",
        TESTS,
        dg.AssetCheckSeverity.ERROR,
        "Every test feature belongs to a test stored in `tests`.",
    ),
    _references(
        "bugs_point_at_stored_tests",
        BUGS,
        "test_id",
        TESTS,
        dg.AssetCheckSeverity.ERROR,
        "Every bug belongs to a test stored in `tests`.",
    ),
    _references(
        "dangling_feature_references",
        TEST_FEATURES,
        "feature_id",
        FEATURES,
        dg.AssetCheckSeverity.WARN,
        "Test features whose feature is not in `features` (deleted from the catalog before the "
        "first sync). Expected in real accounts: counted, not an error.",
    ),
    _references(
        "dangling_feature_references",
        BUGS,
        "feature_id",
        FEATURES,
        dg.AssetCheckSeverity.WARN,
        "Bugs attributed to a feature that is not in `features`: counted, not an error.",
    ),
]
_BY_KEY = {check.spec.key: check for check in CHECKS}


@dg.multi_asset_check(
    specs=[check.spec for check in CHECKS],
    can_subset=True,
    pool=DUCKDB_WRITER_POOL,
    name="ingest_integrity",
)
def ingest_integrity(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """Keys, customer scoping and references of the ingest tables, in one DuckDB session."""
    warehouse = bind_account(context, warehouse).warehouse
    with warehouse.read(context.log) as con:
        for key in sorted(context.selected_asset_check_keys, key=str):
            check = _BY_KEY[key]
            passed, metadata = check.evaluate(con)
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=passed,
                severity=check.severity,
                metadata=metadata,
            )


INGEST_CHECKS = [ingest_integrity]
