"""The declarations of the analytics tables hold: stored types, ingest reads, documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES, AnalyticsTable, replace_all
from testio_pipeline.warehouse.schema import TABLES_BY_NAME

from .worlds import shop

# the analytics tables are documented in the warehouse contract (docs/warehouse.md)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
_TABLE_REFERENCE = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+)", re.IGNORECASE)
# DESCRIBE spells out the aliases the declarations use
_CANONICAL_TYPES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}


def _ingest_tables_read(table: AnalyticsTable) -> set[str]:
    referenced = set(_TABLE_REFERENCE.findall(table.select_sql(**table.params)))
    return referenced & set(TABLES_BY_NAME)


def test_stored_columns_and_types_match_the_declaration(con, wb):
    shop(wb)
    replace_all(con)
    for table in ANALYTICS_TABLES:
        stored = [
            (name, sql_type)
            for name, sql_type, *_ in con.execute(f"DESCRIBE {table.name}").fetchall()
        ]
        declared = [
            (column.name, _CANONICAL_TYPES.get(column.sql_type, column.sql_type))
            for column in table.columns
        ]
        assert stored == declared, table.name


@pytest.mark.parametrize("table", ANALYTICS_TABLES, ids=lambda table: table.name)
def test_declared_ingest_reads_are_exactly_the_tables_the_sql_reads(table):
    assert _ingest_tables_read(table) == set(table.reads)


@pytest.mark.parametrize("table", ANALYTICS_TABLES, ids=lambda table: table.name)
def test_docs_describe_every_column(table):
    text = DOCS.read_text()
    assert f"`{table.name}`" in text
    missing = [column.name for column in table.columns if f"`{column.name}`" not in text]
    assert not missing, f"{table.name}: {missing}"


def test_tables_can_be_built_on_an_empty_warehouse(con):
    stats = replace_all(con)
    assert [s.row_count for s in stats] == [0] * len(ANALYTICS_TABLES)
    assert [s.previous_row_count for s in stats] == [None] * len(ANALYTICS_TABLES)
    assert [s.previous_row_count for s in replace_all(con)] == [0] * len(ANALYTICS_TABLES)


def test_a_failed_transaction_keeps_the_previous_table(con, wb):
    shop(wb)
    replace_all(con)
    con.begin()
    con.execute("DELETE FROM bugs")
    replace_all(con)
    assert con.execute("SELECT sum(bugs_total) FROM feature_bug_density").fetchone()[0] == 0
    con.rollback()
    assert con.execute("SELECT sum(bugs_total) FROM feature_bug_density").fetchone()[0] == 9
