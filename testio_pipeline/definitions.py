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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import dagster as dg

from testio_pipeline.accounts import Account, accounts_file_path, load_accounts
from testio_pipeline.defs import dagster_fixes
from testio_pipeline.defs.accounts import accounts_partitions, partitioned
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
from testio_pipeline.defs.schedules import build_jobs_and_schedules
from testio_pipeline.defs.sensors import build_sensors
from testio_pipeline.testio import settings
from testio_pipeline.warehouse.publish import working_path_for


# no run of this code location spins a core while it waits for a pool slot
dagster_fixes.apply()


def build_resources(
    environ: Mapping[str, str] | None = None, accounts_file: Optional[Path] = None
) -> dict[str, Any]:
    """The resources, configured by the `TESTIO_*` variables set in `environ` (default: the
    process environment); an invalid value fails here, naming its variable."""
    config = resource_config(environ)
    testio = config.get("testio", {})
    warehouse = config.get("warehouse", {})
    # readers open the published file; the pipeline writes a private working file next to it
    warehouse.setdefault("published_path", DEFAULT_DUCKDB_PATH)
    warehouse["path"] = str(working_path_for(warehouse["published_path"]))
    if accounts_file is not None:
        # absolute: a run process may start in another working directory (a container)
        warehouse["accounts_file"] = str(accounts_file.resolve())
    if "api_token" not in testio and "base_url" not in testio:
        # without a token the launchpad shows the simulator's address, which is what runs
        testio["base_url"] = settings.EMBEDDED_SIMULATOR_BASE_URL
    return {
        "testio": TestIOResource(**testio),
        "warehouse": WarehouseResource(**warehouse),
        "sync_options": SyncOptionsResource(**config.get("sync_options", {})),
    }


def build_definitions(accounts_file: Optional[Path] = None) -> dg.Definitions:
    """The project's definitions: one account, or every account of `accounts_file`."""
    accounts: list[Account] = load_accounts(accounts_file) if accounts_file else []
    assets = apply_freshness_policies([*INGEST_ASSETS, *ANALYTICS_ASSETS, *PUBLISH_ASSETS])
    if accounts:
        assets = partitioned(assets, accounts_partitions(accounts))
    keys = [account.key for account in accounts] if accounts else None
    jobs, schedules = build_jobs_and_schedules(keys)
    return dg.Definitions(
        assets=assets,
        # the analytics checks are declared on their assets (`check_specs`)
        asset_checks=[*INGEST_CHECKS, *SYNC_CHECKS],
        jobs=jobs,
        schedules=schedules,
        sensors=build_sensors(jobs[0], keys),
        resources=build_resources(accounts_file=accounts_file),
        # steps run one after another in the run's process: every step writes DuckDB, which
        # takes one writer at a time anyway (the `duckdb_writer` pool), and a process per step
        # would cost seconds of start-up each. The fetching inside a step is concurrent
        # (async httpx), and runs of different accounts fetch side by side.
        executor=dg.in_process_executor,
    )


defs = build_definitions(accounts_file_path())
