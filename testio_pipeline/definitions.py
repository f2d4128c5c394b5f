"""The one entry point: every asset, check, job, schedule and resource of the project.

Configuration comes from the environment at wiring time (see README "Configuration"); an
unset variable falls back to the default of the resource field. Without `TESTIO_API_TOKEN`
the pipeline syncs the embedded TestIO simulator.

With an accounts file (`TESTIO_ACCOUNTS_FILE`, else `accounts.yaml` when present) every asset
is partitioned by account and the schedules launch one run per account (`defs/accounts.py`);
without one the definitions are exactly the single-account ones, unpartitioned, so
`dagster asset materialize --select '*'` needs no `--partition`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import dagster as dg

from testio_pipeline.accounts import Account, accounts_file_path, load_accounts
from testio_pipeline.defs.accounts import accounts_partitions, partitioned
from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.checks.analytics import ANALYTICS_CHECKS
from testio_pipeline.defs.checks.ingest import INGEST_CHECKS
from testio_pipeline.defs.checks.sync import SYNC_CHECKS
from testio_pipeline.defs.freshness import apply_freshness_policies
from testio_pipeline.defs.resources import SyncOptionsResource, TestIOResource, WarehouseResource
from testio_pipeline.defs.schedules import build_jobs_and_schedules


def _from_env(name: str, kind: type = str) -> dict[str, Any]:
    """`dg.EnvVar` for a variable that is set (the UI shows its name, never its value)."""
    if not os.environ.get(name):
        return {}
    return {"value": dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)}


def _field(field: str, env: str, kind: type = str) -> dict[str, Any]:
    found = _from_env(env, kind)
    return {field: found["value"]} if found else {}


def build_resources(accounts_file: Optional[Path] = None) -> dict[str, Any]:
    return {
        "testio": TestIOResource(
            **_field("api_token", "TESTIO_API_TOKEN"),
            **_field("base_url", "TESTIO_API_BASE_URL"),
            **_field("max_in_flight", "TESTIO_MAX_IN_FLIGHT", int),
            **_field("bug_batch_size", "TESTIO_BUG_BATCH_SIZE", int),
            **_field("simulator_size", "TESTIO_SIMULATOR_SIZE"),
            **_field("simulator_seed", "TESTIO_SIMULATOR_SEED", int),
        ),
        "warehouse": WarehouseResource(
            **_field("path", "TESTIO_DUCKDB_PATH"),
            **_field("customer_id", "TESTIO_CUSTOMER_ID", int),
            **_field("lock_wait_seconds", "TESTIO_DUCKDB_LOCK_WAIT_SECONDS", int),
            # absolute: a run process may start in another working directory (a container)
            **({"accounts_file": str(accounts_file.resolve())} if accounts_file else {}),
        ),
        "sync_options": SyncOptionsResource(
            **_field("catalog_ttl_minutes", "TESTIO_CATALOG_TTL_MINUTES", int),
        ),
    }


def build_definitions(accounts_file: Optional[Path] = None) -> dg.Definitions:
    """The project's definitions: one account, or every account of `accounts_file`."""
    accounts: list[Account] = load_accounts(accounts_file) if accounts_file else []
    assets = apply_freshness_policies([*INGEST_ASSETS, *ANALYTICS_ASSETS])
    if accounts:
        assets = partitioned(assets, accounts_partitions(accounts))
    jobs, schedules = build_jobs_and_schedules(
        [account.key for account in accounts] if accounts else None
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=[*INGEST_CHECKS, *SYNC_CHECKS, *ANALYTICS_CHECKS],
        jobs=jobs,
        schedules=schedules,
        resources=build_resources(accounts_file),
        # steps run one after another in the run's process: every step writes DuckDB, which
        # takes one writer at a time anyway (the `duckdb_writer` pool), and a process per step
        # would cost seconds of start-up each. The fetching inside a step is concurrent
        # (async httpx), and runs of different accounts fetch side by side.
        executor=dg.in_process_executor,
    )


defs = build_definitions(accounts_file_path())
