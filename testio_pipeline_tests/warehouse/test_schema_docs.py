"""Every column a SQL user sees is described once, in the table definitions, and the UI shows it."""

from __future__ import annotations

import pytest

from testio_pipeline.defs.metadata import column_schema
from testio_pipeline.definitions import defs
from testio_pipeline.warehouse.schema import INGEST_TABLES, TableSpec


@pytest.mark.parametrize("table", INGEST_TABLES, ids=lambda t: t.name)
def test_every_ingest_column_has_a_description(table: TableSpec) -> None:
    undescribed = [c for c in table.column_names if not _described(table, c)]
    assert not undescribed, f"{table.name}: describe {undescribed} in its TableSpec"
    stray = set(table.column_descriptions) - set(table.column_names)
    assert not stray, f"{table.name}: descriptions of columns it does not have: {stray}"


def _described(table: TableSpec, column: str) -> bool:
    try:
        return len(table.describe(column)) > 10
    except KeyError:
        return False


def test_the_ui_shows_the_descriptions_and_every_asset_has_an_owner() -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners, f"{key.to_user_string()} has no owner"
        assert node.description and len(node.description) > 60, key.to_user_string()
        schema = node.metadata.get("dagster/column_schema")
        assert schema is not None, key.to_user_string()
        columns = getattr(schema, "schema", schema).columns
        assert all(c.description for c in columns), key.to_user_string()
    tests = next(t for t in INGEST_TABLES if t.name == "tests")
    shown = {c.name: c.description for c in column_schema(tests).columns}
    assert "archived and cancelled" in shown["is_final"]
