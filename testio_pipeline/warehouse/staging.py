"""Row staging: fetch first, write later, in memory that does not grow with the account.

Ingest assets fetch for minutes and may only open DuckDB (and take its lock) once fetching is
done. Meanwhile rows go into a `StagedRows`: dicts are buffered `batch_rows` at a time and
flushed to JSON-lines files (orjson), so memory holds one batch; afterwards `sql()` reads the
files back in DuckDB with the table's exact column types, ready for `merge.merge`.

Why JSON lines and not Arrow/Parquet: building Arrow arrays from Python objects makes pyarrow
import pandas (~50 MB of RSS in every run process) for tables of a few thousand rows; DuckDB
reads typed JSON lines just as well. Values are checked against the column types at append,
so a wrong type still fails while fetching, naming the column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from testio_pipeline.warehouse.schema import TableSpec
from testio_pipeline.warehouse.stage_directory import StageDirectory

DEFAULT_BATCH_ROWS = 5000
# an extra field of every staged line: its append number
_SEQUENCE = "_staged_seq"

# the Python values a column of each DuckDB type accepts (None is NULL everywhere)
_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "BIGINT": (int,),
    "UBIGINT": (int,),
    "INTEGER": (int,),
    "VARCHAR": (str,),
    "BOOLEAN": (bool,),
    "DOUBLE": (int, float),
}


def base_type(sql_type: str) -> str:
    """The DuckDB type of a spec column without constraints: "BIGINT NOT NULL" -> "BIGINT"."""
    return sql_type.upper().replace("NOT NULL", "").strip()


def _timestamp(value: Any, column: str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise TypeError(f"column {column}: not an ISO 8601 timestamp: {value!r}") from error
    if not isinstance(value, datetime):
        raise TypeError(f"column {column}: expected an ISO 8601 string or datetime, got {value!r}")
    # a naive time has no defined instant; the api always sends an offset
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"column {column}: timestamp {value!r} has no time zone")
    return value.isoformat()


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        # orjson.dumps output: already JSON text
        return value.decode("utf-8")
    return orjson.dumps(value).decode()


def _check(value: Any, accepted: tuple[type, ...], column: str, sql_type: str) -> None:
    # bool is an int subclass: a True id is a broken value, not 1
    if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
        raise TypeError(f"{column}: cannot stage {value!r:.80} as {sql_type}")


def _converter(column: str, sql_type: str):
    """value -> what the JSON line holds for a column of `sql_type` (checked)."""
    if sql_type == "TIMESTAMPTZ":
        return lambda v: _timestamp(v, column)
    if sql_type == "JSON":
        # json travels as text; sql() casts it back to JSON
        return _json_text
    if sql_type.endswith("[]"):
        accepted = _SCALAR_TYPES[sql_type[:-2]]

        def as_list(value: Any) -> list[Any]:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"{column}: cannot stage {value!r:.80} as {sql_type}")
            for item in value:
                if item is not None:
                    _check(item, accepted, column, sql_type)
            return list(value)

        return as_list
    if sql_type not in _SCALAR_TYPES:
        raise ValueError(f"{column}: no staging rule for DuckDB type {sql_type}")
    accepted = _SCALAR_TYPES[sql_type]

    def scalar(value: Any) -> Any:
        _check(value, accepted, column, sql_type)
        return value

    return scalar


def staged_columns(spec: TableSpec) -> dict[str, str]:
    """Column -> the DuckDB type staged files of `spec` are read with (JSON read as text)."""
    types = {name: base_type(sql_type) for name, sql_type in spec.columns}
    return {name: "VARCHAR" if t == "JSON" else t for name, t in types.items()}


class StagedRows(StageDirectory):
    """Rows of one table staged to JSON-lines files in a private temp directory.

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
        # fails at once for a column type without a staging rule
        self._converters = {
            name: _converter(f"{spec.name}.{name}", base_type(sql_type))
            for name, sql_type in spec.columns
        }
        self._read_types = staged_columns(spec)

    def __enter__(self) -> StagedRows:
        return self

    @property
    def row_count(self) -> int:
        """Rows appended so far, duplicates of a key included."""
        return self._row_count

    @property
    def files(self) -> list[Path]:
        """The files written so far, in append order (the buffer is not flushed)."""
        return list(self._files)

    def append(self, row: Mapping[str, Any]) -> None:
        """Stage one row (checked against the column types); flushes a file whenever
        `batch_rows` rows are buffered."""
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
        converted = {
            name: None if value is None else self._converters[name](value)
            for name, value in row.items()
        }
        key_value = tuple(row[key] for key in self.spec.key)
        if key_value in self._keys:
            self._has_duplicates = True
        self._keys.add(key_value)
        # the append order, which decides "last row wins" (DuckDB need not read rows in order)
        converted[_SEQUENCE] = self._row_count
        self._buffer.append(converted)
        self._row_count += 1
        if len(self._buffer) >= self.batch_rows:
            self.flush()

    def extend(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Stage every row of `rows` (consumed lazily, so a generator stays a generator)."""
        for row in rows:
            self.append(row)

    def flush(self) -> None:
        """Write the buffered rows to a new file (no-op when the buffer is empty)."""
        if not self._buffer:
            return
        path = self.directory / f"part-{len(self._files):06d}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in self._buffer))
        self._files.append(path)
        self._buffer = []

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
        columns = ", ".join(f"{name}: '{t}'" for name, t in self._read_types.items())
        read = (
            f"read_json([{files}], format = 'newline_delimited', "
            f"columns = {{{columns}, {_SEQUENCE}: 'BIGINT'}})"
        )
        if not self._has_duplicates:
            return f"SELECT {typed} FROM {read}"
        key = ", ".join(self.spec.key)
        return (
            f"SELECT {typed} FROM {read} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {_SEQUENCE} DESC) = 1"
        )

    def relation(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
        """The staged rows as a DuckDB relation on `con` (see `sql` for the contract)."""
        return con.sql(self.sql())

    def cleanup(self) -> None:
        """Delete the stage's files; the stage cannot be used afterwards."""
        self._buffer = []
        self._keys = set()
        super().cleanup()
