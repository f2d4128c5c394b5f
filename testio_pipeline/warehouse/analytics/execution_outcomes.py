"""Shared SQL of the execution-outcome tables (2026 API): ranking executions newest first and
summarising them into outcome counts, rates, a recent-cycles trend and a failure streak.

An execution is one test feature (or one story inside it) with an `execution_status`; it is
*executed* when the status is passed, failed or blocked, and a *failure* when it is failed or
blocked (`settings.EXECUTED_STATUSES`, `settings.FAILURE_STATUSES`; compared lower-case, so an
unknown status the API may add counts as listed but neither executed nor failed). Its time is
its test's `end_at`, else `start_at` (the cycle); newer cycles first, ties by test id.
Rows whose status is NULL (the older API) are no executions at all.
"""

from __future__ import annotations

from testio_pipeline.warehouse.analytics import settings
from testio_pipeline.warehouse.analytics.spec import Column, ratio


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def ranked_executions_cte(source: str, keys: str) -> str:
    """CTE `ranked`: the rows of `source` (customer_id, `keys`, status, cycle_at, test_id,
    row_id, bugs_found) with `executed`, `failure` and `recency`: 1 for the newest executed
    row of each (customer_id, `keys`), executed rows before the others."""
    return f"""ranked AS (
  SELECT *,
    row_number() OVER (
      PARTITION BY customer_id, {keys}
      ORDER BY executed DESC, cycle_at DESC NULLS LAST, test_id DESC, row_id DESC
    ) AS recency
  FROM (
    SELECT *, status IN {_in(settings.EXECUTED_STATUSES)} AS executed,
           status IN {_in(settings.FAILURE_STATUSES)} AS failure
    FROM ({source}) AS s
    WHERE status IS NOT NULL
  ) AS e
)"""


def outcome_aggregates() -> str:
    """Aggregates over `ranked` for one GROUP BY (customer_id, keys)."""
    recent = int(settings.RECENT_CYCLES)
    return f"""count(*) AS listed,
    count_if(status = 'not_tested') AS not_tested,
    count_if(status = 'passed') AS passed,
    count_if(status = 'failed') AS failed,
    count_if(status = 'blocked') AS blocked,
    count_if(executed) AS executed,
    count_if(failure) AS failures,
    count_if(executed AND recency <= {recent}) AS recent_executed,
    count_if(failure AND recency <= {recent}) AS recent_failures,
    count_if(executed AND recency > {recent}) AS earlier_executed,
    count_if(failure AND recency > {recent}) AS earlier_failures,
    -- executed rows are ranked first: the streak ends at the newest passed execution
    coalesce(min(recency) FILTER (WHERE executed AND NOT failure) - 1, count_if(executed))
      AS failure_streak,
    max(cycle_at) FILTER (WHERE executed) AS last_executed_at,
    min_by(status, recency) FILTER (WHERE executed) AS last_status,
    sum(bugs_found) AS bugs_found"""


def outcome_rates(source: str) -> str:
    """Rate columns over the aggregates in `source`."""
    recent = ratio(f"{source}.recent_failures", f"{source}.recent_executed")
    earlier = ratio(f"{source}.earlier_failures", f"{source}.earlier_executed")
    return f"""{ratio(f"{source}.failures", f"{source}.executed")} AS failure_rate,
  {recent} AS recent_failure_rate,
  {earlier} AS earlier_failure_rate,
  {recent} - {earlier} AS failure_rate_trend"""


def outcome_columns(unit: str) -> tuple[Column, ...]:
    """The declared columns of `outcome_aggregates` and `outcome_rates`; `unit` names what
    one execution is ("test features", "story executions")."""
    n = settings.RECENT_CYCLES
    return (
        Column("listed", "BIGINT", f"{unit} with an execution status"),
        Column("not_tested", "BIGINT", "of those, not_tested"),
        Column("passed", "BIGINT", "of those, passed"),
        Column("failed", "BIGINT", "of those, failed"),
        Column("blocked", "BIGINT", "of those, blocked"),
        Column("executed", "BIGINT", "passed + failed + blocked"),
        Column("failures", "BIGINT", "failed + blocked"),
        Column("failure_rate", "DOUBLE", "failures / executed; NULL when never executed"),
        Column("recent_executed", "BIGINT", f"executions among the newest {n} cycles"),
        Column("recent_failures", "BIGINT", f"failures among the newest {n} executed cycles"),
        Column("recent_failure_rate", "DOUBLE", "recent_failures / recent_executed"),
        Column("earlier_executed", "BIGINT", f"executions before the newest {n}"),
        Column("earlier_failures", "BIGINT", f"failures before the newest {n} executed cycles"),
        Column("earlier_failure_rate", "DOUBLE", "earlier_failures / earlier_executed; NULL without"),
        Column(
            "failure_rate_trend", "DOUBLE",
            "recent_failure_rate - earlier_failure_rate (> 0: failing more often lately); "
            "NULL without earlier executions",
        ),
        Column("failure_streak", "BIGINT", "newest executions in a row that failed"),
        Column("last_status", "VARCHAR", "status of the newest execution"),
        Column("last_executed_at", "TIMESTAMPTZ", "cycle time (test end, else start) of the newest execution"),
        Column("bugs_found", "BIGINT", f"sum of bugs_found over the {unit}"),
    )


def outcome_column_names(source: str) -> str:
    """`source.<aggregate>` for every aggregate column, for a SELECT list."""
    names = [
        "listed", "not_tested", "passed", "failed", "blocked", "executed", "failures",
        "recent_executed", "recent_failures", "earlier_executed", "earlier_failures",
        "failure_streak", "last_status", "last_executed_at", "bugs_found",
    ]
    return ", ".join(f"{source}.{name}" for name in names)
