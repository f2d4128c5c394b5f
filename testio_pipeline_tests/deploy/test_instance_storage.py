"""The project's instance storage (testio_pipeline/instance/) connects less than
Dagster's and behaves the same. The deployment's (deploy/dagster.yaml, PooledPostgresStorage) on
a real Postgres: a run keeps its connections instead of opening one per event, and a restart of
the server under a kept connection costs a reconnect, not a failed run. The project's
(.dagster/dagster.yaml, KeptIndexSqliteEventLogStorage): one connection to the index database
per process, and the UI's live view of a run (a watcher of the run's database file) still sees
every event as it is written."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy

from testio_pipeline.instance.postgres import PooledPostgresStorage
from testio_pipeline.instance.sqlite import KeptIndexSqliteEventLogStorage
from testio_pipeline_tests.deploy.postgres import running_postgres

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def postgres():
    with running_postgres() as server:
        yield server


@pytest.fixture
def instance(postgres, tmp_path, monkeypatch):
    for name, value in postgres.environment().items():
        monkeypatch.setenv(name, value)
    shutil.copy(PROJECT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _database_name(dbapi_connection) -> str:
    """`index.db` for a SQLite connection to that file; the database name on Postgres."""
    if hasattr(dbapi_connection, "get_dsn_parameters"):
        return dbapi_connection.get_dsn_parameters()["dbname"]
    return Path(dbapi_connection.execute("PRAGMA database_list").fetchone()[2]).name


@pytest.fixture
def connections_opened():
    """The databases this process opens a connection to from now on (any engine), in order."""
    opened: list[str] = []

    def count(dbapi_connection, connection_record):
        opened.append(_database_name(dbapi_connection))

    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "connect", count)
    yield opened
    sqlalchemy.event.remove(sqlalchemy.pool.Pool, "connect", count)


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@pytest.fixture
def project_instance(tmp_path, monkeypatch):
    """An instance of the project's `.dagster/dagster.yaml` in a fresh DAGSTER_HOME."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    shutil.copy(PROJECT / ".dagster" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance




def _run(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([first, second], instance=instance)
    assert result.success
    return result.run_id


def test_the_deployment_instance_is_the_pooled_postgres_storage(instance):
    assert isinstance(instance.get_ref().storage, PooledPostgresStorage)


def test_a_run_stores_its_events_over_a_few_kept_connections(instance, connections_opened):
    run_id = _run(instance)
    events = len(instance.all_logs(run_id))
    assert events >= 15
    # dagster-postgres alone opens one connection per event and per read (dozens here); the
    # pool keeps one per storage (runs, events, schedules), a few more while threads overlap
    assert len(connections_opened) <= 6, (len(connections_opened), events)


def test_a_restarted_server_costs_a_reconnect_not_a_failed_run(instance, postgres):
    _run(instance)
    postgres.restart()  # the pooled connections die with the server
    run_id = _run(instance)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS


def test_the_project_instance_keeps_its_event_log_index_open(project_instance, connections_opened):
    assert isinstance(project_instance.event_log_storage, KeptIndexSqliteEventLogStorage)
    first_run = _run(project_instance)
    second_run = _run(project_instance)
    opened = connections_opened
    # Dagster's own storage opens the index once per write of a materialization, a check or a
    # status change (dozens per run); this one once per process
    assert opened.count("index.db") == 1
    # each run's database is opened per write, as before (the UI watches its file)
    assert opened.count(f"{first_run}.db") >= 10 and opened.count(f"{second_run}.db") >= 10
    # what Dagster reads from the index is what the runs wrote
    record = project_instance.get_latest_materialization_event(dg.AssetKey("second"))
    assert record is not None and record.run_id == second_run


def test_a_watcher_of_a_run_sees_each_event_as_it_is_written(project_instance):
    """The webserver follows a running run by watching its database file for changes."""
    job = dg.Definitions(
        assets=[first], jobs=[dg.define_asset_job("watched", [first])]
    ).resolve_job_def("watched")
    run = project_instance.create_run_for_job(job)
    seen: list[str] = []
    changed = threading.Condition()

    def callback(entry, cursor):
        with changed:
            seen.append(entry.dagster_event.message if entry.dagster_event else entry.user_message)
            changed.notify_all()

    project_instance.watch_event_logs(run.run_id, None, callback)
    try:
        for n in range(3):
            project_instance.report_engine_event(f"event {n}", run)
            with changed:
                arrived = changed.wait_for(lambda: f"event {n}" in seen, timeout=5)
            assert arrived, f"the watcher did not see event {n}: {seen}"
    finally:
        project_instance.end_watch_event_logs(run.run_id, callback)
    assert [m for m in seen if m.startswith("event ")] == ["event 0", "event 1", "event 2"]
