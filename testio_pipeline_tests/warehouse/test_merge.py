from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from testio_pipeline.warehouse import schema
from testio_pipeline.warehouse.connection import open_for_read, write_transaction
from testio_pipeline.warehouse.merge import (
    DuplicateKeyError,
    MergeCounts,
    ViewSource,
    merge,
    replace_table,
)
from testio_pipeline.warehouse.staging import StagedRows
from testio_pipeline_tests.warehouse.rows import SYNCED_AT, bug_row

LATER = datetime(2026, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def merge_rows(
    db: Path, spec: schema.TableSpec, rows: Iterable[dict[str, Any]], **options: Any
) -> MergeCounts:
    """Stage `rows` and merge them in one write transaction, as an ingest asset does."""
    with StagedRows(spec, directory=db.parent / "stage") as stage:
        stage.extend(rows)
        with write_transaction(db) as con:
            return merge(con, spec, stage, **options)


def table(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with open_for_read(db) as con:
        return con.execute(sql, params).fetchall()


def feature_row(
    feature_id: int, product_id: int = 7, customer_id: int = 1, **overrides: Any
) -> dict[str, Any]:
    row = {
        "customer_id": customer_id,
        "id": feature_id,
        "product_id": product_id,
        "title": f"feature {feature_id}",
        "user_stories": ["I can do it"],
        "section_ids": [1],
        "synced_at": SYNCED_AT,
        "raw": {"id": feature_id},
    }
    row.update(overrides)
    return row


def test_first_merge_inserts_every_row(db: Path) -> None:
    counts = merge_rows(db, schema.BUGS, [bug_row(i) for i in range(1, 4)])
    assert counts == MergeCounts(inserted=3, updated=0, unchanged=0, deleted=0)
    assert table(db, "SELECT id, title, raw->>'$.severity' FROM bugs ORDER BY id") == [
        (i, f"Checkout total ignores promo code #{i}", "high") for i in range(1, 4)
    ]


def test_rerunning_the_same_merge_changes_nothing_and_keeps_synced_at(db: Path) -> None:
    rows = [bug_row(i) for i in range(1, 4)]
    merge_rows(db, schema.BUGS, rows)
    before = table(db, "SELECT * FROM bugs ORDER BY id")

    counts = merge_rows(db, schema.BUGS, [dict(r, synced_at=LATER) for r in rows])

    assert counts == MergeCounts(inserted=0, updated=0, unchanged=3, deleted=0)
    assert table(db, "SELECT * FROM bugs ORDER BY id") == before


def test_changed_rows_are_updated_with_their_synced_at(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(i) for i in range(1, 4)])
    counts = merge_rows(
        db,
        schema.BUGS,
        [
            bug_row(1, status="rejected", synced_at=LATER),
            bug_row(2, synced_at=LATER),
            bug_row(3, synced_at=LATER),
            bug_row(4, synced_at=LATER),
        ],
    )
    assert counts == MergeCounts(inserted=1, updated=1, unchanged=2, deleted=0)
    assert table(db, "SELECT id, status, synced_at = ? FROM bugs ORDER BY id", [LATER]) == [
        (1, "rejected", True),
        (2, "accepted", False),
        (3, "accepted", False),
        (4, "accepted", True),
    ]


@pytest.mark.parametrize(
    ("column", "old", "new"),
    [
        ("raw", {"id": 1, "test": {"id": 5}}, {"id": 1, "test": {"id": 6}}),
        ("raw", None, {"id": 1}),
        ("steps", ["a", "b"], ["a", "b", "c"]),
        ("steps", ["a", None], ["a", "b"]),
        ("steps", [], None),
        ("steps", [], [None]),
        ("title", "", None),
        ("test_id", 0, None),
        ("reported_at", "2025-10-20T15:42:11+02:00", "2025-10-20T15:42:12+02:00"),
        ("known", False, None),
    ],
)
def test_changes_are_detected_null_safely_in_json_list_and_scalar_columns(
    db: Path, column: str, old: Any, new: Any
) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1, **{column: old})])
    assert merge_rows(db, schema.BUGS, [bug_row(1, **{column: old})]).unchanged == 1
    assert merge_rows(db, schema.BUGS, [bug_row(1, **{column: new})]).updated == 1
    assert merge_rows(db, schema.BUGS, [bug_row(1, **{column: new})]).unchanged == 1


def test_columns_outside_update_columns_are_kept(db: Path) -> None:
    test_row = {
        "customer_id": 1,
        "id": 10,
        "title": "Release 4.2",
        "status": "running",
        "synced_at": SYNCED_AT,
    }
    merge_rows(db, schema.TESTS, [test_row])
    with write_transaction(db) as con:
        con.execute("UPDATE tests SET bugs_synced_at = ?, bugs_synced_final = false", [SYNCED_AT])

    update_columns = [
        c
        for c in schema.TESTS.column_names
        if c not in ("customer_id", "id", "bugs_synced_at", "bugs_synced_final")
    ]
    counts = merge_rows(
        db, schema.TESTS, [dict(test_row, status="archived")], update_columns=update_columns
    )

    assert counts.updated == 1
    assert table(db, "SELECT status, bugs_synced_at, bugs_synced_final FROM tests") == [
        ("archived", SYNCED_AT, False)
    ]


def test_compare_columns_decide_what_counts_as_a_change(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1)])
    counts = merge_rows(db, schema.BUGS, [bug_row(1, title="retitled")], compare_columns=["status"])
    assert counts == MergeCounts(unchanged=1)
    assert table(db, "SELECT title FROM bugs") == [("Checkout total ignores promo code #1",)]


def test_delete_where_deletes_absent_rows_only_within_its_scope(db: Path) -> None:
    # bugs of tests 100 and 101 for customer 1; the same bug ids also exist for customer 2
    merge_rows(db, schema.BUGS, [bug_row(i, test_id=100 + i % 2) for i in range(1, 7)])
    merge_rows(db, schema.BUGS, [bug_row(i, customer_id=2, test_id=100) for i in range(1, 7)])

    # this sync fetched the bugs of test 100 only, and bug 2 is gone from it
    counts = merge_rows(
        db,
        schema.BUGS,
        [bug_row(4, test_id=100), bug_row(6, test_id=100)],
        delete_where="customer_id = ? AND test_id IN (SELECT test_id FROM staged)",
        delete_params=[1],
    )

    assert counts == MergeCounts(inserted=0, updated=0, unchanged=2, deleted=1)
    assert table(db, "SELECT id FROM bugs WHERE customer_id = 1 ORDER BY id") == [
        (1,),
        (3,),
        (4,),
        (5,),
        (6,),
    ]
    assert table(db, "SELECT count(*) FROM bugs WHERE customer_id = 2") == [(6,)]


def test_a_customer_scoped_delete_never_touches_another_customers_keys(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(i, customer_id=c) for c in (1, 2) for i in (1, 2, 3)])
    counts = merge_rows(
        db, schema.BUGS, [bug_row(2)], delete_where="customer_id = ?", delete_params=[1]
    )
    assert counts.deleted == 2
    assert table(db, "SELECT customer_id, id FROM bugs ORDER BY ALL") == [
        (1, 2),
        (2, 1),
        (2, 2),
        (2, 3),
    ]


def test_soft_delete_flags_absent_features_and_undeletes_returning_ones(db: Path) -> None:
    scope = {
        "delete_where": "customer_id = ? AND product_id = ?",
        "delete_params": [1, 7],
        "soft_delete": True,
    }
    first = merge_rows(
        db,
        schema.FEATURES,
        [feature_row(1), feature_row(2), feature_row(3), feature_row(9, product_id=8)],
        **scope,
    )
    assert first == MergeCounts(inserted=4)
    assert table(
        db, "SELECT count(*) FROM features WHERE is_deleted = false AND deleted_at IS NULL"
    ) == [(4,)]

    gone = merge_rows(db, schema.FEATURES, [feature_row(1)], **scope)
    assert gone == MergeCounts(unchanged=1, deleted=2)
    flagged = table(db, "SELECT id, is_deleted, deleted_at IS NOT NULL FROM features ORDER BY id")
    assert flagged == [(1, False, False), (2, True, True), (3, True, True), (9, False, False)]

    still_gone = merge_rows(db, schema.FEATURES, [feature_row(1)], **scope)
    assert still_gone == MergeCounts(unchanged=1, deleted=0)

    back = merge_rows(db, schema.FEATURES, [feature_row(1), feature_row(2)], **scope)
    assert back == MergeCounts(updated=1, unchanged=1, deleted=0)
    assert table(db, "SELECT id, is_deleted, deleted_at FROM features WHERE id = 2") == [
        (2, False, None)
    ]
    assert table(db, "SELECT count(*) FROM features") == [(4,)]


def test_duplicate_keys_in_a_sql_source_are_rejected_loudly(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1)])
    with pytest.raises(DuplicateKeyError, match=r"repeats primary keys.*\(1, 5\) x2"):
        with write_transaction(db) as con:
            merge(
                con,
                schema.BUGS,
                "SELECT 1 AS customer_id, 5 AS id, 'a' AS title UNION ALL SELECT 1, 5, 'b'",
            )
    assert table(db, "SELECT id FROM bugs") == [(1,)]


def test_a_source_may_be_a_relation_with_a_subset_of_the_columns(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1)])
    with write_transaction(db) as con:
        relation = con.sql(
            "SELECT 1 AS customer_id, id, 'new title' AS title FROM range(1, 3) t(id)"
        )
        counts = merge(con, schema.BUGS, relation)
    assert counts == MergeCounts(inserted=1, updated=1)
    assert table(db, "SELECT id, title, severity FROM bugs ORDER BY id") == [
        (1, "new title", "high"),
        (2, "new title", None),
    ]


def test_a_view_source_is_read_in_place_and_merged_like_any_other(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1), bug_row(2)])
    parquet = db.parent / "bugs.parquet"
    with write_transaction(db) as con:
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN id = 2 THEN 'changed' ELSE title END AS title) "
            f"FROM bugs UNION ALL SELECT * REPLACE (3 AS id) FROM bugs WHERE id = 1) "
            f"TO '{parquet}' (FORMAT parquet)"
        )
    with write_transaction(db) as con:
        counts = merge(con, schema.BUGS, ViewSource(f"SELECT * FROM read_parquet('{parquet}')"))
        # the view is dropped with the merge, the table it read is not copied
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'staged'").fetchone() == (0,)
    assert counts == MergeCounts(inserted=1, updated=1, unchanged=1)
    assert table(db, "SELECT id, title FROM bugs ORDER BY id")[1] == (2, "changed")


def test_a_changed_row_keeps_its_other_columns_and_a_new_row_takes_the_source_s(db: Path) -> None:
    # a changed row is deleted and inserted again: columns outside update_columns must survive
    merge_rows(db, schema.BUGS, [bug_row(1, title="old", severity="high")])
    counts = merge_rows(
        db,
        schema.BUGS,
        [bug_row(1, title="new", severity="low"), bug_row(2, title="two", severity="low")],
        update_columns=["title"],
    )
    assert counts == MergeCounts(inserted=1, updated=1)
    assert table(db, "SELECT id, title, severity FROM bugs ORDER BY id") == [
        (1, "new", "high"),
        (2, "two", "low"),
    ]


def test_a_source_column_unknown_to_the_table_is_rejected(db: Path) -> None:
    with pytest.raises(ValueError, match=r"not in the table: \['colour'\]"):
        with write_transaction(db) as con:
            merge(con, schema.BUGS, "SELECT 1 AS customer_id, 1 AS id, 'red' AS colour")


def test_compare_columns_must_be_columns_the_update_writes(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1)])
    with pytest.raises(ValueError, match=r"compare_columns \['status'\] are not updated"):
        merge_rows(
            db, schema.BUGS, [bug_row(1)], update_columns=["title"], compare_columns=["status"]
        )


def test_a_relation_of_another_database_is_refused(db: Path) -> None:
    elsewhere = duckdb.connect()
    relation = elsewhere.sql("SELECT 1 AS customer_id, 1 AS id")
    with write_transaction(db) as con, pytest.raises(duckdb.Error, match="another"):
        merge(con, schema.BUGS, relation)


def test_an_exception_in_the_transaction_rolls_the_merge_back(db: Path) -> None:
    merge_rows(db, schema.BUGS, [bug_row(1), bug_row(2)])
    before = table(db, "SELECT * FROM bugs ORDER BY id")
    with StagedRows(schema.BUGS, directory=db.parent / "stage") as stage:
        stage.extend([bug_row(1, title="changed"), bug_row(3)])
        with pytest.raises(RuntimeError, match="asset failed after merging"):
            with write_transaction(db) as con:
                counts = merge(con, schema.BUGS, stage, delete_where="customer_id = 1")
                assert counts == MergeCounts(inserted=1, updated=1, deleted=1)
                raise RuntimeError("asset failed after merging")
    assert table(db, "SELECT * FROM bugs ORDER BY id") == before


def test_a_merge_outside_a_transaction_is_still_all_or_nothing(db: Path) -> None:
    spec = schema.TableSpec(
        name="strict",
        key=("id",),
        description="",
        columns=(("id", "BIGINT NOT NULL"), ("name", "VARCHAR NOT NULL")),
    )
    con = duckdb.connect(str(db))
    con.execute(spec.ddl())
    con.execute("INSERT INTO strict VALUES (1, 'one')")
    # the update of row 1 succeeds, then the insert of row 2 violates NOT NULL
    with pytest.raises(duckdb.ConstraintException):
        merge(con, spec, "SELECT 1 AS id, 'uno' AS name UNION ALL SELECT 2, NULL")
    assert con.execute("SELECT * FROM strict").fetchall() == [(1, "one")]
    assert merge(con, spec, "SELECT 1 AS id, 'uno' AS name") == MergeCounts(updated=1)


def test_merge_counts_add_up_across_merges() -> None:
    total = MergeCounts(1, 2, 3, 4) + MergeCounts(deleted=1)
    assert total == MergeCounts(inserted=1, updated=2, unchanged=3, deleted=5)
    assert total.as_dict() == {"inserted": 1, "updated": 2, "unchanged": 3, "deleted": 5}
    assert total.changed == 8


def test_replace_table_rebuilds_a_derived_table_atomically(db: Path) -> None:
    merge_rows(
        db, schema.BUGS, [bug_row(i, severity="high" if i % 2 else "low") for i in range(1, 6)]
    )
    sql = "SELECT severity, count(*) AS bugs FROM bugs WHERE customer_id = ? GROUP BY severity"
    with write_transaction(db) as con:
        assert replace_table(con, "severity_counts", sql, [1]) == 2
    assert table(db, "SELECT * FROM severity_counts ORDER BY severity") == [("high", 3), ("low", 2)]

    with pytest.raises(RuntimeError, match="later step failed"):
        with write_transaction(db) as con:
            assert replace_table(con, "severity_counts", sql, [2]) == 0
            raise RuntimeError("later step failed")
    assert table(db, "SELECT * FROM severity_counts ORDER BY severity") == [("high", 3), ("low", 2)]


def test_replace_table_refuses_names_that_are_not_plain_identifiers(db: Path) -> None:
    with write_transaction(db) as con:
        with pytest.raises(ValueError, match="identifier"):
            replace_table(con, "x; DROP TABLE bugs", "SELECT 1")


def test_re_merging_wide_stored_rows_from_a_joined_view_stays_within_a_small_limit(
    tmp_path: Path,
) -> None:
    """The nightly full refresh re-merges every stored test from a view joining Parquet
    chunks with the listing's selection. DuckDB estimates such a view at a fraction of its
    rows and may build the join with the stored table on it: the fingerprints must be
    computed before that join, or its hash table holds every column of every row (10x
    `large` ran out of memory there). 40,000 rows of ~3 KB (~128 MB) under a 96 MiB limit."""
    spec = schema.TableSpec(
        name="wide",
        key=("id",),
        description="",
        columns=(("id", "BIGINT NOT NULL"), ("raw", "VARCHAR"), ("synced_at", "TIMESTAMPTZ")),
    )
    rows = (
        "SELECT i AS id, string_agg(md5((i * 100 + j)::VARCHAR), '') AS raw, "
        "TIMESTAMPTZ '2026-01-01' AS synced_at FROM range(40000) t(i), range(100) u(j) GROUP BY i"
    )
    chunk = tmp_path / "chunk.parquet"
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"SET temp_directory = '{tmp_path / 'spill'}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(spec.ddl())
    con.execute(f"INSERT INTO wide {rows}")
    # row groups as the sync's Parquet chunks write them (a reader holds one at a time)
    con.execute(
        f"COPY ({rows}) TO '{chunk}' (FORMAT parquet, ROW_GROUP_SIZE 5000, "
        "ROW_GROUP_SIZE_BYTES '2MB')"
    )
    con.execute(
        "CREATE TEMP TABLE selection AS SELECT i AS id, i % 7 AS place FROM range(40000) t(i)"
    )
    # the fingerprints first: passes from 80 MiB; building on the wide side failed up to 128
    con.execute("SET memory_limit = '96MiB'")
    con.execute("SET threads = 2")
    source = ViewSource(
        f"SELECT p.id, p.raw, p.synced_at FROM read_parquet('{chunk}') AS p "
        "JOIN selection AS s ON s.id = p.id AND s.place = p.id % 7"
    )
    assert merge(con, spec, source) == MergeCounts(unchanged=40000)
