"""End to end: `scripts/ui` serves the project. Over GraphQL, every asset is described,
grouped, kinded and under its freshness policy, the schedules are on, and the launchpad
explains the sync options. Two sync runs on the simulator queue one behind the other and leave
every asset fresh. A headless Chromium renders the asset graph and an asset page. Finally
`dagster dev` stops on SIGTERM without leaving a process behind.

The tests share one server and run in file order (the browser test expects the synced runs).
Screenshots and the server log go to `test-artifacts/e2e/`.
"""

from __future__ import annotations

import time

import dagster as dg
import duckdb
import pytest

from testio_pipeline.defs.freshness import window_for
from testio_pipeline.defs.schedules import FULL_REFRESH_RUN_CONFIG, SCHEDULES, SYNC_TAG_KEY

from .browser import (
    PAGE_TIMEOUT_MS,
    VIEWPORT,
    chromium,
    open_page,
    zoom_out_until_shown,
)
from .conftest import ARTIFACTS, DagsterDev
from .graphql import (
    ASSET_NODES,
    RUN_CONFIG_TYPES,
    asset_key,
    job_selector,
    launch,
    repository,
    wait_for_success,
)

pytestmark = pytest.mark.e2e

INGEST_KEYS = {"products", "features", "tests", "test_features", "bugs", "users"}
FRESHNESS_TIMEOUT_SECONDS = 60.0
# what the asset page's freshness section says for a PASS state (Dagster 1.13 UI)
FRESH_LABEL = "Passing"


def test_every_asset_is_described_grouped_kinded_and_under_its_freshness_policy(
    dagster_dev: DagsterDev,
) -> None:
    nodes = dagster_dev.graphql(ASSET_NODES)["assetNodes"]
    by_key = {asset_key(node): node for node in nodes}

    assert INGEST_KEYS <= set(by_key), sorted(by_key)
    problems = []
    for key, node in sorted(by_key.items()):
        if not (node["description"] or "").strip():
            problems.append(f"{key}: no description")
        if not node["groupName"] or node["groupName"] == "default":
            problems.append(f"{key}: no group")
        if not node["kinds"]:
            problems.append(f"{key}: no kinds")
        if not node["jobNames"]:
            problems.append(f"{key}: in no job, so no schedule refreshes it")
        window = window_for(dg.AssetKey(key.split("/")), node["groupName"])
        expected = window and {
            "__typename": "TimeWindowFreshnessPolicy",
            "failWindowSeconds": int(window.fail.total_seconds()),
            "warnWindowSeconds": int(window.warn.total_seconds()),
        }
        if not expected or node["internalFreshnessPolicy"] != expected:
            problems.append(
                f"{key}: freshness policy {node['internalFreshnessPolicy']}, expected {expected}"
            )
    assert not problems, "\n".join(problems)


def test_schedules_are_on_by_default_and_tick_in_utc(dagster_dev: DagsterDev) -> None:
    served = {
        s["name"]: (
            s["pipelineName"],
            s["cronSchedule"],
            s["executionTimezone"],
            s["scheduleState"]["status"],
        )
        for s in repository(dagster_dev)["schedules"]
    }

    assert served == {s.name: (s.job_name, s.cron_schedule, "UTC", "RUNNING") for s in SCHEDULES}


def test_launchpad_explains_full_refresh_and_the_product_filter(dagster_dev: DagsterDev) -> None:
    selector = job_selector(dagster_dev, "incremental_sync_job")
    data = dagster_dev.graphql(RUN_CONFIG_TYPES, {"selector": selector})["runConfigSchemaOrError"]
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


def test_sync_runs_on_the_simulator_queue_one_behind_the_other_and_leave_every_asset_fresh(
    dagster_dev: DagsterDev,
) -> None:
    # the first run must create every table, so it is the nightly job (everything, full
    # refresh) with the run config its schedule sends; the 15-minute job is launched right
    # behind it and must wait in the queue (one `testio/sync` run at a time)
    started = time.monotonic()
    full_id = launch(dagster_dev, "full_reconciliation_job", dict(FULL_REFRESH_RUN_CONFIG))
    incremental_id = launch(dagster_dev, "incremental_sync_job", {})
    full = wait_for_success(dagster_dev, full_id)
    print(f"full_reconciliation_job done after {time.monotonic() - started:.1f}s")
    incremental = wait_for_success(dagster_dev, incremental_id)
    print(f"incremental_sync_job done after {time.monotonic() - started:.1f}s")

    assert {"key": SYNC_TAG_KEY, "value": "full"} in full["tags"]
    assert {"key": SYNC_TAG_KEY, "value": "incremental"} in incremental["tags"]
    assert incremental["startTime"] >= full["endTime"], (full, incremental)

    def all_fresh() -> dict[str, str] | None:
        nodes = dagster_dev.graphql(ASSET_NODES)["assetNodes"]
        status = {
            asset_key(n): (n["freshnessStatusInfo"] or {}).get("freshnessStatus") for n in nodes
        }
        return status if set(status.values()) == {"HEALTHY"} else None

    dagster_dev.wait_for(
        "the freshness daemon to mark every asset HEALTHY (PASS)",
        all_fresh,
        FRESHNESS_TIMEOUT_SECONDS,
        interval=2.0,
    )
    with duckdb.connect(str(dagster_dev.duckdb_path), read_only=True) as con:
        counts = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("products", "bugs", "feature_bug_density")
        }
    assert all(counts.values()), counts


def test_chromium_renders_the_asset_graph_and_a_fresh_asset_page(dagster_dev: DagsterDev) -> None:
    location = repository(dagster_dev)["location"]["name"]
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)

        # the global lineage: one collapsed node per group
        open_page(page, dagster_dev, "/asset-groups", "analytics")
        page.get_by_text("ingest", exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_text("fetching statuses").first.wait_for(
            state="detached", timeout=PAGE_TIMEOUT_MS
        )
        page.screenshot(path=str(ARTIFACTS / "asset-groups.png"))

        # the ingest group's lineage: every asset as a node
        open_page(page, dagster_dev, f"/locations/{location}/asset-groups/ingest", "products")
        missing = zoom_out_until_shown(page, INGEST_KEYS)
        page.screenshot(path=str(ARTIFACTS / "ingest-lineage.png"))
        assert not missing, f"the ingest lineage never showed {missing}"

        # an asset page: its policy, its materialization, a freshness state that passes
        open_page(page, dagster_dev, "/assets/bugs", "Warns if more than 20 minutes")
        page.get_by_text(FRESH_LABEL, exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        asset_text = page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "asset-bugs.png"), full_page=True)
        assert "Fails if more than" in asset_text
        assert "Never materialized" not in asset_text
        assert "Not evaluated" not in asset_text


def test_the_ranking_is_on_the_density_page_without_a_click_and_columns_are_described(
    dagster_dev: DagsterDev,
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        open_page(page, dagster_dev, "/assets/feature_bug_density", "most_fragile_features_table")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(ARTIFACTS / "asset-feature_bug_density.png"), full_page=True)
        text = page.inner_text("body")
        # the embedded simulator's #1 and its product's name, with no click
        assert "[Sharing] Image editor" in text and "Canva" in text, text[:3000]

        # an ingest table's columns carry their descriptions
        open_page(page, dagster_dev, "/assets/tests", "is_final")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "asset-tests-columns.png"), full_page=True)
        assert "archived and cancelled" in page.inner_text("body")

        # the report a QA lead opens or shares
        report = dagster_dev.duckdb_path.parent / "reports" / "fragile_features.html"
        page.goto(report.as_uri())
        page.get_by_text("Most fragile features").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        page.screenshot(path=str(ARTIFACTS / "report-fragile_features.png"), full_page=True)
        assert "Canva" in page.inner_text("body")


def test_dagster_dev_stops_cleanly_without_leaving_a_process(dagster_dev: DagsterDev) -> None:
    assert dagster_dev.descendants, "no child process of dagster dev was ever seen"

    leftovers = dagster_dev.stop()

    assert not leftovers, "processes outlived SIGTERM to dagster dev:\n" + "\n".join(leftovers)
    assert dagster_dev.process.returncode == 0
    log = dagster_dev.log_path.read_text(errors="replace")
    assert "Dagster services shut down." in log, dagster_dev.log_tail()
