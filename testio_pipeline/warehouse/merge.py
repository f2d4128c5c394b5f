"""Set-based upserts on a table's primary key, with counts of what changed.

`merge` runs a handful of set-based statements over the source, materialized once as the temp
table `staged` (or read as a view, `ViewSource`); nothing is done row by row. It first joins
only keys and a fingerprint (hash) of the compared columns of source and table, to find the
new and the changed rows; changed rows are then deleted and inserted again (DELETE ... USING,
INSERT ... SELECT; see `merge_changes` for why), and absent rows deleted or soft-deleted
(NOT EXISTS). Unchanged rows are left untouched entirely (not even `synced_at` is refreshed),
so `synced_at` means "when this row's content was last written" and a no-change re-run writes
nothing. All statements run in the caller's transaction when
there is one (`connection.write_transaction`), otherwise in a transaction of their own.

`replace_table` rebuilds a derived table with `CREATE OR REPLACE TABLE ... AS`, atomically.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from testio_pipeline.warehouse.merge_changes import (
    CHANGES_TABLE,
    SOFT_DELETE_FLAG,
    SOFT_DELETE_TIME,
    STAGED_TABLE,
    ident,
    managed_columns,
    stage_changes,
    write_changes,
)
from testio_pipeline.warehouse.schema import TableSpec
from testio_pipeline.warehouse.staging import StagedRows

# written on every change but meaningless for "did the row change?"
BOOKKEEPING_COLUMNS = frozenset({"synced_at", "is_deleted", "deleted_at"})
DUPLICATE_EXAMPLES = 5


@dataclass(frozen=True)
class ViewSource:
    """A merge source that is cheap to read more than once (e.g. Parquet files): the merge
    reads it as a view instead of copying it into a temp table in DuckDB's memory."""

    sql: str


Source = StagedRows | duckdb.DuckDBPyRelation | ViewSource | str


@dataclass(frozen=True)
class MergeCounts:
    """What one merge did. `unchanged` rows matched the source and were not rewritten."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __add__(self, other: MergeCounts) -> MergeCounts:
        return MergeCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.deleted + other.deleted,
        )

    @property
    def changed(self) -> int:
        """Rows written: inserted + updated + deleted."""
        return self.inserted + self.updated + self.deleted

    def as_dict(self) -> dict[str, int]:
        """The counts as plain ints, e.g. for asset metadata."""
        return asdict(self)


class DuplicateKeyError(ValueError):
    """The merge source holds the same primary key more than once (or a NULL key)."""


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    # in autocommit every statement gets a fresh transaction id; inside BEGIN they share one.
    # probing with a nested BEGIN is not an option: duckdb aborts the open transaction
    first = con.execute("SELECT txid_current()").fetchone()
    second = con.execute("SELECT txid_current()").fetchone()
    return first == second


@contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Join the caller's transaction, or run the block in a new one (commit or rollback)."""
    if _in_transaction(con):
        yield
        return
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def _stage_source(con: duckdb.DuckDBPyConnection, source: Source) -> str:
    """Make `source` visible as `STAGED_TABLE`; returns what it is ("VIEW" or "TABLE")."""
    if isinstance(source, ViewSource):
        con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGED_TABLE} AS {source.sql}")
        return "VIEW"
    if isinstance(source, StagedRows):
        query = source.sql()
    elif isinstance(source, duckdb.DuckDBPyRelation):
        # a replacement scan of this local: works for any relation of this database and fails
        # clearly for a relation of another connection's database
        merge_source_relation = source  # noqa: F841
        query = "SELECT * FROM merge_source_relation"
    elif isinstance(source, str):
        query = source.strip().rstrip(";")
    else:
        raise TypeError(
            "merge source must be StagedRows, a DuckDB relation, a ViewSource or SQL, "
            f"not {type(source)}"
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGED_TABLE} AS SELECT * FROM ({query})")
    return "TABLE"


def _reject_duplicates(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    key = ", ".join(spec.key)
    null_key = " OR ".join(f"{k} IS NULL" for k in spec.key)
    nulls = con.execute(f"SELECT count(*) FROM {STAGED_TABLE} WHERE {null_key}").fetchone()
    if nulls and nulls[0]:
        raise DuplicateKeyError(
            f"merge into {spec.name}: {nulls[0]} source row(s) have a NULL key ({key})"
        )
    duplicates = con.execute(
        f"SELECT {key}, count(*) AS n FROM {STAGED_TABLE} GROUP BY {key} HAVING count(*) > 1 "
        f"ORDER BY n DESC, {key} LIMIT {DUPLICATE_EXAMPLES}"
    ).fetchall()
    if duplicates:
        examples = ", ".join(f"{row[:-1]} x{row[-1]}" for row in duplicates)
        raise DuplicateKeyError(
            f"merge into {spec.name}: the source repeats primary keys ({key}), e.g. {examples}; "
            "deduplicate it first (a StagedRows stage keeps the last row per key)"
        )


def _resolve_columns(
    spec: TableSpec,
    source_columns: list[str],
    update_columns: Sequence[str] | None,
    compare_columns: Sequence[str] | None,
    soft_delete: bool,
) -> tuple[list[str], list[str], list[str]]:
    """(update, compare, kept) column lists, validated against the spec and the source.

    `kept` are the table's columns a changed row keeps from its stored version: neither key
    nor updated nor written by soft delete."""
    spec_columns = spec.column_names
    unknown = [c for c in source_columns if c not in spec_columns]
    if unknown:
        raise ValueError(f"merge into {spec.name}: source has columns not in the table: {unknown}")
    missing_key = [k for k in spec.key if k not in source_columns]
    if missing_key:
        raise ValueError(f"merge into {spec.name}: source lacks key column(s) {missing_key}")
    managed = managed_columns(soft_delete)
    if soft_delete and not managed <= set(spec_columns):
        raise ValueError(f"soft delete needs {sorted(managed)} columns, which {spec.name} lacks")
    if update_columns is None:
        update = [
            c
            for c in spec_columns
            if c in source_columns and c not in managed and c not in spec.key
        ]
    else:
        update = list(update_columns)
        bad = [c for c in update if c not in source_columns or c in spec.key or c in managed]
        if bad:
            raise ValueError(
                f"merge into {spec.name}: update_columns {bad} are key, managed by soft delete, "
                "or absent from the source"
            )
    if compare_columns is None:
        compare = [c for c in update if c not in BOOKKEEPING_COLUMNS]
    else:
        compare = list(compare_columns)
        # a difference in a column the update does not write would count as updated forever
        bad = [c for c in compare if c not in update]
        if bad:
            raise ValueError(f"merge into {spec.name}: compare_columns {bad} are not updated")
    kept = [c for c in spec_columns if c not in spec.key and c not in update and c not in managed]
    return update, compare, kept


def merge(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: Source,
    *,
    update_columns: Sequence[str] | None = None,
    compare_columns: Sequence[str] | None = None,
    delete_where: str | None = None,
    delete_params: Sequence[Any] | None = None,
    soft_delete: bool = False,
) -> MergeCounts:
    """Upsert `source` into `spec.name` on `spec.key` and report what changed.

    - `source`: a `StagedRows`, a relation of `con`'s database, a `ViewSource` or SQL text
      (copied into a temp table first: it is read several times). Its columns must
      be columns of the table and include the key; table columns it lacks are left alone on
      update and NULL on insert. A repeated or NULL key raises `DuplicateKeyError`.
    - `update_columns` (default: every non-key source column) are overwritten on update, so a
      table keeps columns other assets own (e.g. `tests.bugs_synced_at`).
    - `compare_columns` (a subset of `update_columns`; default: `update_columns` minus
      `BOOKKEEPING_COLUMNS`) decide updated versus unchanged, NULL-safely, by a 64-bit
      fingerprint (`merge_changes.fingerprint_sql`; lists element-wise, JSON as its text). A
      matched row whose compare columns are all equal is not rewritten at all.
    - `delete_where`: SQL predicate over the table (with `delete_params`) selecting the rows
      this source is authoritative for; it may refer to the source as `staged`. Rows matching
      it whose key is absent from the source are deleted. Without it nothing is deleted.
    - `soft_delete`: instead of deleting, set `is_deleted = true, deleted_at = now()` (counted
      as deleted once; rows already flagged are not counted again). Source rows are always
      written with `is_deleted = false, deleted_at = NULL`, and a flagged row that reappears
      is undeleted and counted as updated.
    """
    table = ident(spec.name)
    with atomic(con):
        staged_as = _stage_source(con, source)
        source_columns = [
            d[0] for d in con.execute(f"SELECT * FROM {STAGED_TABLE} LIMIT 0").description
        ]
        update, compare, kept = _resolve_columns(
            spec, source_columns, update_columns, compare_columns, soft_delete
        )
        _reject_duplicates(con, spec)

        stage_changes(con, spec, compare, kept, soft_delete)
        updated, inserted = write_changes(con, spec, source_columns, update, kept, soft_delete)

        deleted = 0
        if delete_where is not None:
            key_match = " AND ".join(f"{table}.{k} = s.{k}" for k in spec.key)
            absent = f"NOT EXISTS (SELECT 1 FROM {STAGED_TABLE} AS s WHERE {key_match})"
            if soft_delete:
                statement = (
                    f"UPDATE {table} SET {SOFT_DELETE_FLAG} = true, {SOFT_DELETE_TIME} = now() "
                    f"WHERE ({delete_where}) AND {absent} AND {SOFT_DELETE_FLAG} IS NOT TRUE"
                )
            else:
                statement = f"DELETE FROM {table} WHERE ({delete_where}) AND {absent}"
            deleted = _count(con, statement, delete_params)

        total = _count(con, f"SELECT count(*) FROM {STAGED_TABLE}")
        con.execute(f"DROP {staged_as} {STAGED_TABLE}")
        con.execute(f"DROP TABLE {CHANGES_TABLE}")
    return MergeCounts(
        inserted=inserted, updated=updated, unchanged=total - inserted - updated, deleted=deleted
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> int:
    row = con.execute(sql, list(params) if params is not None else None).fetchone()
    return int(row[0]) if row else 0


def replace_customer_rows(
    con: duckdb.DuckDBPyConnection, name: str, select_sql: str, customer_id: int
) -> int:
    """Replace the rows of one customer in derived table `name` by those of `select_sql`.

    The rows of every other customer stay as they are: a run of one account never rewrites
    another account's rows. The table is created (empty, with `select_sql`'s columns) on first
    use. Returns the customer's row count.
    """
    table = ident(name)
    customer = f"customer_id = {int(customer_id)}"
    computed = f"SELECT * FROM ({select_sql}) AS computed WHERE {customer}"
    with atomic(con):
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS {computed} LIMIT 0")
        con.execute(f"DELETE FROM {table} WHERE {customer}")
        con.execute(f"INSERT INTO {table} {computed}")
        return _count(con, f"SELECT count(*) FROM {table} WHERE {customer}")


def replace_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    select_sql: str,
    params: Sequence[Any] | None = None,
) -> int:
    """Rebuild derived table `name` as `select_sql` and return its row count.

    `CREATE OR REPLACE TABLE` inside the caller's transaction (or its own): readers see the
    old table or the new one, never a partial one, and a failed rebuild keeps the old table.
    """
    table = ident(name)
    with atomic(con):
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS {select_sql}",
            list(params) if params is not None else None,
        )
        return _count(con, f"SELECT count(*) FROM {table}")
