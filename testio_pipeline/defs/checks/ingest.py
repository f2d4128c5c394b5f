"""Asset checks on the ingest tables: keys, customer scoping and references between tables."""

from __future__ import annotations

import dagster as dg

from testio_pipeline.defs.assets.ingest import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse import quality
from testio_pipeline.warehouse.schema import (
    BUGS,
    FEATURES,
    PRODUCTS,
    TEST_FEATURES,
    TESTS,
    USERS,
    TableSpec,
)

CHECKED_TABLES = (PRODUCTS, FEATURES, TESTS, TEST_FEATURES, BUGS, USERS)


def _key_checks(spec: TableSpec) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=spec.name,
        name="primary_key_unique",
        description=f"No two rows of {spec.name} share ({', '.join(spec.key)}).",
        pool=DUCKDB_WRITER_POOL,
    )
    def primary_key_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.read() as con:
            duplicates = quality.duplicate_keys(con, spec)
        return dg.AssetCheckResult(
            passed=duplicates == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"duplicate_keys": duplicates},
        )

    @dg.asset_check(
        asset=spec.name,
        name="customer_id_not_null",
        description=f"Every row of {spec.name} names its customer.",
        pool=DUCKDB_WRITER_POOL,
    )
    def customer_id_not_null(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.read() as con:
            nulls = quality.null_customer_ids(con, spec.name)
        return dg.AssetCheckResult(
            passed=nulls == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"rows_without_customer": nulls},
        )

    return [primary_key_unique, customer_id_not_null]


def _reference_check(
    *,
    asset: str,
    name: str,
    column: str,
    parent: str,
    severity: dg.AssetCheckSeverity,
    description: str,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=name, description=description, pool=DUCKDB_WRITER_POOL)
    def reference_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.read() as con:
            dangling, examples = quality.dangling_references(
                con, child=asset, column=column, parent=parent
            )
        return dg.AssetCheckResult(
            passed=dangling == 0,
            severity=severity,
            metadata={"dangling_rows": dangling, "example_ids": dg.MetadataValue.json(examples)},
        )

    return reference_check


INGEST_CHECKS: list[dg.AssetChecksDefinition] = [
    check for spec in CHECKED_TABLES for check in _key_checks(spec)
] + [
    _reference_check(
        asset=TEST_FEATURES.name,
        name="test_features_point_at_stored_tests",
        column="test_id",
        parent=TESTS.name,
        severity=dg.AssetCheckSeverity.ERROR,
        description="Every test feature belongs to a test stored in `tests`.",
    ),
    _reference_check(
        asset=BUGS.name,
        name="bugs_point_at_stored_tests",
        column="test_id",
        parent=TESTS.name,
        severity=dg.AssetCheckSeverity.ERROR,
        description="Every bug belongs to a test stored in `tests`.",
    ),
    _reference_check(
        asset=TEST_FEATURES.name,
        name="test_features_dangling_feature_references",
        column="feature_id",
        parent=FEATURES.name,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "Test features whose feature is not in `features` (deleted from the catalog before "
            "the first sync). Expected in real accounts; counted, not an error."
        ),
    ),
    _reference_check(
        asset=BUGS.name,
        name="bugs_dangling_feature_references",
        column="feature_id",
        parent=FEATURES.name,
        severity=dg.AssetCheckSeverity.WARN,
        description="Bugs attributed to a feature that is not in `features`; counted, not an error.",
    ),
]
