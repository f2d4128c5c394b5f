"""`customer_scope`: inside it, every table shows one customer's rows; after it, all of them."""

from __future__ import annotations

import duckdb

from testio_pipeline.warehouse.scoping import customer_scope


def test_tables_show_one_customer_inside_the_scope_and_every_customer_after(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE TABLE bugs AS SELECT range AS id, range % 3 AS customer_id FROM range(9)")
    con.execute("CREATE TABLE settings_without_customer AS SELECT 1 AS x")
    con.execute("BEGIN")
    con.execute("INSERT INTO bugs VALUES (100, 1)")  # an uncommitted write is seen too
    with customer_scope(con, 1):
        assert con.execute("SELECT count(*), min(customer_id), max(customer_id) FROM bugs").fetchone() == (4, 1, 1)
        assert con.execute("SELECT count(*) FROM settings_without_customer").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM bugs").fetchone() == (10,)
    con.execute("COMMIT")
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE temporary AND NOT internal").fetchone() == (0,)
