"""A generated account, bigger and messier than the hand-built ones, must satisfy every check."""

from __future__ import annotations

from pathlib import Path

import duckdb

from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES, replace_all
from testio_pipeline.warehouse.analytics import checks
from testio_pipeline.warehouse.analytics.synthetic import SIZES, populate

SMALL = SIZES["small"]


def _all_checks_pass(con: duckdb.DuckDBPyConnection) -> None:
    for check in (
        checks.check_density_null_iff_untested,
        checks.check_attributed_bugs_reconcile,
        checks.check_unattributed_feature_links,
        checks.check_density_no_customer_mixing,
        checks.check_product_bugs_reconcile,
        checks.check_trend_bugs_reconcile,
    ):
        outcome = check(con)
        assert outcome.passed, (check.__name__, outcome.details)
    for table in ANALYTICS_TABLES:
        assert checks.check_key_unique(con, table).passed, table.name


def _dump(con: duckdb.DuckDBPyConnection, customer_id: int) -> dict[str, list[tuple]]:
    return {
        table.name: con.execute(
            f"SELECT * FROM {table.name} WHERE customer_id = ? ORDER BY ALL", [customer_id]
        ).fetchall()
        for table in ANALYTICS_TABLES
    }


def test_synthetic_account_covers_every_row_kind_and_passes_all_checks(con):
    populate(con, SMALL)
    replace_all(con)
    _all_checks_pass(con)
    kinds = dict(
        con.execute(
            """SELECT
                 CASE WHEN NOT in_catalog THEN 'snapshot only'
                      WHEN tests_covered = 0 THEN 'never tested' ELSE 'tested' END, count(*)
               FROM feature_bug_density GROUP BY 1"""
        ).fetchall()
    )
    assert set(kinds) == {"snapshot only", "never tested", "tested"}
    catalog = con.execute("SELECT count(*) FROM features WHERE NOT is_deleted").fetchone()[0]
    assert kinds["never tested"] + kinds["tested"] == catalog
    without_feature = con.execute("SELECT sum(bugs_without_feature) FROM product_quality").fetchone()[0]
    assert without_feature > 0


def test_a_customer_gets_the_same_tables_alone_or_sharing_ids_with_another(tmp_path: Path):
    alone = duckdb.connect(str(tmp_path / "alone.duckdb"))
    populate(alone, SMALL, customer_id=1, seed=1)
    replace_all(alone)
    shared = duckdb.connect(str(tmp_path / "shared.duckdb"))
    # same ids, different data: a join without customer_id would borrow the other's rows
    populate(shared, SMALL, customer_id=1, seed=1)
    populate(shared, SMALL, customer_id=2, seed=2)
    replace_all(shared)
    _all_checks_pass(shared)
    assert _dump(shared, 1) == _dump(alone, 1)
    assert _dump(shared, 2) != _dump(shared, 1)
    alone.close()
    shared.close()
