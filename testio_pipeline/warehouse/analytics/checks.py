"""Data-quality checks over the analytics tables, as plain functions of a DuckDB connection.

Each returns a `CheckOutcome(passed, details)`; `details` holds small JSON-friendly values
(counts, a sample of offending keys) that the Dagster wrappers pass on as metadata. The
Dagster layer decides severity and blocking; the SQL and its definitions live here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import duckdb

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.feature_bug_density import attributable_features_cte
from testio_pipeline.warehouse.analytics.spec import AnalyticsTable, table_exists
from testio_pipeline.warehouse.quality import duplicate_key_rows

_DENSITY = settings.FEATURE_BUG_DENSITY_TABLE


class CheckOutcome(NamedTuple):
    passed: bool
    details: dict[str, Any]


def _missing(table: str) -> CheckOutcome:
    return CheckOutcome(False, {"error": f"table {table} does not exist"})


def _sample(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(row) for row in rows[: settings.CHECK_SAMPLE_SIZE]]


def check_key_unique(con: duckdb.DuckDBPyConnection, table: AnalyticsTable) -> CheckOutcome:
    """No two rows of `table` share its key."""
    if not table_exists(con, table.name):
        return _missing(table.name)
    rows = duplicate_key_rows(con, table.name, table.key)
    return CheckOutcome(
        not rows, {"key": list(table.key), "duplicate_keys": len(rows), "sample": _sample(rows)}
    )


def check_density_null_iff_untested(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """`bug_density` is NULL exactly when `tests_covered = 0`, and otherwise valid/tests."""
    if not table_exists(con, _DENSITY):
        return _missing(_DENSITY)
    rows = con.execute(
        f"""SELECT customer_id, feature_id, tests_covered, valid_bugs, bug_density
            FROM {_DENSITY}
            WHERE (bug_density IS NULL) <> (tests_covered = 0)
               OR abs(bug_density - valid_bugs / tests_covered) > 1e-9
            ORDER BY customer_id, feature_id"""
    ).fetchall()
    return CheckOutcome(not rows, {"violations": len(rows), "sample": _sample(rows)})


def check_attributed_bugs_reconcile(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Per customer, the table's bug counts equal the bugs it can attribute, and rows add up.

    Attributable bugs are bugs whose (customer_id, feature_id) is a row of the table: a catalog
    feature or a feature id some test feature references. Compared per customer: bugs_total,
    valid_bugs, rejected_bugs, accepted_bugs, forwarded_bugs. Within every row,
    valid + rejected = total and accepted + forwarded and the severity counts fit in valid.
    """
    if not table_exists(con, _DENSITY):
        return _missing(_DENSITY)
    severity_sum = " + ".join(f"{severity}_bugs" for severity in settings.SEVERITIES)
    mismatches = con.execute(
        f"""WITH {attributable_features_cte()},
        expected AS (
          SELECT b.customer_id,
            count(*) AS bugs_total,
            count_if(lower(b.status) IS DISTINCT FROM 'rejected') AS valid_bugs,
            count_if(lower(b.status) = 'rejected') AS rejected_bugs,
            count_if(lower(b.status) = 'accepted') AS accepted_bugs,
            count_if(lower(b.status) = 'forwarded') AS forwarded_bugs
          FROM bugs AS b
          JOIN attributable_features AS a
            ON a.customer_id = b.customer_id AND a.feature_id = b.feature_id
          GROUP BY b.customer_id
        ),
        actual AS (
          SELECT customer_id, sum(bugs_total) AS bugs_total, sum(valid_bugs) AS valid_bugs,
            sum(rejected_bugs) AS rejected_bugs, sum(accepted_bugs) AS accepted_bugs,
            sum(forwarded_bugs) AS forwarded_bugs
          FROM {_DENSITY} GROUP BY customer_id
        )
        SELECT coalesce(e.customer_id, a.customer_id) AS customer_id,
          coalesce(e.bugs_total, 0), coalesce(a.bugs_total, 0),
          coalesce(e.valid_bugs, 0), coalesce(a.valid_bugs, 0),
          coalesce(e.rejected_bugs, 0), coalesce(a.rejected_bugs, 0)
        FROM expected AS e FULL JOIN actual AS a ON a.customer_id = e.customer_id
        WHERE coalesce(e.bugs_total, 0) <> coalesce(a.bugs_total, 0)
           OR coalesce(e.valid_bugs, 0) <> coalesce(a.valid_bugs, 0)
           OR coalesce(e.rejected_bugs, 0) <> coalesce(a.rejected_bugs, 0)
           OR coalesce(e.accepted_bugs, 0) <> coalesce(a.accepted_bugs, 0)
           OR coalesce(e.forwarded_bugs, 0) <> coalesce(a.forwarded_bugs, 0)
        ORDER BY 1"""
    ).fetchall()
    inconsistent = con.execute(
        f"""SELECT customer_id, feature_id FROM {_DENSITY}
            WHERE valid_bugs + rejected_bugs <> bugs_total
               OR accepted_bugs + forwarded_bugs > valid_bugs
               OR {severity_sum} > valid_bugs
            ORDER BY customer_id, feature_id"""
    ).fetchall()
    return CheckOutcome(
        not mismatches and not inconsistent,
        {
            "customers_mismatched": len(mismatches),
            # (customer, expected total, actual total, expected valid, actual valid, ...)
            "mismatch_sample": _sample(mismatches),
            "inconsistent_rows": len(inconsistent),
            "inconsistent_sample": _sample(inconsistent),
        },
    )


def check_unattributed_feature_links(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Every bug with a feature link is attributed: its feature id is a row of the table.

    A bug whose `feature_id` is neither in the catalog nor referenced by any test feature (a
    deleted feature whose tests were never synced, or a dangling link) would otherwise vanish
    from the feature counts without a trace; it still counts in `product_quality`.
    """
    rows = con.execute(
        f"""WITH {attributable_features_cte()}
        SELECT b.customer_id, b.id, b.feature_id
        FROM bugs AS b
        ANTI JOIN attributable_features AS a
          ON a.customer_id = b.customer_id AND a.feature_id = b.feature_id
        WHERE b.feature_id IS NOT NULL
        ORDER BY b.customer_id, b.id"""
    ).fetchall()
    return CheckOutcome(
        not rows,
        {
            "unattributed_bugs": len(rows),
            "distinct_feature_ids": len({(row[0], row[2]) for row in rows}),
            # (customer_id, bug id, feature_id)
            "sample": _sample(rows),
        },
    )


def check_density_no_customer_mixing(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Every row's feature and product exist for the same customer in the ingest tables.

    The feature id must be a feature or a test feature's feature of that customer; a non-NULL
    product id must be a product, a feature's product or a test feature's product of that
    customer. A join that lost its customer_id would borrow ids from another customer.
    """
    if not table_exists(con, _DENSITY):
        return _missing(_DENSITY)
    rows = con.execute(
        f"""WITH
        known_features AS (
          SELECT customer_id, id AS feature_id FROM features
          UNION SELECT customer_id, feature_id FROM test_features
        ),
        known_products AS (
          SELECT customer_id, id AS product_id FROM products
          UNION SELECT customer_id, product_id FROM features
          UNION SELECT customer_id, product_id FROM test_features
        )
        SELECT d.customer_id, d.feature_id, d.product_id
        FROM {_DENSITY} AS d
        WHERE NOT EXISTS (
            SELECT 1 FROM known_features AS k
            WHERE k.customer_id = d.customer_id AND k.feature_id = d.feature_id)
          OR (d.product_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM known_products AS k
            WHERE k.customer_id = d.customer_id AND k.product_id = d.product_id))
        ORDER BY d.customer_id, d.feature_id"""
    ).fetchall()
    return CheckOutcome(not rows, {"foreign_rows": len(rows), "sample": _sample(rows)})


def check_product_bugs_reconcile(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Per customer, product totals hold every bug: sum(bugs_total) = bugs in `bugs`.

    Also sum(bugs_without_feature) = bugs with feature_id NULL, so bugs without a test
    feature are provably in the product totals.
    """
    table = settings.PRODUCT_QUALITY_TABLE
    if not table_exists(con, table):
        return _missing(table)
    rows = con.execute(
        f"""WITH expected AS (
          SELECT customer_id, count(*) AS bugs, count_if(feature_id IS NULL) AS without_feature
          FROM bugs GROUP BY customer_id
        ),
        actual AS (
          SELECT customer_id, sum(bugs_total) AS bugs, sum(bugs_without_feature) AS without_feature
          FROM {table} GROUP BY customer_id
        )
        SELECT coalesce(e.customer_id, a.customer_id),
          coalesce(e.bugs, 0), coalesce(a.bugs, 0),
          coalesce(e.without_feature, 0), coalesce(a.without_feature, 0)
        FROM expected AS e FULL JOIN actual AS a ON a.customer_id = e.customer_id
        WHERE coalesce(e.bugs, 0) <> coalesce(a.bugs, 0)
           OR coalesce(e.without_feature, 0) <> coalesce(a.without_feature, 0)
        ORDER BY 1"""
    ).fetchall()
    # (customer, expected bugs, actual bugs, expected without feature, actual without feature)
    return CheckOutcome(not rows, {"customers_mismatched": len(rows), "sample": _sample(rows)})


def check_trend_bugs_reconcile(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Per customer, sum(bug_trends.bugs) = bugs in `bugs`: every bug lands in exactly one cell."""
    table = settings.BUG_TRENDS_TABLE
    if not table_exists(con, table):
        return _missing(table)
    rows = con.execute(
        f"""WITH expected AS (SELECT customer_id, count(*) AS bugs FROM bugs GROUP BY customer_id),
        actual AS (SELECT customer_id, sum(bugs) AS bugs FROM {table} GROUP BY customer_id)
        SELECT coalesce(e.customer_id, a.customer_id), coalesce(e.bugs, 0), coalesce(a.bugs, 0)
        FROM expected AS e FULL JOIN actual AS a ON a.customer_id = e.customer_id
        WHERE coalesce(e.bugs, 0) <> coalesce(a.bugs, 0)
        ORDER BY 1"""
    ).fetchall()
    # (customer, expected bugs, actual bugs)
    return CheckOutcome(not rows, {"customers_mismatched": len(rows), "sample": _sample(rows)})


def check_execution_bugs_reconcile(con: duckdb.DuckDBPyConnection) -> CheckOutcome:
    """Each final test's features' bug_ids and bugs_found match the bugs stored for them.

    For every test feature with `bug_ids` (2026 API) of a final test (its bugs can no longer
    change, so listing and bug fetch saw the same set): `bugs_found` = the number of
    `bug_ids`, and `bug_ids` = the ids of the bugs whose `test_feature_id` is that test
    feature. Differences point at bugs left out of `bugs` (quarantined, a failed batch) or an
    API that counts differently; listed with a sample.
    """
    rows = con.execute(
        """WITH listed AS (
             SELECT tf.customer_id, tf.id, tf.test_id, tf.bugs_found,
                    list_sort(list_distinct(tf.bug_ids)) AS bug_ids
             FROM test_features AS tf
             JOIN tests AS t ON t.customer_id = tf.customer_id AND t.id = tf.test_id
             WHERE tf.bug_ids IS NOT NULL AND t.is_final
           ),
           stored AS (
             SELECT customer_id, test_feature_id, list_sort(list(id)) AS bug_ids
             FROM bugs WHERE test_feature_id IS NOT NULL
             GROUP BY customer_id, test_feature_id
           )
           SELECT l.customer_id, l.id, l.test_id, l.bugs_found, len(l.bug_ids),
                  len(list_filter(l.bug_ids, i -> NOT list_contains(coalesce(s.bug_ids, []), i))),
                  len(list_filter(coalesce(s.bug_ids, []), i -> NOT list_contains(l.bug_ids, i)))
           FROM listed AS l
           LEFT JOIN stored AS s ON s.customer_id = l.customer_id AND s.test_feature_id = l.id
           WHERE l.bugs_found IS DISTINCT FROM len(l.bug_ids)
              OR l.bug_ids <> coalesce(s.bug_ids, [])
           ORDER BY l.customer_id, l.id"""
    ).fetchall()
    compared = con.execute(
        "SELECT count(*) FROM test_features AS tf JOIN tests AS t "
        "ON t.customer_id = tf.customer_id AND t.id = tf.test_id "
        "WHERE tf.bug_ids IS NOT NULL AND t.is_final"
    ).fetchone()[0]
    return CheckOutcome(
        not rows,
        {
            "test_features_compared": compared,
            "mismatched": len(rows),
            "listed_bugs_not_stored": sum(r[5] for r in rows),
            "stored_bugs_not_listed": sum(r[6] for r in rows),
            "bugs_found_differs_from_bug_ids": sum(1 for r in rows if r[3] != r[4]),
            "sample (customer, test feature, test, bugs_found, bug_ids, not stored, not listed)": _sample(rows),
        },
    )
