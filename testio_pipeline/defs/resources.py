"""Dagster resources: the warehouse (DuckDB file), the TestIO API (real or simulated) and the
run-level sync options a user sets in the launchpad.

Paths and secrets arrive here at wiring time (`dg.EnvVar` in definitions.py), never inside
asset bodies.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Optional

import dagster as dg
import duckdb
from pydantic import Field

from testio_pipeline.defs.run_recovery import claim_worker_and_recover
from testio_pipeline.testio import settings
from testio_pipeline.testio.client import TestIOClient
from testio_pipeline.warehouse import connection
from testio_pipeline.warehouse.memory import DEFAULT_MEMORY_BUDGET_MB
from testio_pipeline.warehouse.publish import adopt_published

if TYPE_CHECKING:
    from testio_pipeline.testio.simulator import Simulator

DEFAULT_DUCKDB_PATH = "data/testio.duckdb"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Opened only to write, after fetching, one writer at a time."""

    path: str = Field(
        default=DEFAULT_DUCKDB_PATH,
        description="The DuckDB file the pipeline writes (with publishing: the private working "
        "file, which SQL readers never open).",
    )
    published_path: Optional[str] = Field(
        default=None,
        description="The file SQL readers open (TESTIO_DUCKDB_PATH): a copy of `path` put in "
        "place by `published_warehouse` after each run's last write. None: nothing is "
        "published (readers would share `path` with the writer).",
    )
    customer_id: int = Field(
        default=1, description="Customer id stored in every row; rows of two customers never mix."
    )
    lock_wait_seconds: float = Field(
        default=120.0,
        description="How long a write waits for another process to release the file lock.",
    )
    memory_budget_mb: int = Field(
        default=DEFAULT_MEMORY_BUDGET_MB,
        description="Memory budget of a sync process in MB (TESTIO_MEMORY_BUDGET_MB): DuckDB's "
        "limits are derived from it, and work beyond them spills to disk.",
    )
    accounts_file: Optional[str] = Field(
        default=None,
        description="Accounts file of a multi-account deployment (TESTIO_ACCOUNTS_FILE): a run "
        "of partition <key> stores account <key> under its customer_id. Unset: one account.",
    )

    @property
    def users_path(self) -> str:
        """The file users open (the published one when publishing): reports go next to it."""
        return self.published_path or self.path

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # resources are set up when a run starts, before any step claims the `duckdb_writer`
        # pool: the moment to free the slots of runs that died (see `run_recovery`)
        run = context.run
        if context.instance is not None and run is not None:
            warn = context.log.warning if context.log is not None else logging.warning
            claim_worker_and_recover(context.instance, run.run_id, warn)
        if self.published_path and adopt_published(Path(self.path), Path(self.published_path)):
            if context.log is not None:
                context.log.info(f"working file {self.path} started from {self.published_path}")

    @contextmanager
    def write(self, log: Optional[logging.Logger] = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction on the warehouse: committed on success, rolled back on any error."""
        with connection.write_transaction(
            self.path, lock_wait_seconds=self.lock_wait_seconds, log=log
        ) as con:
            yield con

    @contextmanager
    def read(self, log: Optional[logging.Logger] = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection for reading sync state before fetching.

        It opens the file for writing (DuckDB cannot mix a read-only and a read-write process),
        so it waits for the lock like a write does; keep it short.
        """
        with connection.open_for_write(
            self.path, lock_wait_seconds=self.lock_wait_seconds, log=log
        ) as con:
            yield con


class TestIOResource(dg.ConfigurableResource):
    """The TestIO Customer API, or the embedded simulator when no token is configured."""

    __test__ = False  # not a pytest test class, despite its name

    api_token: Optional[str] = Field(
        default=None,
        description="TestIO API token (TESTIO_API_TOKEN). Unset: the embedded simulator is used.",
    )
    base_url: str = Field(
        default=settings.DEFAULT_BASE_URL,
        description="API base URL (TESTIO_API_BASE_URL), e.g. a simulator started with "
        "`python -m testio_pipeline.testio.simulator`.",
    )
    max_in_flight: int = Field(
        default=settings.MAX_IN_FLIGHT, description="Most requests in flight at once."
    )
    timeout_seconds: float = Field(
        default=settings.TIMEOUT_SECONDS, description="Timeout of one HTTP request."
    )
    max_attempts: int = Field(
        default=settings.MAX_ATTEMPTS,
        description="Attempts per request on 429, 5xx, timeouts and connection errors.",
    )
    backoff_base_seconds: float = Field(
        default=settings.BACKOFF_BASE_SECONDS,
        description="First retry delay; doubles each attempt (with jitter) up to the max.",
    )
    backoff_max_seconds: float = Field(
        default=settings.BACKOFF_MAX_SECONDS, description="Longest delay between two attempts."
    )
    retry_after_cap_seconds: float = Field(
        default=settings.RETRY_AFTER_CAP_SECONDS,
        description="Longest wait honoured from a 429 answer's Retry-After header.",
    )
    tests_per_page: int = Field(
        default=settings.TESTS_PER_PAGE, description="Page size when listing tests."
    )
    bug_batch_size: int = Field(
        default=settings.BUGS_TEST_IDS_PER_REQUEST,
        description="Test ids per /bugs request (filter_test_cycle_ids).",
    )
    max_response_mb: int = Field(
        default=settings.MAX_RESPONSE_MB,
        description="Largest response body read, in MB (TESTIO_MAX_RESPONSE_MB); a larger one "
        "fails its request with a clear error instead of being read whole.",
    )
    simulator_size: str = Field(
        default="small",
        description="Size of the embedded simulator's account (small, medium, large or a scale).",
    )
    simulator_seed: int = Field(default=1, description="Seed of the embedded simulator's account.")

    @property
    def uses_simulator(self) -> bool:
        return not self.api_token

    def describe_source(self) -> str:
        """Where data comes from, for logs and metadata (never includes the token)."""
        if self.uses_simulator:
            return f"embedded simulator (size={self.simulator_size}, seed={self.simulator_seed})"
        return self.base_url

    def explain_source(self) -> str:
        """Where data comes from and what chose it, for the start of every run's log."""
        if self.uses_simulator:
            return (
                f"data source: the {self.describe_source()}, because TESTIO_API_TOKEN is not "
                "set; its rows are simulated, not your account's"
            )
        return (
            f"data source: the TestIO API at {self.base_url}, because TESTIO_API_TOKEN is set "
            "(unset it to sync the embedded simulator instead)"
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # once per run that uses the API: which source the run syncs is never a guess
        if context.log is not None:
            context.log.info(self.explain_source())

    def client(self, logger: Optional[logging.Logger] = None) -> TestIOClient:
        """A new async client; use it as `async with resource.client(log) as client:`."""
        if self.uses_simulator:
            from testio_pipeline.testio.simulator import SIMULATOR_BASE_URL

            simulator = embedded_simulator(self.simulator_size, self.simulator_seed)
            transport, base_url, token = (
                simulator.transport,
                SIMULATOR_BASE_URL,
                simulator.config.token,
            )
        else:
            transport, base_url, token = None, self.base_url, self.api_token
        return TestIOClient(
            base_url=base_url,
            token=token or "",
            max_in_flight=self.max_in_flight,
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            retry_after_cap_seconds=self.retry_after_cap_seconds,
            tests_per_page=self.tests_per_page,
            bug_batch_size=self.bug_batch_size,
            max_response_bytes=self.max_response_mb << 20,
            transport=transport,
            logger=logger,
        )


@functools.lru_cache(maxsize=4)
def embedded_simulator(size: str, seed: int) -> Simulator:
    """One simulator per process and (size, seed): generating the account is deterministic."""
    # imported here: the simulator (numpy and the account generator, ~20 MB) is not loaded
    # by a pipeline that talks to the real API
    from testio_pipeline.testio.simulator import Simulator, SimulatorConfig

    scale: str | float = size
    try:
        scale = float(size)
    except ValueError:
        pass
    return Simulator(SimulatorConfig(size=scale, seed=seed))


class SyncOptionsResource(dg.ConfigurableResource):
    """Run-level options of a sync; the launchpad shows them under `resources.sync_options`."""

    full_refresh: bool = Field(
        default=False,
        description="Re-fetch every test's bugs and every product's feature catalog, ignoring "
        "what earlier runs stored, and reconcile deletions (tests and bugs gone from the API).",
    )
    product_ids: list[int] = Field(
        default=[],
        description="Limit this run to these product ids (refresh one product now). Empty: all.",
    )
    catalog_ttl_minutes: float = Field(
        default=60.0,
        description="A product's feature catalog is re-fetched when older than this.",
    )
