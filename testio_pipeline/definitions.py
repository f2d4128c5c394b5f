"""The one entry point: every asset, check, job, schedule and resource of the project.

Configuration comes from the environment at wiring time (see README "Configuration"); an
unset variable falls back to the default of the resource field. Without `TESTIO_API_TOKEN`
the pipeline syncs the embedded TestIO simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from testio_pipeline.defs import dagster_fixes
from testio_pipeline.defs.assets.analytics import ANALYTICS_ASSETS
from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.assets.publish import PUBLISH_ASSETS
from testio_pipeline.defs.checks.ingest import INGEST_CHECKS
from testio_pipeline.defs.checks.sync import SYNC_CHECKS
from testio_pipeline.defs.environment import resource_config
from testio_pipeline.defs.freshness import apply_freshness_policies
from testio_pipeline.defs.resources import (
    DEFAULT_DUCKDB_PATH,
    SyncOptionsResource,
    TestIOResource,
    WarehouseResource,
)
from testio_pipeline.defs.schedules import JOBS, SCHEDULES
from testio_pipeline.defs.sensors import SENSORS
from testio_pipeline.testio import settings
from testio_pipeline.warehouse.publish import working_path_for


# no run of this code location spins a core while it waits for a pool slot
dagster_fixes.apply()


def build_resources(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resources, configured by the `TESTIO_*` variables set in `environ` (default: the
    process environment); an invalid value fails here, naming its variable."""
    config = resource_config(environ)
    testio = config.get("testio", {})
    warehouse = config.get("warehouse", {})
    # readers open the published file; the pipeline writes a private working file next to it
    warehouse.setdefault("published_path", DEFAULT_DUCKDB_PATH)
    warehouse["path"] = str(working_path_for(warehouse["published_path"]))
    if "api_token" not in testio and "base_url" not in testio:
        # without a token the launchpad shows the simulator's address, which is what runs
        testio["base_url"] = settings.EMBEDDED_SIMULATOR_BASE_URL
    return {
        "testio": TestIOResource(**testio),
        "warehouse": WarehouseResource(**warehouse),
        "sync_options": SyncOptionsResource(**config.get("sync_options", {})),
    }


defs = dg.Definitions(
    assets=apply_freshness_policies([*INGEST_ASSETS, *ANALYTICS_ASSETS, *PUBLISH_ASSETS]),
    # the analytics checks are declared on their assets (`check_specs`)
    asset_checks=[*INGEST_CHECKS, *SYNC_CHECKS],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(),
    # steps run one after another in the run's process: every step writes DuckDB, which takes
    # one writer at a time anyway (the `duckdb_writer` pool), and a process per step would
    # cost seconds of start-up each. The fetching inside a step is concurrent (async httpx).
    executor=dg.in_process_executor,
)
