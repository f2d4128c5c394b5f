"""The one entry point: every asset, check, job, schedule and resource of the project.

Configuration comes from the environment at wiring time (see README "Configuration"); an
unset variable falls back to the default of the resource field. Without `TESTIO_API_TOKEN`
the pipeline syncs the embedded TestIO simulator.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.checks.ingest import INGEST_CHECKS
from testio_pipeline.defs.checks.sync import SYNC_CHECKS
from testio_pipeline.defs.freshness import apply_freshness_policies
from testio_pipeline.defs.resources import SyncOptionsResource, TestIOResource, WarehouseResource
from testio_pipeline.defs.schedules import JOBS, SCHEDULES
from testio_pipeline.testio import settings


def _from_env(name: str, kind: type = str) -> dict[str, Any]:
    """`dg.EnvVar` for a variable that is set (the UI shows its name, never its value)."""
    if not os.environ.get(name):
        return {}
    return {"value": dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)}


def _field(field: str, env: str, kind: type = str) -> dict[str, Any]:
    found = _from_env(env, kind)
    return {field: found["value"]} if found else {}


def _simulator_url() -> dict[str, Any]:
    if os.environ.get("TESTIO_API_TOKEN"):
        return {}
    return {"base_url": settings.EMBEDDED_SIMULATOR_BASE_URL}


def build_resources() -> dict[str, Any]:
    return {
        "testio": TestIOResource(
            **_field("api_token", "TESTIO_API_TOKEN"),
            # without a token the launchpad shows the simulator's address, which is what runs
            **(_field("base_url", "TESTIO_API_BASE_URL") or _simulator_url()),
            **_field("max_in_flight", "TESTIO_MAX_IN_FLIGHT", int),
            **_field("bug_batch_size", "TESTIO_BUG_BATCH_SIZE", int),
            **_field("simulator_size", "TESTIO_SIMULATOR_SIZE"),
            **_field("simulator_seed", "TESTIO_SIMULATOR_SEED", int),
        ),
        "warehouse": WarehouseResource(
            **_field("path", "TESTIO_DUCKDB_PATH"),
            **_field("customer_id", "TESTIO_CUSTOMER_ID", int),
            **_field("lock_wait_seconds", "TESTIO_DUCKDB_LOCK_WAIT_SECONDS", int),
        ),
        "sync_options": SyncOptionsResource(
            **_field("catalog_ttl_minutes", "TESTIO_CATALOG_TTL_MINUTES", int),
        ),
    }


defs = dg.Definitions(
    assets=apply_freshness_policies([*INGEST_ASSETS, *ANALYTICS_ASSETS]),
    # the analytics checks are declared on their assets (`check_specs`)
    asset_checks=[*INGEST_CHECKS, *SYNC_CHECKS],
    jobs=JOBS,
    schedules=SCHEDULES,
    resources=build_resources(),
    # steps run one after another in the run's process: every step writes DuckDB, which takes
    # one writer at a time anyway (the `duckdb_writer` pool), and a process per step would
    # cost seconds of start-up each. The fetching inside a step is concurrent (async httpx).
    executor=dg.in_process_executor,
)
