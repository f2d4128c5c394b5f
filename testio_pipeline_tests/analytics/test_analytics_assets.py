"""Real `dg.materialize` runs of the analytics assets and checks against hand-built files."""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES, ANALYTICS_TABLES_BY_NAME, settings
from testio_pipeline.warehouse.schema import ensure_schema

from .builder import WarehouseBuilder
from .worlds import CHECKOUT, SHOP, shop

INGEST_KEYS = {
    "products", "features", "tests", "test_features", "test_feature_stories", "bugs", "users",
}
UNATTRIBUTED = (settings.FEATURE_BUG_DENSITY_TABLE, settings.CHECK_DENSITY_UNATTRIBUTED_BUGS)
EXECUTION_BUGS = (
    settings.FEATURE_EXECUTION_OUTCOMES_TABLE, settings.CHECK_EXECUTION_BUGS_RECONCILE
)


def _hand_built(path: Path, *, extra_bugs: bool = False) -> None:
    """The shop account, with Checkout covered by 5 more tests so it qualifies as fragile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    ensure_schema(con)
    wb = WarehouseBuilder(con, customer_id=1)
    shop(wb)
    for n in range(5):
        wb.test(2000 + n, SHOP)
        wb.test_feature(6000 + n, 2000 + n, CHECKOUT, product_id=SHOP)
    if extra_bugs:
        # linked to a feature that neither the catalog nor any test feature knows
        wb.bug(99, test_id=2000, product_id=SHOP, test_feature_id=777, feature_id=4242)
    # another customer in the same file, same ids
    shop(wb.for_customer(2))
    con.close()


def _materialize(path: Path, only: str | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ANALYTICS_ASSETS,
        selection=[only] if only else None,
        resources={
            "warehouse": WarehouseResource(path=str(path), customer_id=1, lock_wait_seconds=5)
        },
        raise_on_error=False,
    )


SPECS = [spec for asset in ANALYTICS_ASSETS for spec in asset.specs]


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetMaterialization]:
    return {
        event.asset_key.to_user_string(): event
        for event in result.get_asset_materialization_events()
        for event in [event.materialization]
    }


def _check_evaluations(
    result: dg.ExecuteInProcessResult,
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


def test_assets_declare_their_ingest_deps_group_kind_and_pool():
    for spec in SPECS:
        table = ANALYTICS_TABLES_BY_NAME[spec.key.to_user_string()]
        deps = {dep.asset_key.to_user_string() for dep in spec.deps}
        assert deps == set(table.reads) and deps <= INGEST_KEYS
        assert spec.group_name == "analytics"
        assert spec.kinds == {"duckdb"}
        assert spec.description and len(spec.description) > 100
        assert spec.metadata["primary_key"] == ", ".join(table.key)
    for asset in ANALYTICS_ASSETS:
        assert asset.op.pool == "duckdb_writer" and asset.can_subset
        assert "warehouse" in asset.required_resource_keys
    assert {spec.key.to_user_string() for spec in SPECS} == {table.name for table in ANALYTICS_TABLES}


def test_checks_are_declared_on_their_assets_blocking_for_error_checks_only():
    specs = [spec for asset in ANALYTICS_ASSETS for spec in asset.check_specs]
    blocking = {(spec.asset_key.to_user_string(), spec.name): spec.blocking for spec in specs}
    assert blocking[UNATTRIBUTED] is False and blocking[EXECUTION_BUGS] is False
    assert sum(not value for value in blocking.values()) == 2
    assert len(blocking) == 7 + len(ANALYTICS_TABLES)


def test_materializing_writes_every_table_with_metadata_and_all_checks_pass(tmp_path: Path):
    path = tmp_path / "data" / "testio.duckdb"
    _hand_built(path)
    result = _materialize(path)
    assert result.success

    materialized = _materializations(result)
    assert set(materialized) == {table.name for table in ANALYTICS_TABLES}
    density = materialized[settings.FEATURE_BUG_DENSITY_TABLE].metadata
    assert density["dagster/row_count"].value == 8  # 4 features for each of 2 customers
    schema = density["dagster/column_schema"].schema
    assert [column.name for column in schema.columns][-1] == "bug_density"
    assert density["duration_seconds"].value >= 0
    assert "| 1 | Checkout | Shop | 7 | 6 | 1 | 0.857 | 100 |" in density["most_fragile_features"].value

    chart_path = Path(density["most_fragile_features_chart_path"].value)
    assert chart_path == tmp_path / "data" / "reports" / "feature_bug_density.png"
    png = chart_path.read_bytes()
    assert png.startswith(b"\x89PNG")
    assert base64.b64encode(png).decode() in density["most_fragile_features_chart"].value
    page = Path(density["report"].value).read_text()
    assert page.startswith("<!doctype html>") and base64.b64encode(png).decode() in page
    assert "<td>Checkout</td><td>Shop</td>" in page

    evaluations = _check_evaluations(result)
    assert len(evaluations) == 7 + len(ANALYTICS_TABLES)
    failed = {key: e.metadata for key, e in evaluations.items() if not e.passed}
    assert not failed

    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM product_quality").fetchone()[0] == 2
    con.close()


def test_rematerializing_reports_the_previous_row_count(tmp_path: Path):
    path = tmp_path / "testio.duckdb"
    _hand_built(path)
    first = _materializations(_materialize(path, "tester_stats"))[settings.TESTER_STATS_TABLE]
    assert first.metadata["previous_row_count"].value is None
    result = _materialize(path, "tester_stats")
    assert set(_materializations(result)) == {"tester_stats"}
    metadata = _materializations(result)[settings.TESTER_STATS_TABLE].metadata
    assert metadata["previous_row_count"].value == metadata["dagster/row_count"].value == 2


def test_a_dangling_feature_link_warns_without_failing_the_run(tmp_path: Path):
    path = tmp_path / "testio.duckdb"
    _hand_built(path, extra_bugs=True)
    result = _materialize(path)
    assert result.success
    evaluations = _check_evaluations(result)
    warned = evaluations[UNATTRIBUTED]
    assert not warned.passed
    assert warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["unattributed_bugs"].value == 1
    assert all(evaluation.passed for key, evaluation in evaluations.items() if key != UNATTRIBUTED)


@pytest.mark.parametrize("table", [t.name for t in ANALYTICS_TABLES])
def test_each_asset_materializes_alone_on_an_empty_warehouse(tmp_path: Path, table: str):
    path = tmp_path / "fresh" / "testio.duckdb"
    result = dg.materialize(
        ANALYTICS_ASSETS, selection=[table],
        resources={"warehouse": WarehouseResource(path=str(path))},
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/row_count"].value == 0
