"""The project's Dagster instance storage: Dagster's own SQLite and Postgres storage, each
changed in one respect only, how often it connects.

Every event of a run (step start, output, materialization, check evaluation, log line) is a
write to the instance, ~180 per run of the main job, and Dagster's storages connect anew for
each (so that many `DagsterInstance` objects in one process never pile up connections). At
the sizes most accounts have, that was most of a run. Measured on the `small` simulator, main
job with nothing new, whole CLI processes (`scripts/benchmark.py --fixed-cost [--postgres]`,
medians of 5):

- `PooledPostgresStorage` (`deploy/dagster.yaml`): 7.5-7.9 s -> 5.0-5.4 s.
- `KeptIndexSqliteEventLogStorage` (`.dagster/dagster.yaml`): 5.6 s -> 4.6 s.

Every process that loads such an instance (webserver, daemon, code server, runs) imports this
module: they all run in the project's virtualenv or image.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

# a connection older than this is replaced when next taken (Postgres or a proxy in between may
# drop idle connections; the webserver uses the same default)
POOL_RECYCLE_SECONDS = 3600
# connections opened beyond the pooled one while several threads of a process query at once,
# closed when given back
POOL_MAX_OVERFLOW = 10
# Postgres' `statement_timeout`: 0 is none, as with dagster-postgres' default engine
NO_STATEMENT_TIMEOUT = 0
# run shards whose engine a process keeps (the webserver reads many runs; each engine is small)
KEPT_RUN_SHARD_ENGINES = 16


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


class KeptIndexSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (one database per run plus an index database), keeping its
    connection to the index open and its engines (compiled statements) across writes.

    Most events are written twice, to their run's database and to the index (materializations,
    check evaluations, run status, pool slots). Dagster opens and closes both every time, and
    closing the last connection to a WAL database checkpoints it. The index connection is now
    opened once per process and used under the storage's own lock, as every connection of the
    storage already is. A run's database is still closed after each write: the webserver's live
    view of a run watches that file for changes, which a kept connection would delay until the
    next checkpoint (`test_instance_storage` checks that a watcher sees every event at once).

    Where the storage lives is Dagster's default, `$DAGSTER_HOME/storage`: the config takes
    `dagster_home` (`env: DAGSTER_HOME` in `.dagster/dagster.yaml`).
    """

    def __init__(self, base_dir: str, inst_data: Optional[ConfigurableClassData] = None):
        self._index_engine: Optional[Engine] = None
        self._run_engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Optional[ConfigurableClassData], config_value: Any
    ) -> "KeptIndexSqliteEventLogStorage":
        base_dir = os.path.join(config_value["dagster_home"], "storage")
        return cls(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        if shard == INDEX_SHARD_NAME:
            if self._index_engine is None:
                # one connection, shared by the threads of the process under `_db_lock`
                self._index_engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=StaticPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                  "check_same_thread": False},
                )
            return self._index_engine
        engine = self._run_engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=NullPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
        self._run_engines[shard] = engine  # most recently used last
        while len(self._run_engines) > KEPT_RUN_SHARD_ENGINES:
            self._run_engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # SqliteEventLogStorage._connect, with the engine kept instead of made and disposed
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        # asked before every write of a materialization's tags, and Dagster answers it with an
        # engine and a connection of its own each time; a table of the index, once there, stays
        # (migrations add tables, nothing here drops them), so only a "yes" is remembered
        if table_name not in self._tables_present and super().has_table(table_name):
            self._tables_present.add(table_name)
        return table_name in self._tables_present

    def _close_kept(self) -> None:
        with self._db_lock:
            for engine in [self._index_engine, *self._run_engines.values()]:
                if engine is not None:
                    engine.dispose()
            self._index_engine = None
            self._run_engines.clear()

    def wipe(self) -> None:
        super().wipe()  # deletes the run databases (their engines hold no connection)
        self._close_kept()

    def dispose(self) -> None:
        super().dispose()
        self._close_kept()
