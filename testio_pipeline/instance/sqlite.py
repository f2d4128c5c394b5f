"""Dagster's SQLite event log, keeping its index database open (`.dagster/dagster.yaml`).

A run stores ~180 events and Dagster's SQLite storage opens and closes its databases for each
of them: measured on the `small` simulator, main job with nothing new, whole CLI processes
(`scripts/benchmark.py --fixed-cost`, medians of 5), 5.05 s -> 4.36 s with this storage (an
A/B of 6 alternating runs on a slower moment of the machine: 6.75 s -> 5.25 s).
Every process that loads the instance (`dagster dev`'s webserver and daemon, CLI runs) imports
this module from the project's virtualenv.
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
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

# run databases whose engine a process keeps (the webserver reads many runs; each is small)
KEPT_RUN_SHARD_ENGINES = 16


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
