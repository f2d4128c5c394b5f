"""Dagster's Postgres instance storage, keeping its connections (`deploy/dagster.yaml`).

A run stores ~180 events and `dagster-postgres` connects for each of them outside the
webserver: measured on the `small` simulator, main job with nothing new, whole CLI processes
(`scripts/benchmark.py --fixed-cost --postgres`, medians of 5), 7.54 s -> 4.79 s with this
storage. Every process that loads the instance (webserver, daemon, code server, runs) imports
this module: they all run the project's virtualenv or image.
"""

from __future__ import annotations

from typing import Any, Optional

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# a connection older than this is replaced when next taken (Postgres or a proxy in between may
# drop idle connections; the webserver uses the same default)
POOL_RECYCLE_SECONDS = 3600
# connections opened beyond the pooled one while several threads of a process query at once
# (dagster-daemon runs its ~10 daemons as threads), closed when given back; a thread that finds
# none free waits for one (SQLAlchemy's 30 s pool timeout). The webserver's default
POOL_MAX_OVERFLOW = 20
# Postgres' `statement_timeout`: 0 is none, as with dagster-postgres' default engine
NO_STATEMENT_TIMEOUT = 0


class PooledPostgresStorage(DagsterPostgresStorage):
    """`storage: postgres` of Dagster, with the webserver's connection pool in every process.

    `dagster-postgres` keeps a connection open only in the webserver (`optimize_for_webserver`);
    this applies the same setting in every process: a pool of one connection, a few more while
    threads overlap, renewed every `POOL_RECYCLE_SECONDS`, tested before use, and without the
    webserver's statement timeout (a daemon or run query may take longer than a UI request; the
    webserver still sets its own). Each process holds about three connections (runs, events,
    schedules): a webserver, a daemon, a code server and a few runs stay far below Postgres'
    default of 100.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            storage.optimize_for_webserver(  # type: ignore[attr-defined]
                statement_timeout=NO_STATEMENT_TIMEOUT,
                pool_recycle=POOL_RECYCLE_SECONDS,
                max_overflow=POOL_MAX_OVERFLOW,
            )
            # a kept connection dies with a Postgres restart or failover: test it when taken
            # from the pool (one `SELECT 1`) and reconnect, as a fresh connection per query
            # did, instead of failing the next event write. SQLAlchemy's `pool_pre_ping`,
            # which `optimize_for_webserver` does not pass (test_instance_storage restarts the
            # server under a held connection)
            storage._engine.pool._pre_ping = True  # type: ignore[attr-defined]

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Optional[ConfigurableClassData], config_value: Any
    ) -> "PooledPostgresStorage":
        # DagsterPostgresStorage.from_config_value builds its own class; the same, for ours
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
