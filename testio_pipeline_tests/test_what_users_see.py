"""What a newcomer meets: every column described once (in the table definitions) and shown in
the UI, an owner and a description on every asset, the data source named where it is chosen,
and Dagster's current CLI (`dg`) working from the project root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
        if node.group_name == "publish":
            continue  # the published file, not a table
        assert schema is not None, key.to_user_string()
        columns = getattr(schema, "schema", schema).columns
        assert all(c.description for c in columns), key.to_user_string()
    tests = next(t for t in INGEST_TABLES if t.name == "tests")
    shown = {c.name: c.description for c in column_schema(tests).columns}
    assert "archived and cancelled" in shown["is_final"]


def test_the_launchpad_shows_the_simulator_address_when_it_is_what_runs() -> None:
    from testio_pipeline.testio import settings
    from testio_pipeline.testio.simulator import SIMULATOR_BASE_URL

    assert settings.EMBEDDED_SIMULATOR_BASE_URL == SIMULATOR_BASE_URL


def test_dg_check_defs_passes_from_the_project_root() -> None:
    root = Path(__file__).resolve().parents[1]
    dg = Path(sys.executable).parent / "dg"
    done = subprocess.run(
        [str(dg), "check", "defs"], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_every_run_log_names_its_data_source(tmp_path: Path) -> None:
    import dagster as dg_api

    from testio_pipeline.defs.assets.ingest import products
    from testio_pipeline.defs.resources import (
        SyncOptionsResource,
        TestIOResource,
        WarehouseResource,
    )

    instance = dg_api.DagsterInstance.ephemeral()
    result = dg_api.materialize(
        [products],
        instance=instance,
        resources={
            "testio": TestIOResource(),
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "sync_options": SyncOptionsResource(),
        },
    )
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("data source: the embedded simulator" in m and "TESTIO_API_TOKEN" in m for m in messages)


def test_the_warehouse_page_is_generated_from_the_table_definitions() -> None:
    from testio_pipeline.warehouse.contract import ingest_tables_markdown, replace_between_markers

    root = Path(__file__).resolve().parents[1]
    page = (root / "docs" / "warehouse.md").read_text()
    assert replace_between_markers(page, ingest_tables_markdown()) == page, (
        "docs/warehouse.md is stale: python -m testio_pipeline.warehouse.contract "
        "--write docs/warehouse.md"
    )


def test_the_readme_links_every_docs_page_and_its_first_screen_is_the_quick_start() -> None:
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    for page in sorted((root / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, page.name
    first_screen = "\n".join(readme.splitlines()[:45])
    assert "## Quick start" in first_screen and "scripts/quickstart" in first_screen
    assert "scripts/ui" in first_screen and "fragile_features" in first_screen
