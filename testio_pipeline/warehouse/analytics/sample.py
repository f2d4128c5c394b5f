"""Print (or paste into docs) the top rows of every analytics table as markdown.

    python -m testio_pipeline.warehouse.analytics.sample data/testio.duckdb
    python -m testio_pipeline.warehouse.analytics.sample data/testio.duckdb --write README.md

Opens the warehouse read-only (so stop a running sync first, or wait for it). `--write`
replaces the text between the sample markers of the given markdown file and leaves the rest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES, settings
from testio_pipeline.warehouse.analytics.markdown import query_markdown
from testio_pipeline.warehouse.analytics.ranking import (
    fragile_features_markdown,
    top_fragile_features,
)
from testio_pipeline.warehouse.analytics.spec import table_exists


def sample_markdown(con: duckdb.DuckDBPyConnection, *, rows: int = settings.SAMPLE_ROWS) -> str:
    """Markdown: per analytics table its row count and top rows, then the fragile ranking."""
    parts: list[str] = []
    for table in ANALYTICS_TABLES:
        if not table_exists(con, table.name):
            parts.append(f"#### `{table.name}`\n\n(not materialized yet)\n")
            continue
        count = con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
        parts.append(
            f"#### `{table.name}` ({count:,} rows; top {min(rows, count)} by "
            f"`{table.preview_order}`)\n\n{query_markdown(con, table.preview_sql(limit=rows))}\n"
        )
    if table_exists(con, settings.FEATURE_BUG_DENSITY_TABLE):
        customers = [
            row[0]
            for row in con.execute(
                f"SELECT DISTINCT customer_id FROM {settings.FEATURE_BUG_DENSITY_TABLE} ORDER BY 1"
            ).fetchall()
        ]
        for customer_id in customers:
            ranking = top_fragile_features(con, customer_id=customer_id)
            parts.append(
                f"#### Most fragile features, customer {customer_id}\n\n"
                f"{fragile_features_markdown(ranking, min_tests=settings.FRAGILE_MIN_TESTS)}"
            )
    return "\n".join(parts)


def replace_between_markers(document: str, replacement: str) -> str:
    """`document` with the text between the sample start/end markers set to `replacement`."""
    start, end = settings.SAMPLE_START_MARKER, settings.SAMPLE_END_MARKER
    head, found_start, rest = document.partition(start)
    _, found_end, tail = rest.partition(end)
    if not found_start or not found_end:
        raise ValueError(f"markers {start} ... {end} not found")
    return f"{head}{start}\n{replacement.strip()}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Top rows of every analytics table as markdown.")
    parser.add_argument("warehouse", type=Path, help="the DuckDB file, e.g. data/testio.duckdb")
    parser.add_argument("--rows", type=int, default=settings.SAMPLE_ROWS)
    parser.add_argument("--write", type=Path, help="markdown file whose sample section to replace")
    args = parser.parse_args(argv)
    if not args.warehouse.exists():
        print(f"no warehouse at {args.warehouse}", file=sys.stderr)
        return 1
    con = duckdb.connect(str(args.warehouse), read_only=True)
    try:
        markdown = sample_markdown(con, rows=args.rows)
    finally:
        con.close()
    if args.write is None:
        print(markdown)
    else:
        args.write.write_text(replace_between_markers(args.write.read_text(), markdown))
        print(f"sample section of {args.write} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
