"""`sync_complete`: a run that stored only part of the account is not a clean success.

The ingest steps degrade instead of halting: a bad record is skipped, a failing product keeps
its previous rows, and everything else is stored and analysed (`sync.quarantine`). What they
left out stays in `skipped_records` / `sync_failures` until a later run stores it; this check
reads those tables.

Why one multi-asset check that raises after reporting, and not a blocking check per asset:
a blocking check makes every asset downstream of its asset wait for it and skips them when
it fails, which is exactly the halt we avoid (analytics must run on what was synced). This
check runs last instead (its specs depend on the analytics assets) and reports an ERROR
result per ingest asset, with the open problems in its metadata; then, if any failed, it
fails its step with a one-line summary, so the run is marked failed and `dagster asset
materialize` exits non-zero, while every asset of the run is already materialized.
"""
# no `from __future__ import annotations`: Dagster inspects the `context` annotation

from collections.abc import Iterator

import dagster as dg
from dagster import AssetCheckExecutionContext

from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.metadata import LISTED_PROBLEMS
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.warehouse.problems import (
    describe_failure,
    describe_skipped,
    open_problems,
    summary_line,
)
from testio_pipeline.warehouse.schema import BUGS, FEATURES, PRODUCTS, TESTS

SYNC_COMPLETE = "sync_complete"
# the ingest tables whose steps can leave parts out (test_features go with tests, users are
# derived in DuckDB)
CHECKED_ASSETS = (PRODUCTS.name, FEATURES.name, TESTS.name, BUGS.name)

_ANALYTICS_KEYS = [key for asset in ANALYTICS_ASSETS for key in asset.keys]


def _spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        SYNC_COMPLETE,
        asset=asset,
        # runs after the analytics: failing it must not keep them from running
        additional_deps=_ANALYTICS_KEYS,
        description=(
            f"Everything of `{asset}` the API serves is stored: no record skipped "
            "(`skipped_records`) and no part failed (`sync_failures`). When it fails, the rest "
            "was stored and analysed anyway, the run is marked failed, and the next run "
            "retries what is listed."
        ),
    )


@dg.multi_asset_check(
    specs=[_spec(asset) for asset in CHECKED_ASSETS],
    can_subset=True,
    pool=DUCKDB_WRITER_POOL,
    name=SYNC_COMPLETE,
)
def sync_complete(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """Reports what the sync left out; fails the run (after reporting) if anything was."""
    warehouse = bind_account(context, warehouse).warehouse
    assets = sorted(key.asset_key.path[-1] for key in context.selected_asset_check_keys)
    incomplete = []
    with warehouse.read(context.log) as con:
        for asset in assets:
            problems = open_problems(con, warehouse.customer_id, asset)
            if not problems.clean:
                incomplete.append(asset)
            yield dg.AssetCheckResult(
                asset_key=asset,
                check_name=SYNC_COMPLETE,
                passed=problems.clean,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "failed_parts": len(problems.failed),
                    "skipped_records": len(problems.skipped),
                    "problems": dg.MetadataValue.md(_problems_markdown(asset, problems)),
                },
            )
        summary = summary_line(con, warehouse.customer_id, incomplete) if incomplete else ""
    if incomplete:
        context.log.error(summary)
        raise dg.Failure(
            description=(
                f"{summary}\nEverything else was stored and analysed. The parts listed in "
                "`sync_failures` and `skipped_records` are retried by the next run."
            ),
            # a re-run now would meet the same answers; the schedule retries later
            allow_retries=False,
        )


def _problems_markdown(asset: str, problems) -> str:
    if problems.clean:
        return "Nothing left out."
    lines = []
    for row in problems.failed[:LISTED_PROBLEMS]:
        lines.append(f"- failed: {describe_failure(row)}: {_one_line(row['message'])}")
    for row in problems.skipped[:LISTED_PROBLEMS]:
        value = f" = `{_one_line(row['raw_value'])}`" if row.get("raw_value") else ""
        lines.append(f"- skipped: {describe_skipped(asset, row)}{value} ({row['reason']})")
    return "\n".join(lines)


def _one_line(text: str | None, limit: int = 200) -> str:
    return " ".join((text or "").split())[:limit].replace("`", "'")


SYNC_CHECKS = [sync_complete]
