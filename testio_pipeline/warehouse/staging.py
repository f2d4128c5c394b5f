"""Parquet staging: fetch first, write later, in memory that does not grow with the account.

Ingest assets fetch for minutes and may only open DuckDB (and take its lock) once fetching is
done. Meanwhile rows go into a `StagedRows`: dicts are buffered `batch_rows` at a time and
flushed to Parquet files with the table's fixed Arrow schema, so memory holds one batch, not
200,000 bugs with their raw JSON. Afterwards `relation(con)` exposes the stage to DuckDB with
the table's exact column types, ready for `merge.merge`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from testio_pipeline.warehouse.schema import TableSpec
from testio_pipeline.warehouse.stage_directory import StageDirectory

DEFAULT_BATCH_ROWS = 5000
PARQUET_COMPRESSION = "zstd"

_ARROW_TYPES: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DOUBLE": pa.float64(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "BIGINT[]": pa.list_(pa.int64()),
    "VARCHAR[]": pa.list_(pa.string()),
    # json travels as text; relation() casts it back to JSON
    "JSON": pa.string(),
}


def base_type(sql_type: str) -> str:
    """The DuckDB type of a spec column without constraints: "BIGINT NOT NULL" -> "BIGINT"."""
    return sql_type.upper().replace("NOT NULL", "").strip()


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema staged files of `spec` are written with (one field per column)."""
    fields = []
    for name, sql_type in spec.columns:
        duck_type = base_type(sql_type)
        if duck_type not in _ARROW_TYPES:
            raise ValueError(f"{spec.name}.{name}: no Arrow mapping for DuckDB type {duck_type}")
        fields.append(
            pa.field(name, _ARROW_TYPES[duck_type], nullable="NOT NULL" not in sql_type.upper())
        )
    return pa.schema(fields)


def _timestamp(value: Any, column: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"column {column}: expected an ISO 8601 string or datetime, got {value!r}")
    # a naive time has no defined instant; the api always sends an offset
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"column {column}: timestamp {value!r} has no time zone")
    return value


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        # orjson.dumps output: already JSON text
        return value.decode("utf-8")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class StagedRows(StageDirectory):
    """Rows of one table staged to Parquet files in a private temp directory.

    Use as a context manager: the directory and its files are removed on exit. `append` /
    `extend` take dicts keyed by column name; a missing key means NULL, an unknown key or a
    NULL key column raises at once (while fetching, not at write time). Value conventions:
    TIMESTAMPTZ takes tz-aware datetimes or ISO 8601 strings with an offset (naive raises);
    JSON takes str / bytes as JSON text as-is and serializes anything else (dict, list, ...).

    A key staged more than once keeps the row appended last: `relation` yields one row per key.
    """

    def __init__(
        self,
        spec: TableSpec,
        directory: str | Path | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self.spec = spec
        self.schema = arrow_schema(spec)
        self.batch_rows = batch_rows
        super().__init__(spec.name, directory)
        self._buffer: list[Mapping[str, Any]] = []
        self._files: list[Path] = []
        self._row_count = 0
        # keys seen, so `sql` deduplicates only when it must: the window over every staged
        # row is what DuckDB cannot keep within a memory limit on a large stage
        self._keys: set[tuple[Any, ...]] = set()
        self._has_duplicates = False
        self._columns = frozenset(spec.column_names)
        self._timestamp_columns = [n for n, t in spec.columns if base_type(t) == "TIMESTAMPTZ"]
        self._json_columns = [n for n, t in spec.columns if base_type(t) == "JSON"]

    def __enter__(self) -> StagedRows:
        return self

    @property
    def row_count(self) -> int:
        """Rows appended so far, duplicates of a key included."""
        return self._row_count

    @property
    def files(self) -> list[Path]:
        """The Parquet files written so far, in append order (the buffer is not flushed)."""
        return list(self._files)

    def append(self, row: Mapping[str, Any]) -> None:
        """Stage one row; flushes a Parquet file whenever `batch_rows` rows are buffered."""
        if self._closed:
            raise RuntimeError(f"stage of {self.spec.name} is already cleaned up")
        if not self._columns.issuperset(row.keys()):
            unknown = sorted(set(row.keys()) - self._columns)
            raise KeyError(f"{self.spec.name}: unknown column(s) {unknown}")
        for key in self.spec.key:
            if row.get(key) is None:
                raise ValueError(
                    f"{self.spec.name}: key column {key} is missing or NULL in {dict(row)!r:.200}"
                )
        key_value = tuple(row[key] for key in self.spec.key)
        if key_value in self._keys:
            self._has_duplicates = True
        self._keys.add(key_value)
        self._buffer.append(row)
        self._row_count += 1
        if len(self._buffer) >= self.batch_rows:
            self.flush()

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Stage every row of `rows` (consumed lazily, so a generator stays a generator)."""
        for row in rows:
            self.append(row)

    def flush(self) -> None:
        """Write the buffered rows to a new Parquet file (no-op when the buffer is empty)."""
        if not self._buffer:
            return
        table = self._to_arrow(self._buffer)
        # zero-padded names sort in append order, which decides "last row wins"
        path = self.directory / f"part-{len(self._files):06d}.parquet"
        pq.write_table(table, path, compression=PARQUET_COMPRESSION)
        self._files.append(path)
        self._buffer = []

    def _to_arrow(self, rows: list[Mapping[str, Any]]) -> pa.Table:
        arrays = []
        for field in self.schema:
            name = field.name
            values = [row.get(name) for row in rows]
            if name in self._timestamp_columns:
                values = [_timestamp(v, name) for v in values]
            elif name in self._json_columns:
                values = [_json_text(v) for v in values]
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise TypeError(
                    f"{self.spec.name}.{name}: cannot stage as {field.type}: {error}"
                ) from error
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def sql(self) -> str:
        """A SELECT over the staged files with the table's column types, one row per key.

        Flushes the buffer first. An empty stage yields an empty, correctly typed result. The
        SQL reads the files lazily, so run it before the stage is cleaned up.
        """
        self.flush()
        typed = ", ".join(
            f"CAST({name} AS {base_type(sql_type)}) AS {name}"
            for name, sql_type in self.spec.columns
        )
        if not self._files:
            nulls = ", ".join(
                f"CAST(NULL AS {base_type(sql_type)}) AS {name}"
                for name, sql_type in self.spec.columns
            )
            return f"SELECT {nulls} WHERE false"
        files = ", ".join("'" + str(path).replace("'", "''") + "'" for path in self._files)
        if not self._has_duplicates:
            return f"SELECT {typed} FROM read_parquet([{files}])"
        key = ", ".join(self.spec.key)
        return (
            f"SELECT {typed} FROM read_parquet([{files}], filename = true, file_row_number = true) "
            f"QUALIFY row_number() OVER "
            f"(PARTITION BY {key} ORDER BY filename DESC, file_row_number DESC) = 1"
        )

    def relation(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        """The staged rows as a DuckDB relation on `con` (see `sql` for the contract)."""
        return con.sql(self.sql())

    def cleanup(self) -> None:
        """Delete the stage's files; the stage cannot be used afterwards."""
        self._buffer = []
        self._keys = set()
        super().cleanup()
