"""Python values as DuckDB SQL literals, for statements of a sync that bind no `?` parameters.

Why not parameters: binding any Python value makes the duckdb module import numpy and pandas
(measured: ~75 MB of RSS in a sync process that has neither otherwise). The values a sync
puts into its SQL are few and simple (ids, flags, timestamps, file names), so they are
written into the statement instead, through these functions only, which accept nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def sql_literal(value: object) -> str:
    """`value` as a SQL literal: None, bool, int, str or an aware datetime (TIMESTAMPTZ)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        return f"CAST('{value.isoformat()}' AS TIMESTAMPTZ)"
    raise TypeError(f"no SQL literal for {type(value).__name__}: {value!r:.80}")


def bigint_list(values: Sequence[int] | None) -> str:
    """A `BIGINT[]` literal (empty for None)."""
    return "[" + ", ".join(str(int(v)) for v in values or []) + "]::BIGINT[]"
