"""What a sync left in the warehouse, in a few lines: rows per table, the most fragile
features, what is still missing. Printed at the end of `scripts/quickstart`.

    python -m testio_pipeline.warehouse.summary data/testio.duckdb
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from testio_pipeline.warehouse.analytics.ranking import FRAGILE_FEATURES_VIEW
from testio_pipeline.warehouse.problems import summary_line
from testio_pipeline.warehouse.schema import SKIPPED_RECORDS, SYNC_FAILURES

TABLES = ("products", "features", "tests", "test_features", "bugs", "users", "feature_bug_density")
SHOWN_FEATURES = 5


def summary(con: duckdb.DuckDBPyConnection, customer_id: int) -> str:
    counts = ", ".join(
        f"{con.execute(f'SELECT count(*) FROM {t} WHERE customer_id = {int(customer_id)}').fetchone()[0]:,} {t}"
        for t in TABLES
    )
    lines = [f"Warehouse: {counts}."]
    top = con.execute(
        f"SELECT rank, feature_title, coalesce(product_name, 'product ' || product_id), "
        f"round(bug_density, 2), tests_covered FROM {FRAGILE_FEATURES_VIEW} "
        f"WHERE customer_id = {int(customer_id)} ORDER BY rank LIMIT {SHOWN_FEATURES}"
    ).fetchall()
    if top:
        lines.append("Most fragile features (valid bugs per test):")
        lines += [
            f"  {rank:>2}. {title} ({product}): {density} over {tests} tests"
            for rank, title, product, density, tests in top
        ]
    problems = [
        con.execute(
            f"SELECT DISTINCT asset FROM {table} WHERE customer_id = {int(customer_id)}"
        ).fetchall()
        for table in (SKIPPED_RECORDS.name, SYNC_FAILURES.name)
    ]
    assets = sorted({row[0] or "tests" for rows in problems for row in rows})
    if assets:
        lines.append("Incomplete: " + summary_line(con, customer_id, assets))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--customer-id", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.warehouse.exists():
        print(f"no warehouse at {args.warehouse}", file=sys.stderr)
        return 1
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        print(summary(con, args.customer_id))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
