"""The deployment files agree with each other and with the project's instance: what cannot run
on this machine (Docker, Kubernetes) is at least parsed and cross-checked here; the Postgres
instance itself runs in test_accounts_on_postgres.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT / "deploy"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_the_postgres_instance_has_the_projects_settings_with_postgres_storage():
    project, postgres = _yaml(PROJECT / ".dagster" / "dagster.yaml"), _yaml(DEPLOY / "dagster.yaml")
    # storage aside: the project's instance keeps Dagster's SQLite storage (its event log
    # through KeptIndexSqliteEventLogStorage), the deployment's is on Postgres
    assert {k: v for k, v in postgres.items() if k not in ("storage", "run_launcher")} == {
        k: v for k, v in project.items() if k != "event_log_storage"
    }
    storage = postgres["storage"]["custom"]
    assert (storage["module"], storage["class"]) == (
        "testio_pipeline.instance.postgres", "PooledPostgresStorage"
    )
    db = storage["config"]["postgres_db"]
    assert {k: v["env"] for k, v in db.items() if isinstance(v, dict)} == {
        "hostname": "DAGSTER_POSTGRES_HOST",
        "port": "DAGSTER_POSTGRES_PORT",
        "username": "DAGSTER_POSTGRES_USER",
        "password": "DAGSTER_POSTGRES_PASSWORD",
        "db_name": "DAGSTER_POSTGRES_DB",
    }


def test_the_helm_values_carry_the_instances_pools_and_run_limits():
    instance, values = _yaml(DEPLOY / "dagster.yaml"), _yaml(DEPLOY / "helm-values.yaml")
    pools, runs = instance["concurrency"]["pools"], instance["concurrency"]["runs"]
    assert values["concurrency"]["enabled"] is True
    assert values["concurrency"]["pools"] == {_camel(k): v for k, v in pools.items()}
    assert values["concurrency"]["runs"] == {
        "maxConcurrentRuns": runs["max_concurrent_runs"],
        "tagConcurrencyLimits": runs["tag_concurrency_limits"],
    }
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    retries = values["dagsterDaemon"]["runRetries"]
    assert retries == {_camel(k): v for k, v in instance["run_retries"].items()}
    scheme = instance["storage"]["custom"]["config"]["postgres_db"]["scheme"]
    assert values["postgresql"]["postgresqlScheme"] == scheme


def test_the_helm_code_location_loads_the_project_with_the_warehouse_volume_in_its_runs():
    values = _yaml(DEPLOY / "helm-values.yaml")
    (location,) = values["dagster-user-deployments"]["deployments"]
    assert location["dagsterApiGrpcArgs"] == ["-m", "testio_pipeline.definitions"]
    assert location["includeConfigInLaunchedRuns"]["enabled"] is True
    mount = location["volumeMounts"][0]["mountPath"]
    env = {e["name"]: e["value"] for e in location["env"]}
    assert env["TESTIO_DUCKDB_PATH"].startswith(mount + "/")


def test_compose_runs_postgres_the_code_location_the_webserver_and_the_daemon():
    compose = _yaml(DEPLOY / "docker-compose.yaml")
    services = compose["services"]
    assert set(services) == {"postgres", "code_location", "webserver", "daemon"}
    workspace = _yaml(DEPLOY / "workspace.yaml")["load_from"][0]["grpc_server"]
    code = services["code_location"]["command"]
    assert code[:3] == ["dagster", "api", "grpc"]
    assert code[code.index("-p") + 1] == str(workspace["port"]) and workspace["host"] == "code_location"
    assert code[code.index("-m") + 1] == "testio_pipeline.definitions"
    postgres_env = services["postgres"]["environment"]
    for name in ("code_location", "webserver", "daemon"):
        env = services[name]["environment"]
        assert env["DAGSTER_POSTGRES_HOST"] == "postgres", name
        assert env["DAGSTER_POSTGRES_USER"] == postgres_env["POSTGRES_USER"], name
        assert env["DAGSTER_POSTGRES_DB"] == postgres_env["POSTGRES_DB"], name
    for name in ("webserver", "daemon"):
        assert "deploy/workspace.yaml" in services[name]["command"], name
    # the runs are processes of the code location: the warehouse volume is mounted there
    (volume,) = services["code_location"]["volumes"]
    assert services["code_location"]["environment"]["TESTIO_DUCKDB_PATH"].startswith(volume.split(":")[1])


def test_the_image_ships_the_instance_and_the_workspace_the_services_use():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ENV DAGSTER_HOME=(\S+)$", dockerfile, re.M)
    home = re.search(r"^ENV DAGSTER_HOME=(\S+)$", dockerfile, re.M).group(1)
    assert f"COPY deploy/dagster.yaml {home}/dagster.yaml" in dockerfile
    assert "COPY deploy/workspace.yaml" in dockerfile
