"""A synthetic TestIO account generated in SQL, and a benchmark of the analytics layer on it.

`populate(con, SIZES["large"])` fills the ingest tables with ~20,000 tests, 100,000 test
features and 200,000 bugs using `range()` inserts and `hash()` as a deterministic
pseudo-random source (same seed, same rows). Shapes follow the API reference §6: ~5 features
per test, 5 % of catalog features deleted (still referenced by old tests), 8 % of bugs without
a test feature, the published status mix and an assumed severity mix.

    python -m testio_pipeline.warehouse.analytics.synthetic --size large --out /tmp/bench.duckdb

builds that account and prints how long each analytics table and check takes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from testio_pipeline.warehouse.schema import ensure_schema


@dataclass(frozen=True)
class SyntheticSize:
    products: int
    features_per_product: int
    tests: int
    features_per_test: int
    bugs: int
    # catalog features no test ever had in scope (added after the last test, say)
    untested_features_per_product: int = 2

    @property
    def test_features(self) -> int:
        return self.tests * self.features_per_test


SIZES: dict[str, SyntheticSize] = {
    "small": SyntheticSize(
        products=4, features_per_product=10, tests=120, features_per_test=3, bugs=900
    ),
    "medium": SyntheticSize(
        products=40, features_per_product=20, tests=2_000, features_per_test=5, bugs=20_000
    ),
    "large": SyntheticSize(
        products=225, features_per_product=20, tests=20_000, features_per_test=5, bugs=200_000
    ),
}

_PRODUCT_BASE = 1_000
_FEATURE_BASE = 177_000
_TEST_BASE = 94_000
_TEST_FEATURE_BASE = 1_040_000
_BUG_BASE = 2_000_000
# tests end over two years, newest last
_SPAN_SECONDS = 730 * 86_400
_TESTERS = 1_500


def populate(
    con: duckdb.DuckDBPyConnection,
    size: SyntheticSize,
    *,
    customer_id: int = 1,
    seed: int = 0,
    id_offset: int = 0,
) -> None:
    """Insert one synthetic account for `customer_id` into the ingest tables (schema ensured).

    The same (size, seed) always yields the same rows. Two customers may share a file with the
    same ids (the default, the harshest case for queries that could mix customers) or with
    distinct ones via `id_offset`.
    """
    ensure_schema(con)
    c, s = customer_id, seed
    p_count, fpp = size.products, size.features_per_product
    offset = id_offset
    con.execute(
        f"""INSERT INTO products (customer_id, id, name, type, has_sections, section_ids)
        SELECT {c}, {_PRODUCT_BASE + offset} + i, 'Product ' || i, 'website', false, []
        FROM range({p_count}) AS r(i)"""
    )
    # feature i belongs to product i % P; 5 % are deleted from the catalog; features with
    # i >= P * fpp are never picked by a test
    catalog_size = p_count * (fpp + size.untested_features_per_product)
    con.execute(
        f"""INSERT INTO features (customer_id, id, product_id, title, user_stories, section_ids,
                                  is_deleted)
        SELECT {c}, {_FEATURE_BASE + offset} + i, {_PRODUCT_BASE + offset} + i % {p_count},
               'Feature ' || i, [], [], i < {p_count * fpp} AND hash(i, {s}, 'deleted') % 20 = 0
        FROM range({catalog_size}) AS r(i)"""
    )
    con.execute(
        f"""INSERT INTO tests (customer_id, id, product_id, title, status, testing_type,
                               is_final, start_at, end_at)
        SELECT {c}, {_TEST_BASE + offset} + i,
               {_PRODUCT_BASE + offset} + hash(i, {s}, 'p') % {p_count},
               'Test ' || i, status, 'coverage', status IN ('archived', 'cancelled'),
               end_at - INTERVAL 2 DAY, end_at
        FROM (
          SELECT i,
            CASE WHEN hash(i, {s}, 'st') % 100 < 48 THEN 'archived'
                 WHEN hash(i, {s}, 'st') % 100 < 78 THEN 'locked'
                 WHEN hash(i, {s}, 'st') % 100 < 87 THEN 'customer_finalized'
                 WHEN hash(i, {s}, 'st') % 100 < 94 THEN 'initialized'
                 WHEN hash(i, {s}, 'st') % 100 < 99 THEN 'running'
                 ELSE 'cancelled' END AS status,
            TIMESTAMPTZ '2024-01-01 00:00:00+00'
              + to_seconds(CAST(i * {_SPAN_SECONDS // size.tests} AS BIGINT)) AS end_at
          FROM range({size.tests}) AS r(i)
        )"""
    )
    # the k-th feature of a test is a distinct feature of the test's product
    con.execute(
        f"""INSERT INTO test_features (customer_id, id, test_id, feature_id, product_id, title,
                                       user_stories, enable_default, enable_content, enable_visual)
        SELECT {c}, {_TEST_FEATURE_BASE + offset} + j, t.id, f.id, t.product_id,
               f.title || CASE WHEN hash(j, {s}, 'ti') % 10 = 0 THEN ' (old title)' ELSE '' END,
               [], true, false, true
        FROM range({size.test_features}) AS r(j)
        JOIN tests AS t ON t.customer_id = {c} AND t.id = {_TEST_BASE + offset} + j % {size.tests}
        JOIN features AS f ON f.customer_id = {c}
         AND f.id = {_FEATURE_BASE + offset} + (t.product_id - {_PRODUCT_BASE + offset})
                    + {p_count} * ((hash(t.id, {s}, 'f') + j // {size.tests}) % {fpp})"""
    )
    con.execute(
        f"""INSERT INTO bugs (customer_id, id, test_id, product_id, test_feature_id, feature_id,
                              title, severity, status, auto_accepted, known, reported_at,
                              author_name)
        SELECT {c}, {_BUG_BASE + offset} + b, tf.test_id, tf.product_id,
               CASE WHEN linked THEN tf.id END, CASE WHEN linked THEN tf.feature_id END,
               'Bug ' || b, g.severity, g.status,
               g.status = 'accepted' AND hash(b, {s}, 'a') % 100 < 28,
               false, t.start_at + to_seconds(CAST(hash(b, {s}, 'r') % 172800 AS BIGINT)),
               'tester_' || hash(b, {s}, 'u') % {_TESTERS}
        FROM (
          SELECT b, hash(b, {s}, 'tf') % {size.test_features} AS j,
            hash(b, {s}, 'l') % 100 >= 8 AS linked,
            CASE WHEN hash(b, {s}, 'sv') % 100 < 10 THEN 'critical'
                 WHEN hash(b, {s}, 'sv') % 100 < 45 THEN 'high'
                 WHEN hash(b, {s}, 'sv') % 100 < 75 THEN 'low'
                 WHEN hash(b, {s}, 'sv') % 100 < 90 THEN 'visual'
                 WHEN hash(b, {s}, 'sv') % 100 < 98 THEN 'content'
                 ELSE 'custom' END AS severity,
            CASE WHEN hash(b, {s}, 'ss') % 100 < 70 THEN 'accepted'
                 WHEN hash(b, {s}, 'ss') % 100 < 96 THEN 'rejected'
                 ELSE 'forwarded' END AS status
          FROM range({size.bugs}) AS r(b)
        ) AS g
        JOIN test_features AS tf
          ON tf.customer_id = {c} AND tf.id = {_TEST_FEATURE_BASE + offset} + g.j
        JOIN tests AS t ON t.customer_id = {c} AND t.id = tf.test_id"""
    )
    # the 2026 API's execution outcomes: one per test feature, and two stories per test
    # feature whose feature has stories (ids shared across tests, as the API's are)
    con.execute(
        f"""UPDATE test_features SET
              execution_status = CASE WHEN hash(id, {s}, 'x') % 100 < 55 THEN 'passed'
                                      WHEN hash(id, {s}, 'x') % 100 < 80 THEN 'failed'
                                      WHEN hash(id, {s}, 'x') % 100 < 90 THEN 'blocked'
                                      ELSE 'not_tested' END,
              tester_count = 1 + hash(id, {s}, 'n') % 6,
              bugs_found = hash(id, {s}, 'b') % 4
            WHERE customer_id = {c}"""
    )
    con.execute(
        f"""INSERT INTO test_feature_stories (customer_id, test_feature_id, user_story_id,
                                              test_id, feature_id, product_id, title,
                                              execution_status, tested_by_count, bugs_found)
        SELECT {c}, tf.id, tf.feature_id * 10 + k, tf.test_id, tf.feature_id, tf.product_id,
               'Story ' || k || ' of feature ' || tf.feature_id,
               CASE WHEN hash(tf.id, k, {s}, 'sx') % 100 < 60 THEN 'passed'
                    WHEN hash(tf.id, k, {s}, 'sx') % 100 < 85 THEN 'failed'
                    ELSE 'blocked' END,
               1 + hash(tf.id, k, {s}, 'sn') % 4, hash(tf.id, k, {s}, 'sb') % 3
        FROM test_features AS tf, range(2) AS r(k)
        WHERE tf.customer_id = {c}"""
    )


def _bench(path: Path, size_name: str) -> None:
    from testio_pipeline.warehouse.analytics import ANALYTICS_TABLES, replace_table
    from testio_pipeline.warehouse.analytics import checks

    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    started = time.perf_counter()
    populate(con, SIZES[size_name])
    print(f"generated {size_name} account in {time.perf_counter() - started:.2f} s")
    for name in ("tests", "test_features", "bugs", "features"):
        print(f"  {name}: {con.execute(f'SELECT count(*) FROM {name}').fetchone()[0]:,} rows")
    total = time.perf_counter()
    con.begin()
    for table in ANALYTICS_TABLES:
        started = time.perf_counter()
        stats = replace_table(con, table)
        print(f"{table.name}: {stats.row_count:,} rows in {time.perf_counter() - started:.3f} s")
    con.commit()
    print(f"all analytics tables: {time.perf_counter() - total:.3f} s")
    started = time.perf_counter()
    outcomes = {
        "density_null_iff_untested": checks.check_density_null_iff_untested(con),
        "attributed_bugs_reconcile": checks.check_attributed_bugs_reconcile(con),
        "unattributed_feature_links": checks.check_unattributed_feature_links(con),
        "no_customer_mixing": checks.check_density_no_customer_mixing(con),
        "product_bugs_reconcile": checks.check_product_bugs_reconcile(con),
        "trend_bugs_reconcile": checks.check_trend_bugs_reconcile(con),
        **{f"{t.name}_key_unique": checks.check_key_unique(con, t) for t in ANALYTICS_TABLES},
    }
    print(f"all checks: {time.perf_counter() - started:.3f} s")
    for name, outcome in outcomes.items():
        print(f"  {name}: {'passed' if outcome.passed else 'FAILED ' + str(outcome.details)}")
    con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="large")
    parser.add_argument("--out", type=Path, default=Path("/tmp/testio_analytics_bench.duckdb"))
    args = parser.parse_args(argv)
    _bench(args.out, args.size)


if __name__ == "__main__":
    main()
