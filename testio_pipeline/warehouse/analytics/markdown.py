"""Render query results as GitHub-flavoured markdown tables (metadata previews, README samples)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb


def format_cell(value: Any) -> str:
    """One cell: NULL spelled out, floats to 3 decimals, timestamps in UTC, pipes escaped."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = str(value)
    # a pipe would end the cell and a newline the row
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; an empty `rows` gives the header and a single "(no rows)" line."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(" --- " for _ in headers) + "|",
    ]
    if not rows:
        lines.append("| " + " | ".join(["(no rows)"] + [""] * (len(headers) - 1)) + " |")
    for row in rows:
        lines.append("| " + " | ".join(format_cell(value) for value in row) + " |")
    return "\n".join(lines)


def query_markdown(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> str:
    """Run `sql` and render its result, headers from the result's column names."""
    result = con.execute(sql, list(params))
    headers = [description[0] for description in result.description]
    return markdown_table(headers, result.fetchall())
