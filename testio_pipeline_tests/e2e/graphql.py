"""The GraphQL the e2e test sends to `dagster dev` (Dagster 1.13 schema), and the run helpers
built on it: launch a job through the run queue, wait for the run, explain its failure."""

from __future__ import annotations

from typing import Any

from .conftest import DagsterDev

RUN_TIMEOUT_SECONDS = 300.0

ASSET_NODES = """
query {
  assetNodes {
    assetKey { path }
    description
    groupName
    kinds
    jobNames
    internalFreshnessPolicy {
      __typename
      ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds }
    }
    freshnessStatusInfo { freshnessStatus }
  }
}
"""

REPOSITORIES = """
query {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules {
          name
          cronSchedule
          executionTimezone
          pipelineName
          scheduleState { status }
        }
      }
    }
  }
}
"""

RUN_CONFIG_TYPES = """
query ($selector: PipelineSelector!) {
  runConfigSchemaOrError(selector: $selector) {
    __typename
    ... on RunConfigSchema {
      allConfigTypes {
        key
        ... on CompositeConfigType { fields { name description isRequired } }
      }
    }
    ... on PythonError { message }
  }
}
"""

LAUNCH_RUN = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""

RUN_STATUS = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status startTime endTime tags { key value } }
  }
}
"""

RUN_FAILURES = """
query ($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
        ... on EngineEvent { message error { message } }
      }
    }
  }
}
"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def asset_key(node: dict[str, Any]) -> str:
    return "/".join(node["assetKey"]["path"])


def repository(dev: DagsterDev) -> dict[str, Any]:
    """The one repository the workspace serves, with its location and schedules."""
    data = dev.graphql(REPOSITORIES)["repositoriesOrError"]
    assert data["__typename"] == "RepositoryConnection", data
    (found,) = data["nodes"]
    return found


def job_selector(dev: DagsterDev, job_name: str) -> dict[str, str]:
    found = repository(dev)
    return {
        "repositoryLocationName": found["location"]["name"],
        "repositoryName": found["name"],
        "pipelineName": job_name,
    }


def launch(dev: DagsterDev, job_name: str, run_config: dict[str, Any]) -> str:
    """Submit a run of `job_name` as the launchpad does (it goes through the run queue)."""
    selector = job_selector(dev, job_name)
    params = {
        "selector": {
            "repositoryLocationName": selector["repositoryLocationName"],
            "repositoryName": selector["repositoryName"],
            "jobName": job_name,
        },
        "runConfigData": run_config,
    }
    launched = dev.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        dev.fail(f"could not launch {job_name}: {launched}")
    return str(launched["run"]["runId"])


def wait_for_success(dev: DagsterDev, run_id: str) -> dict[str, Any]:
    """The finished run; fails the test with the run's errors unless it succeeded."""

    def finished() -> dict[str, Any] | None:
        run = dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        return run if run["status"] in FINISHED else None

    run = dev.wait_for(f"run {run_id} to finish", finished, RUN_TIMEOUT_SECONDS, interval=2.0)
    if run["status"] != "SUCCESS":
        events = dev.graphql(RUN_FAILURES, {"runId": run_id})["logsForRun"].get("events", [])
        errors = [
            f"{e['__typename']} {e.get('stepKey') or ''}: "
            f"{(e.get('error') or {}).get('message') or e.get('message')}"
            for e in events
            if e["__typename"] in {"ExecutionStepFailureEvent", "RunFailureEvent"}
            or (e["__typename"] == "EngineEvent" and e.get("error"))
        ]
        dev.fail(f"run {run_id} ended {run['status']}:\n" + "\n".join(errors[-20:]))
    return run
