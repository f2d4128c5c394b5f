"""Queries that see one customer's rows only, on a connection that holds every customer.

The analytics checks reconcile an analytics table with the ingest tables. In a run of one
account (partitioned, `defs/accounts.py`) only that customer's analytics rows were rebuilt;
another account's rows may lag behind its own ingest rows until its run rebuilds them, which
is not a fault of this run. `customer_scope` makes every table of the warehouse, for the
duration of the block, a temporary view of the customer's rows under the same name, so the
checks' SQL runs unchanged and judges this account alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from testio_pipeline.warehouse.merge_changes import ident


@contextmanager
def customer_scope(con: duckdb.DuckDBPyConnection, customer_id: int) -> Iterator[None]:
    """Within the block, unqualified table names on `con` show `customer_id`'s rows only."""
    database = con.execute("SELECT current_database()").fetchone()[0]
    tables = [
        row[0]
        for row in con.execute(
            """SELECT t.table_name FROM duckdb_tables() AS t
               JOIN duckdb_columns() AS c
                 ON c.database_name = t.database_name AND c.schema_name = t.schema_name
                AND c.table_name = t.table_name AND c.column_name = 'customer_id'
               WHERE t.database_name = current_database() AND t.schema_name = 'main'"""
        ).fetchall()
    ]
    # temporary views are found before the file's tables (DuckDB searches `temp` first); they
    # name the file's table fully, since `main.<table>` would find the view itself
    for table in tables:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ident(table)} AS SELECT * FROM "
            f"{ident(database)}.main.{ident(table)} WHERE customer_id = {int(customer_id)}"
        )
    try:
        yield
    finally:
        for table in tables:
            con.execute(f"DROP VIEW IF EXISTS temp.main.{ident(table)}")
