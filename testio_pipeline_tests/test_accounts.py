"""Accounts as partitions: the accounts file, definitions with and without it, and runs bound
to their account (token variable, customer id, product filter, own warehouse file)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from testio_pipeline.accounts import AccountsFileError, accounts_file_path, load_accounts
from testio_pipeline.definitions import build_definitions
from testio_pipeline.defs.resources import embedded_simulator

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE = PROJECT / "accounts.example.yaml"


def _write(tmp_path: Path, accounts: list[dict]) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": accounts}))
    return path


def test_the_example_file_lists_two_simulated_accounts():
    accounts = load_accounts(EXAMPLE)
    assert [(a.key, a.customer_id, a.token_env) for a in accounts] == [
        ("brand-a", 1, None),
        ("brand-b", 2, None),
    ]
    assert {a.simulator.seed for a in accounts} == {1, 2}


@pytest.mark.parametrize(
    ("accounts", "problem"),
    [
        ([{"key": "a", "customer_id": 1}, {"key": "b", "customer_id": 1}], "duplicate account customer_id: 1"),
        ([{"key": "a", "customer_id": 1}, {"key": "a", "customer_id": 2}], "duplicate account key: a"),
        ([{"key": "a b", "customer_id": 1}], "pattern"),
        ([{"key": "a", "customer_id": 1, "token": "secret"}], "token"),
        ([], "at least 1"),
    ],
)
def test_an_invalid_accounts_file_fails_naming_the_file_and_the_problem(tmp_path, accounts, problem):
    path = _write(tmp_path, accounts)
    with pytest.raises(AccountsFileError) as error:
        load_accounts(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_the_accounts_file_is_named_by_env_or_found_as_accounts_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert accounts_file_path({}) is None  # no file: one account, as before
    (tmp_path / "accounts.yaml").write_text("accounts: []")
    assert accounts_file_path({}) == Path("accounts.yaml")
    (tmp_path / "elsewhere").mkdir()
    other = _write(tmp_path / "elsewhere", [])
    assert accounts_file_path({"TESTIO_ACCOUNTS_FILE": str(other)}) == other
    with pytest.raises(AccountsFileError, match="TESTIO_ACCOUNTS_FILE=missing.yaml: no such file"):
        accounts_file_path({"TESTIO_ACCOUNTS_FILE": "missing.yaml"})


def test_without_an_accounts_file_nothing_is_partitioned():
    defs = build_definitions(None)
    graph = defs.resolve_asset_graph()
    assert all(graph.get(key).partitions_def is None for key in graph.materializable_asset_keys)


def test_with_an_accounts_file_every_asset_and_job_is_partitioned_by_account():
    defs = build_definitions(EXAMPLE)
    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        assert graph.get(key).partitions_def.get_partition_keys() == ["brand-a", "brand-b"], key
    for job in ("incremental_sync_job", "catalog_sync_job", "full_reconciliation_job"):
        job_def = defs.resolve_job_def(job)
        assert job_def.partitions_def.get_partition_keys() == ["brand-a", "brand-b"]
        # one run per account at a time is the queue's `dagster/partition` limit, not this tag
        assert "testio/sync" not in job_def.run_tags


def test_a_tick_requests_one_run_per_account_keyed_by_time_and_account():
    defs = build_definitions(EXAMPLE)
    schedule = defs.resolve_schedule_def("incremental_sync_schedule")
    tick = datetime(2026, 12, 1, 10, 15, tzinfo=timezone.utc)
    with dg.build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("brand-a", f"{tick.isoformat()}:brand-a"),
        ("brand-b", f"{tick.isoformat()}:brand-b"),
    ]


def _materialize(defs: dg.Definitions, partition: str, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        partition_key=partition,
        raise_on_error=False,
        **kwargs,
    )


def test_an_account_whose_token_variable_is_unset_fails_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTIO_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.delenv("TESTIO_TOKEN_ACME", raising=False)
    path = _write(tmp_path, [{"key": "acme", "customer_id": 3, "token_env": "TESTIO_TOKEN_ACME"}])
    result = _materialize(build_definitions(path), "acme")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "TESTIO_TOKEN_ACME" in str(failure.event_specific_data.error.message)


def test_accounts_with_files_of_their_own_are_queried_together_by_attaching_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTIO_DUCKDB_PATH", str(tmp_path / "shared.duckdb"))
    truth_a = embedded_simulator("small", 1).ground_truth(customer_id=1)
    product = sorted(truth_a.products)[0]
    path = _write(
        tmp_path,
        [
            # one account limited to one product by the file's product filter
            {"key": "a", "customer_id": 1, "simulator": {"seed": 1}, "product_ids": [product],
             "duckdb_path": str(tmp_path / "a.duckdb")},
            {"key": "b", "customer_id": 2, "simulator": {"seed": 2}, "duckdb_path": str(tmp_path / "b.duckdb")},
        ],
    )
    defs = build_definitions(path)
    for partition in ("a", "b"):
        assert _materialize(defs, partition).success
    assert not (tmp_path / "shared.duckdb").exists()

    con = duckdb.connect()
    for name in ("a", "b"):
        con.execute(f"ATTACH '{tmp_path / name}.duckdb' AS {name} (READ_ONLY)")
    per_file = con.execute(
        "SELECT 'a', customer_id, product_id FROM a.product_quality "
        "UNION ALL SELECT 'b', customer_id, product_id FROM b.product_quality ORDER BY ALL"
    ).fetchall()
    assert {(f, c) for f, c, _ in per_file} == {("a", 1), ("b", 2)}
    assert {p for f, _, p in per_file if f == "a"} == {product}
    truth_b = embedded_simulator("small", 2).ground_truth(customer_id=2)
    assert {p for f, _, p in per_file if f == "b"} == set(truth_b.products)
