"""Values written into SQL instead of bound as parameters (which would import pandas)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from testio_pipeline.warehouse.sql_values import bigint_list, sql_literal, temp_table_from_columns


def test_literals_round_trip_through_duckdb() -> None:
    con = duckdb.connect()
    when = datetime(2026, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    values = [sql_literal(v) for v in (None, True, -7, "it's", when)]
    row = con.execute(
        f"SELECT {', '.join(values)}, {bigint_list([3, 1])}, {bigint_list(None)}"
    ).fetchone()
    assert row == (None, True, -7, "it's", when, [3, 1], [])
    with pytest.raises(ValueError, match="no time zone"):
        sql_literal(datetime(2026, 5, 1))
    with pytest.raises(TypeError):
        sql_literal(1.5)


def test_temp_table_from_columns_keeps_types_order_and_quotes() -> None:
    con = duckdb.connect()
    temp_table_from_columns(
        con,
        "t",
        {"id": ("BIGINT", [2, 1]), "ok": ("BOOLEAN", [True, False]), "f": ("VARCHAR", ["a'b", "c"])},
    )
    assert con.execute("SELECT * FROM t ORDER BY id DESC").fetchall() == [(2, True, "a'b"), (1, False, "c")]
    assert [str(t) for t in con.sql("SELECT * FROM t").types] == [
        "BIGINT", "BOOLEAN", "VARCHAR",
    ]
    temp_table_from_columns(con, "empty", {"id": ("BIGINT", [])})
    assert con.execute("SELECT count(*) FROM empty").fetchone() == (0,)
    with pytest.raises(ValueError, match="differ in length"):
        temp_table_from_columns(con, "bad", {"id": ("BIGINT", [1]), "ok": ("BOOLEAN", [])})
