"""Several TestIO accounts in one deployment, on a real Postgres instance: the schedules
request one run per account, the run queue and the daemon launch them side by side, the
`duckdb_writer` pool keeps their DuckDB turns apart, and each account's rows equal its own
ground truth whatever the others do (one of them answers 401)."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL, SLOT_CLAIMED, SLOT_RELEASED
from testio_pipeline.definitions import build_definitions
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.deploy.deployment import (
    SimulatedAccount,
    multi_account_deployment,
    wait_for_runs,
)
from testio_pipeline_tests.deploy.postgres import running_postgres
from testio_pipeline_tests.ingest.harness import INGEST_TABLES, assert_warehouse_matches, query

ANALYTICS_TABLES = ("feature_bug_density", "product_quality", "bug_trends", "feature_coverage_gaps", "tester_stats")
FETCHING_STEPS = {"products", "features", "tests_and_test_features", "bugs"}
REVOKED_TOKEN = "revoked-token-value"


@pytest.fixture(scope="module")
def postgres():
    with running_postgres() as server:
        yield server


def _accounts() -> list[SimulatedAccount]:
    def sim(seed: int) -> Simulator:
        return Simulator(SimulatorConfig(size="small", seed=seed))

    acme, globex, initech = sim(1), sim(2), sim(3)
    return [
        SimulatedAccount("acme", 11, acme, token=acme.config.token),
        SimulatedAccount("globex", 12, globex, token=globex.config.token),
        # its token was revoked: every request answers 401
        SimulatedAccount("initech", 13, initech, token=REVOKED_TOKEN, meets_others=False),
    ]


def _duckdb_turns(instance: dg.DagsterInstance, run_id: str, pool_steps: set[str]):
    """(start, end, step) of every span in which the run held the `duckdb_writer` slot: the
    claimed/released log lines of fetching steps, start to end of steps in the pool."""
    turns, opened = [], {}
    for entry in instance.all_logs(run_id):
        step, event = entry.step_key, entry.dagster_event
        if event is None:
            if SLOT_CLAIMED in entry.user_message:
                opened[step] = entry.timestamp
            elif SLOT_RELEASED in entry.user_message:
                turns.append((opened.pop(step), entry.timestamp, step))
        elif step in pool_steps and event.event_type_value == "STEP_START":
            opened[step] = entry.timestamp
        elif step in pool_steps and event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            turns.append((opened.pop(step), entry.timestamp, step))
    return turns


def _failures(instance: dg.DagsterInstance, by_account: dict[str, str]) -> str:
    """What failed in each run, for the assertion message."""
    lines = []
    for key, run_id in by_account.items():
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is not None and event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE"):
                lines.append(f"{key} {entry.step_key}: {event.event_specific_data}"[:1500])
    return "\n".join(lines)


def _fetch_window(instance: dg.DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    """From the step's start to its first DuckDB turn: the products step only fetches there."""
    logs = [e for e in instance.all_logs(run_id) if e.step_key == step]
    start = next(e.timestamp for e in logs if e.dagster_event and e.dagster_event.event_type_value == "STEP_START")
    first_turn = next(e.timestamp for e in logs if e.dagster_event is None and SLOT_CLAIMED in e.user_message)
    return start, first_turn


def test_accounts_sync_side_by_side_on_postgres_and_only_the_revoked_one_fails(
    postgres, tmp_path, monkeypatch
):
    accounts = _accounts()
    acme, globex, initech = accounts
    truths = {a.key: a.sim.ground_truth(customer_id=a.customer_id) for a in accounts}
    # the simulator draws ids from shared ranges, so different accounts reuse the same ids
    assert set(truths["acme"].tests) & set(truths["globex"].tests)
    assert set(truths["acme"].bugs) & set(truths["globex"].bugs)
    monkeypatch.setenv("TESTIO_ACCOUNTS_FILE", "")

    with multi_account_deployment(postgres, tmp_path, accounts) as deployment:
        for name, value in deployment.env.items():
            if name.startswith("DAGSTER_POSTGRES"):
                monkeypatch.setenv(name, value)
        defs = build_definitions(deployment.accounts_file)
        instance = deployment.instance()
        schedule = defs.resolve_schedule_def("full_reconciliation_schedule")

        def evaluate_tick() -> dg.ScheduleExecutionData:
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=datetime(2026, 12, 1, 2, 37, tzinfo=timezone.utc),
                repository_def=defs.get_repository_def(),
            ) as context:
                return schedule.evaluate_tick(context)

        # the nightly tick asks for one run per account
        requests = evaluate_tick().run_requests
        assert sorted(r.partition_key for r in requests) == ["acme", "globex", "initech"]
        launches = [
            deployment.launch(schedule.job_name, r.partition_key, r.run_config) for r in requests
        ]
        assert [launch.wait(timeout=300) for launch in launches] == [0, 0, 0]
        runs = instance.get_runs()
        assert {run.status for run in runs} == {dg.DagsterRunStatus.QUEUED}
        by_account = {run.tags["dagster/partition"]: run.run_id for run in runs}
        assert sorted(by_account) == ["acme", "globex", "initech"]

        # while an account's run waits in the queue, the next tick skips that account
        again = evaluate_tick()
        assert not again.run_requests and again.skip_message
        assert all(key in again.skip_message for key in by_account)

        deployment.start_daemon()
        finished = wait_for_runs(instance, list(by_account.values()))
        deployment.stop_daemon()

        status = {key: finished[run_id].status for key, run_id in by_account.items()}
        assert status == {
            "acme": dg.DagsterRunStatus.SUCCESS,
            "globex": dg.DagsterRunStatus.SUCCESS,
            "initech": dg.DagsterRunStatus.FAILURE,
        }, _failures(instance, by_account)
        # the revoked account failed on its own 401, named without its token
        initech_log = "\n".join(
            f"{e.user_message} {e.dagster_event.event_specific_data if e.dagster_event else ''}"
            for e in instance.all_logs(by_account["initech"])
        )
        assert "401" in initech_log and REVOKED_TOKEN not in initech_log

        # each account holds exactly its own ground truth, under its own customer id
        db = deployment.db_path
        assert_warehouse_matches(db, truths["acme"], customer_id=acme.customer_id)
        assert_warehouse_matches(db, truths["globex"], customer_id=globex.customer_id)
        for table in (*INGEST_TABLES, *ANALYTICS_TABLES):
            customers = {row[0] for row in query(db, f"SELECT DISTINCT customer_id FROM {table}")}
            assert customers == {acme.customer_id, globex.customer_id}, table
        # product_quality is the cross-account view: every account's products side by side
        per_account = dict(query(db, "SELECT customer_id, count(*) FROM product_quality GROUP BY 1"))
        assert per_account == {
            acme.customer_id: len(truths["acme"].products),
            globex.customer_id: len(truths["globex"].products),
        }

        # the two healthy accounts fetched at the same time ...
        assert deployment.rendezvous.met == {"acme": True, "globex": True}
        acme_fetch = _fetch_window(instance, by_account["acme"], "products")
        globex_fetch = _fetch_window(instance, by_account["globex"], "products")
        assert acme_fetch[0] < globex_fetch[1] and globex_fetch[0] < acme_fetch[1]

        # ... while no two DuckDB turns of any runs ever overlapped
        job = defs.resolve_job_def(schedule.job_name)
        pool_steps = {node.name for node in job.graph.node_defs if getattr(node, "pool", None) == DUCKDB_WRITER_POOL}
        assert pool_steps and not pool_steps & FETCHING_STEPS
        turns = sorted(
            (start, end, key, step)
            for key, run_id in by_account.items()
            for start, end, step in _duckdb_turns(instance, run_id, pool_steps)
        )
        assert {key for _, _, key, _ in turns} == {"acme", "globex"}
        for earlier, later in zip(turns, turns[1:]):
            assert earlier[1] <= later[0], f"{earlier} overlaps {later}"
        instance.dispose()
