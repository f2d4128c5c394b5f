"""Every analytics table is computed per customer: a customer's rows are the same whether other
customers share the warehouse or not. This is what lets a run of one account replace only its
own rows (`replace_table(..., customer_id=...)`) while other accounts' rows stay untouched."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES, replace_table
from testio_pipeline.warehouse.analytics.synthetic import SIZES, populate


def _rows(con: duckdb.DuckDBPyConnection, table: str, customer_id: int) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} WHERE customer_id = ? ORDER BY ALL", [customer_id]).fetchall()


@pytest.fixture(scope="module")
def shared_and_alone(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
    """Customers 1 and 2 with the same ids in one file; customer 1 alone in another."""
    root: Path = tmp_path_factory.mktemp("scoping")
    shared, alone = duckdb.connect(str(root / "shared.duckdb")), duckdb.connect(str(root / "alone.duckdb"))
    for con in (shared, alone):
        populate(con, SIZES["small"], customer_id=1, seed=1)
    populate(shared, SIZES["small"], customer_id=2, seed=2)
    yield shared, alone
    shared.close()
    alone.close()


@pytest.mark.parametrize("table", ANALYTICS_TABLES, ids=lambda t: t.name)
def test_a_customers_rows_do_not_depend_on_other_customers(shared_and_alone, table):
    shared, alone = shared_and_alone
    replace_table(shared, table)
    replace_table(alone, table)
    expected = _rows(alone, table.name, 1)
    assert expected, f"{table.name}: the synthetic account must give rows"
    assert _rows(shared, table.name, 1) == expected


@pytest.mark.parametrize("table", ANALYTICS_TABLES, ids=lambda t: t.name)
def test_replacing_one_customer_keeps_the_other_customers_rows(shared_and_alone, table):
    shared, _ = shared_and_alone
    replace_table(shared, table)
    before = {c: _rows(shared, table.name, c) for c in (1, 2)}
    # rolled back below: the module's warehouse stays as built for the other tables
    shared.begin()
    try:
        # customer 2's ingest rows change; only a run of customer 1 recomputes
        shared.execute("DELETE FROM bugs WHERE customer_id = 2")
        shared.execute("DELETE FROM tests WHERE customer_id = 2")
        stats = replace_table(shared, table, customer_id=1)
        assert stats.row_count == len(before[1])
        assert _rows(shared, table.name, 1) == before[1]
        assert _rows(shared, table.name, 2) == before[2]
    finally:
        shared.rollback()


def test_replacing_one_customer_creates_a_missing_table(tmp_path):
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    populate(con, SIZES["small"], customer_id=7, seed=3)
    table = ANALYTICS_TABLES[0]
    stats = replace_table(con, table, customer_id=7)
    assert stats.previous_row_count is None and stats.row_count > 0
    assert {r[0] for r in con.execute(f"SELECT DISTINCT customer_id FROM {table.name}").fetchall()} == {7}
