"""The core of `merge.merge`: which source rows are new or changed, and writing them.

Only keys and a fingerprint (hash) of the compared columns are joined, never whole rows:
joining the rows of a large table (raw JSON and all, `UPDATE ... FROM staged`) needed the
most memory of a sync, and under a memory limit a bulk `UPDATE` was far slower in DuckDB than
deleting and re-inserting the same rows (a prototype, re-merging the large account's bugs with
10 % changed at 64 MiB: ~22 s against ~5 s).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from testio_pipeline.warehouse.schema import TableSpec
from testio_pipeline.warehouse.staging import base_type

# name under which a merge's source is visible to `delete_where` predicates
STAGED_TABLE = "staged"
# the keys of the source rows that are new or changed
CHANGES_TABLE = "merge_changes"
SOFT_DELETE_FLAG = "is_deleted"
SOFT_DELETE_TIME = "deleted_at"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """`name` if it is a plain SQL identifier; raises otherwise."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def managed_columns(soft_delete: bool) -> set[str]:
    """Columns a soft-deleting merge writes itself."""
    return {SOFT_DELETE_FLAG, SOFT_DELETE_TIME} if soft_delete else set()


def fingerprint_sql(spec: TableSpec, columns: Sequence[str]) -> str:
    """One 64-bit hash of `columns` that tells any two different values apart (up to hash
    collisions, ~n/2^64 for n changed rows).

    Each column is cast to its table type, so a source column of another type (INTEGER for
    BIGINT, ...) hashes like the stored value. DuckDB's `hash` alone is not enough: it maps
    NULL, `[]` and `[NULL]` to the same value, so each column adds an IS NULL flag, and a
    list is hashed as its JSON text (`[]` vs `[null]`).
    """
    if not columns:
        return "0"
    types = {name: base_type(sql_type) for name, sql_type in spec.columns}
    parts = []
    for column in columns:
        value = f"CAST({column} AS {types[column]})"
        parts.append(f"{value} IS NULL")
        parts.append(f"to_json({value})" if types[column].endswith("[]") else value)
    return "hash(" + ", ".join(parts) + ")"


def stage_changes(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    compare: Sequence[str],
    kept: Sequence[str],
    soft_delete: bool,
) -> None:
    """Temp table `CHANGES_TABLE`: the key of every source row that is new or differs from
    its stored row, `is_new`, and the stored values of the `kept` columns of changed rows."""
    table = ident(spec.name)
    key = ", ".join(spec.key)
    fingerprint = fingerprint_sql(spec, compare)
    stored_extra = "".join(f", {c}" for c in kept)
    changed = "s.fingerprint <> t.fingerprint"
    if soft_delete:
        stored_extra += f", {SOFT_DELETE_FLAG}"
        changed += f" OR t.{SOFT_DELETE_FLAG} IS DISTINCT FROM false"
    source_key = ", ".join(f"s.{k}" for k in spec.key)
    no_kept = "".join(f", NULL AS {c}" for c in kept)
    stored_kept = "".join(f", t.{c}" for c in kept)
    # fingerprints only of keys on both sides, MATERIALIZED, each computed before its side's
    # join: DuckDB may build a join's hash table on either side (a view over Parquet chunks
    # is estimated at a fraction of its rows), and with a fingerprint above the join that
    # table held every compared column of every row, raw JSON and all. The nightly full
    # refresh of 10x `large` ran out of memory so at the 303 MiB limit, first in the tests
    # (the source side), then in the bugs (the stored side: re-merging 2.2 million stored
    # bugs needed 150-200 MiB; hashed first, 64 MiB). Hashing every stored row before the
    # join costs an incremental merge nothing measurable (30,000 bugs into 2.2 million:
    # 0.57 s before, 0.54 s after): DuckDB pushes the source's key range into the scan.
    source_fingerprints = (
        f"(SELECT {key}, {fingerprint} AS fingerprint FROM {STAGED_TABLE})"
        if _has_rows(con, table)
        else f"(SELECT {key}, 0::UBIGINT AS fingerprint FROM {STAGED_TABLE} WHERE false)"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {CHANGES_TABLE} AS
        WITH incoming AS MATERIALIZED (
            SELECT {key}, fingerprint
            FROM {source_fingerprints} AS s SEMI JOIN {table} USING ({key})
        ),
        stored AS MATERIALIZED (
            SELECT {key}, fingerprint{stored_extra}
            FROM (SELECT {key}, {fingerprint} AS fingerprint{stored_extra} FROM {table})
            SEMI JOIN (SELECT {key} FROM {STAGED_TABLE}) USING ({key})
        )
        SELECT {source_key}, true AS is_new {no_kept}
        FROM (SELECT {key} FROM {STAGED_TABLE}) AS s
        ANTI JOIN (SELECT {key} FROM {table}) AS t USING ({key})
        UNION ALL
        SELECT {source_key}, false AS is_new {stored_kept}
        FROM incoming AS s JOIN stored AS t USING ({key})
        WHERE {changed}
        """
    )


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` holds any row: into an empty one (a first load) every source row is
    new, and hashing them would be wasted."""
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0])


def write_changes(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source_columns: Sequence[str],
    update: Sequence[str],
    kept: Sequence[str],
    soft_delete: bool,
) -> tuple[int, int]:
    """Replace the changed rows and insert the new ones; returns (updated, inserted).

    A changed row is deleted and inserted again with its `update` columns from the source
    and its `kept` columns as they were; a new row takes every column the source has.
    """
    table = ident(spec.name)
    changed, new = con.execute(
        f"SELECT count(*) FILTER (NOT is_new), count(*) FILTER (is_new) FROM {CHANGES_TABLE}"
    ).fetchone()
    if not changed and not new:
        return 0, 0
    if changed:
        key_match = " AND ".join(f"{table}.{k} = c.{k}" for k in spec.key)
        con.execute(
            f"DELETE FROM {table} USING {CHANGES_TABLE} AS c WHERE {key_match} AND NOT c.is_new"
        )
    columns, values = [], []
    for column in spec.column_names:
        if column in spec.key or column in update:
            value = f"s.{column}"
        elif column == SOFT_DELETE_FLAG and soft_delete:
            value = "false"
        elif column == SOFT_DELETE_TIME and soft_delete:
            value = "NULL"
        elif column in kept and column in source_columns:
            value = f"CASE WHEN c.is_new THEN s.{column} ELSE c.{column} END"
        elif column in kept:
            value = f"c.{column}"
        else:
            continue
        columns.append(column)
        values.append(value)
    con.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM {STAGED_TABLE} AS s JOIN {CHANGES_TABLE} AS c USING ({', '.join(spec.key)})"
    )
    return int(changed), int(new)
