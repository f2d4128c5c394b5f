"""Sync of the `users` table, derived in DuckDB: the API has no users endpoint.

Testers come from `bugs.author_name`, customer users from `tests.created_by` / `submitted_by`.
"""

from __future__ import annotations

import logging

from testio_pipeline.sync.report import SyncReport, Warehouse, count_rows
from testio_pipeline.warehouse.merge import merge
from testio_pipeline.warehouse.schema import BUGS, TESTS, USERS
from testio_pipeline.warehouse.sql_values import sql_literal


def users_sql(customer_id: int) -> str:
    """The customer's users, derived from the stored bugs and tests."""
    customer = sql_literal(customer_id)
    return f"""
SELECT customer_id, author_name AS name, 'tester' AS kind,
       count(*) AS bugs_reported, 0 AS tests_created, 0 AS tests_submitted,
       min(reported_at) AS first_seen_at, max(reported_at) AS last_seen_at
FROM {BUGS.name}
WHERE customer_id = {customer} AND author_name IS NOT NULL
GROUP BY customer_id, author_name
UNION ALL
SELECT customer_id, name, 'customer' AS kind, 0 AS bugs_reported,
       count(*) FILTER (WHERE role = 'created') AS tests_created,
       count(*) FILTER (WHERE role = 'submitted') AS tests_submitted,
       min(start_at) AS first_seen_at, max(coalesce(end_at, start_at)) AS last_seen_at
FROM (
    SELECT customer_id, created_by AS name, 'created' AS role, start_at, end_at
    FROM {TESTS.name} WHERE customer_id = {customer} AND created_by IS NOT NULL
    UNION ALL
    SELECT customer_id, submitted_by, 'submitted', start_at, end_at
    FROM {TESTS.name} WHERE customer_id = {customer} AND submitted_by IS NOT NULL
)
GROUP BY customer_id, name
"""


def sync_users(warehouse: Warehouse, *, log: logging.Logger | None = None) -> SyncReport:
    """Rebuild the customer's users from the stored tests and bugs, in one transaction."""
    report = SyncReport()
    customer_id = warehouse.customer_id
    with warehouse.write(log) as con:
        derived = con.sql(users_sql(customer_id))
        report.merges[USERS.name] = merge(
            con,
            USERS,
            derived,
            delete_where=f"customer_id = {sql_literal(customer_id)}",
        )
        report.row_counts[USERS.name] = count_rows(con, USERS.name, customer_id)
    return report.finish()
