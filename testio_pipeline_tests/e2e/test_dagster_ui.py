"""End to end: `scripts/ui` serves the project; over GraphQL every asset is described, grouped,
kinded and under its freshness policy, the schedules run, the launchpad explains the sync
options; a sync run on the simulator succeeds and leaves every asset fresh; a headless Chromium
renders the asset graph and an asset page; and `dagster dev` stops without leaving a process.

The tests share one server and run in file order (the browser test expects the synced run).
Screenshots go to `test-artifacts/e2e/`.
"""

from __future__ import annotations

import time
from typing import Any

import dagster as dg
import pytest
from playwright.sync_api import Page, sync_playwright

from testio_pipeline.defs.freshness import window_for
from testio_pipeline.defs.schedules import FULL_REFRESH_RUN_CONFIG, SCHEDULES

from .conftest import ARTIFACTS, DagsterDev

pytestmark = pytest.mark.e2e

INGEST_KEYS = {"products", "features", "tests", "test_features", "bugs", "users"}
RUN_TIMEOUT_SECONDS = 300.0
FRESHNESS_TIMEOUT_SECONDS = 60.0
PAGE_TIMEOUT_MS = 60_000
# what the asset page's freshness section says for a PASS state (Dagster 1.13 UI)
FRESH_LABEL = "Passing"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

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


def _key(node: dict[str, Any]) -> str:
    return "/".join(node["assetKey"]["path"])


def _repository(dev: DagsterDev) -> dict[str, Any]:
    data = dev.graphql(REPOSITORIES)["repositoriesOrError"]
    assert data["__typename"] == "RepositoryConnection", data
    (repository,) = data["nodes"]
    return repository


def _selector(dev: DagsterDev, job_name: str) -> dict[str, str]:
    repository = _repository(dev)
    return {
        "repositoryLocationName": repository["location"]["name"],
        "repositoryName": repository["name"],
        "pipelineName": job_name,
    }


def test_every_asset_is_described_grouped_kinded_and_under_its_freshness_policy(
    dagster_dev: DagsterDev,
) -> None:
    nodes = dagster_dev.graphql(ASSET_NODES)["assetNodes"]
    by_key = {_key(node): node for node in nodes}

    assert INGEST_KEYS <= set(by_key), sorted(by_key)
    problems = []
    for key, node in sorted(by_key.items()):
        if not (node["description"] or "").strip():
            problems.append(f"{key}: no description")
        if not node["groupName"] or node["groupName"] == "default":
            problems.append(f"{key}: no group")
        if not node["kinds"]:
            problems.append(f"{key}: no kinds")
        window = window_for(dg.AssetKey(key.split("/")), node["groupName"])
        policy = node["internalFreshnessPolicy"]
        expected = (
            None
            if window is None
            else {
                "__typename": "TimeWindowFreshnessPolicy",
                "failWindowSeconds": int(window.fail.total_seconds()),
                "warnWindowSeconds": int(window.warn.total_seconds()),
            }
        )
        if policy is None or policy != expected:
            problems.append(f"{key}: freshness policy {policy}, expected {expected}")
    assert not problems, "\n".join(problems)
    # the scheduled jobs cover every asset
    assert all(node["jobNames"] for node in nodes)


def test_schedules_are_on_by_default_and_tick_in_utc(dagster_dev: DagsterDev) -> None:
    schedules = {s["name"]: s for s in _repository(dagster_dev)["schedules"]}

    assert {
        name: (s["pipelineName"], s["cronSchedule"], s["executionTimezone"], s["scheduleState"]["status"])
        for name, s in schedules.items()
    } == {
        s.name: (s.job_name, s.cron_schedule, "UTC", "RUNNING") for s in SCHEDULES
    }


def test_launchpad_explains_full_refresh_and_the_product_filter(dagster_dev: DagsterDev) -> None:
    data = dagster_dev.graphql(
        RUN_CONFIG_TYPES, {"selector": _selector(dagster_dev, "incremental_sync_job")}
    )["runConfigSchemaOrError"]
    assert data["__typename"] == "RunConfigSchema", data

    sync_options = [
        {field["name"]: field for field in config_type["fields"]}
        for config_type in data["allConfigTypes"]
        if {"full_refresh", "product_ids"} <= {f["name"] for f in config_type.get("fields") or []}
    ]
    assert sync_options, "no config type with full_refresh and product_ids in the launchpad"
    fields = sync_options[0]
    assert "re-fetch" in (fields["full_refresh"]["description"] or "").lower(), fields
    assert "product" in (fields["product_ids"]["description"] or "").lower(), fields
    assert not fields["full_refresh"]["isRequired"] and not fields["product_ids"]["isRequired"]


def _launch(dev: DagsterDev, job_name: str, run_config: dict[str, Any]) -> str:
    selector = _selector(dev, job_name)
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
    return launched["run"]["runId"]


def _wait_for_run(dev: DagsterDev, run_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        return run if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"} else None

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


def test_sync_runs_on_the_simulator_queue_one_behind_the_other_and_leave_every_asset_fresh(
    dagster_dev: DagsterDev,
) -> None:
    # the first run must create every table, so it is the nightly job (everything, full
    # refresh) with the run config its schedule sends; the 15-minute job is launched right
    # behind it and must wait in the queue (one `testio/sync` run at a time)
    started = time.monotonic()
    full_id = _launch(dagster_dev, "full_reconciliation_job", dict(FULL_REFRESH_RUN_CONFIG))
    incremental_id = _launch(dagster_dev, "incremental_sync_job", {})
    full = _wait_for_run(dagster_dev, full_id)
    print(f"full_reconciliation_job done after {time.monotonic() - started:.1f}s")
    incremental = _wait_for_run(dagster_dev, incremental_id)
    print(f"incremental_sync_job done after {time.monotonic() - started:.1f}s")

    assert {"key": "testio/sync", "value": "full"} in full["tags"]
    assert {"key": "testio/sync", "value": "incremental"} in incremental["tags"]
    assert incremental["startTime"] >= full["endTime"], (full, incremental)

    def all_fresh() -> dict[str, str] | None:
        nodes = dagster_dev.graphql(ASSET_NODES)["assetNodes"]
        status = {_key(n): (n["freshnessStatusInfo"] or {}).get("freshnessStatus") for n in nodes}
        return status if set(status.values()) == {"HEALTHY"} else None

    dagster_dev.wait_for(
        "the freshness daemon to mark every asset HEALTHY (PASS)",
        all_fresh,
        FRESHNESS_TIMEOUT_SECONDS,
        interval=2.0,
    )
    assert dagster_dev.duckdb_path.exists()


def _open(page: Page, dev: DagsterDev, path: str, expect_text: str) -> None:
    page.goto(f"{dev.url}{path}", wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    try:
        page.get_by_text(expect_text, exact=False).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"failed{path.replace('/', '_')}.png"))
        dev.fail(f"{path} did not show {expect_text!r}; page text: {page.inner_text('body')[:2000]}")


# true when the element is what the user sees at its own centre: on screen, not scrolled out of
# the graph and not under the page header
_SEEN_AT_CENTRE = """
el => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return false;
  const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return top !== null && (el === top || el.contains(top) || top.contains(el));
}
"""


def _drawn_in_view(page: Page, name: str) -> bool:
    """Whether a node labelled `name` can be seen (the graph leaves off-screen nodes out of the
    DOM or under the header, so presence in the DOM proves nothing)."""
    labels = page.get_by_text(name, exact=True)
    return any(labels.nth(i).evaluate(_SEEN_AT_CENTRE) for i in range(labels.count()))


def _zoom_out_until_shown(page: Page, names: set[str], attempts: int = 10) -> list[str]:
    """Click the graph's zoom-out button until every name is drawn in view."""
    zoom_out = page.locator('button:has([aria-label="zoom_out"])').first
    missing: list[str] = []
    for _ in range(attempts):
        page.wait_for_timeout(800)
        missing = sorted(n for n in names if not _drawn_in_view(page, n))
        if not missing:
            zoom_out.click()  # one step of margin around the graph for the screenshot
            page.wait_for_timeout(800)
            return []
        zoom_out.click()
    return missing


def test_chromium_renders_the_asset_graph_and_a_fresh_asset_page(dagster_dev: DagsterDev) -> None:
    location = _repository(dagster_dev)["location"]["name"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})

            # the global lineage shows one collapsed node per group
            _open(page, dagster_dev, "/asset-groups", "analytics")
            page.get_by_text("ingest", exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
            page.get_by_text("fetching statuses").first.wait_for(
                state="detached", timeout=PAGE_TIMEOUT_MS
            )
            page.screenshot(path=str(ARTIFACTS / "asset-groups.png"))

            # the ingest group's lineage shows each asset as a node
            _open(page, dagster_dev, f"/locations/{location}/asset-groups/ingest", "products")
            missing = _zoom_out_until_shown(page, INGEST_KEYS)
            page.screenshot(path=str(ARTIFACTS / "ingest-lineage.png"))
            assert not missing, f"ingest lineage does not show {missing}"

            # an asset page: its policy, a materialization, and a freshness state that passes
            _open(page, dagster_dev, "/assets/bugs", "Warns if more than 20 minutes")
            page.get_by_text(FRESH_LABEL, exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
            asset_text = page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "asset-bugs.png"), full_page=True)
            assert "Fails if more than" in asset_text
            assert "Never materialized" not in asset_text
            assert "Not evaluated" not in asset_text
        finally:
            browser.close()


def test_dagster_dev_stops_cleanly_without_leaving_a_process(dagster_dev: DagsterDev) -> None:
    assert dagster_dev.descendants, "no child process of dagster dev was ever seen"

    leftovers = dagster_dev.stop()

    assert dagster_dev.process.returncode is not None
    assert not leftovers, "processes outlived dagster dev:\n" + "\n".join(leftovers)
    log = dagster_dev.log_path.read_text(errors="replace")
    assert "Dagster services shut down." in log, dagster_dev.log_tail()
