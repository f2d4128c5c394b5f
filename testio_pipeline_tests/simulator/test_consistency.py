"""The consistency rules the pipeline depends on, checked on API answers over time."""

from __future__ import annotations

from collections import defaultdict

import pytest

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.simulator.conftest import client_for
from testio_pipeline_tests.simulator.crawl import all_tests, utc

FINAL = {"archived", "cancelled"}


def _tests_and_bugs(client):
    products = client.get("/products").json()["products"]
    tests = {t["id"]: t for p in products for t in all_tests(client, p["id"])}
    return tests, client.get("/bugs").json()["bugs"]


def test_test_features_are_snapshots_of_catalog_features_of_the_same_product(sim):
    ever = {f.id: f for p in sim.account.products for f in p.features}
    with client_for(sim) as client:
        tests, _ = _tests_and_bugs(client)
    for t in tests.values():
        for tf in t["features"]:
            feature = ever[tf["feature_id"]]
            assert feature.product_id == t["product"]["id"]
            # the title the feature had when the test was created
            assert tf["title"] in {title for _, title in feature.titles}


def test_test_feature_ids_are_unique_and_grow_with_creation_time(sim):
    sim.advance(days=10)
    with client_for(sim) as client:
        tests, _ = _tests_and_bugs(client)
    ids = [tf["id"] for tid in sorted(tests) for tf in tests[tid]["features"]]
    assert len(ids) == len(set(ids))
    # test ids grow with creation time, so test-feature ids grow with test ids
    assert ids == sorted(ids)


def test_bugs_link_to_a_feature_snapshot_of_their_own_test(sim):
    with client_for(sim) as client:
        tests, bugs = _tests_and_bugs(client)
    linked = 0
    for b in bugs:
        test = tests[b["test"]["id"]]
        assert b["product"]["id"] == test["product"]["id"]
        link = b.get("test_feature")
        if link is None:
            assert b["feature"] is None
            continue
        linked += 1
        snapshot = next(tf for tf in test["features"] if tf["id"] == link["id"])
        assert link["feature_id"] == snapshot["feature_id"]
        assert b["feature"]["id"] == snapshot["feature_id"] and b["feature"]["title"] == snapshot["title"]
    assert linked > 0.9 * len(bugs)


def test_test_feature_bug_ids_list_the_bugs_linked_to_that_snapshot(sim):
    with client_for(sim) as client:
        tests, bugs = _tests_and_bugs(client)
    by_snapshot = defaultdict(set)
    for b in bugs:
        if b.get("test_feature"):
            by_snapshot[b["test_feature"]["id"]].add(b["id"])
    for t in tests.values():
        for tf in t["features"]:
            assert set(tf["bug_ids"]) == by_snapshot.get(tf["id"], set())
            assert tf["bugs_found"] == len(tf["bug_ids"])


@pytest.mark.parametrize("days", [45])
def test_final_tests_never_change_and_get_no_new_bugs(days):
    sim = Simulator(SimulatorConfig(seed=3))
    with client_for(sim) as client:
        before, bugs_before = _tests_and_bugs(client)
        final = {tid for tid, t in before.items() if t["status"] in FINAL}
        bodies = {tid: client.get("/bugs", params={"filter_test_cycle_ids": str(tid)}).content for tid in final}
        tests_before = {tid: client.get(f"/exploratory_tests/{tid}").content for tid in final}
        sim.advance(days=days)
        for tid in final:
            assert client.get("/bugs", params={"filter_test_cycle_ids": str(tid)}).content == bodies[tid]
            assert client.get(f"/exploratory_tests/{tid}").content == tests_before[tid]
    assert len(final) > 100


def test_a_test_is_archived_only_after_all_its_bugs_are_decided():
    sim = Simulator(SimulatorConfig(seed=4))
    with client_for(sim) as client:
        tests, bugs = _tests_and_bugs(client)
    archived = {tid for tid, t in tests.items() if t["status"] == "archived"}
    assert archived and not [b for b in bugs if b["test"]["id"] in archived and b["status"] == "forwarded"]
    # the truth equals the API (test_ground_truth), so later instants are checked on it
    for _ in range(8):
        sim.advance(days=3)
        truth = sim.ground_truth()
        archived = {tid for tid, t in truth.tests.items() if t.status == "archived"}
        assert not [b for b in truth.bugs.values() if b.test_id in archived and b.status == "forwarded"]


def test_bugs_are_decided_within_ten_days_and_auto_accepted_after_ten(sim):
    cols = sim.account.bugs.cols
    waited = cols["decided_at"] - cols["reported_at"]
    assert waited.min() > 0 and waited.max() <= 10 * 86400
    auto = cols["fate"] == 1
    assert (waited[auto] == 10 * 86400).all()
    with client_for(sim) as client:
        bugs = client.get("/bugs").json()["bugs"]
    now = sim.now
    for b in bugs:
        if b["status"] == "forwarded":
            assert (now - utc(b["reported_at"])).total_seconds() < 10 * 86400
        if b["auto_accepted"]:
            assert b["status"] == "accepted"


def test_tests_that_have_not_started_have_no_bugs(sim):
    with client_for(sim) as client:
        tests, bugs = _tests_and_bugs(client)
    with_bugs = {b["test"]["id"] for b in bugs}
    not_started = {tid for tid, t in tests.items() if t["status"] in ("initialized", "waiting", "cancelled")}
    assert not_started and not with_bugs & not_started
    for b in bugs:
        test = tests[b["test"]["id"]]
        assert utc(test["start_at"]) <= utc(b["reported_at"]) < utc(test["end_at"])


def test_test_ids_grow_with_creation_time(sim):
    created = [t.life.created_at for t in sorted(sim.account.tests, key=lambda t: t.id)]
    assert created == sorted(created)
    sim.advance(days=30)
    created = [t.life.created_at for t in sorted(sim.account.tests, key=lambda t: t.id)]
    assert created == sorted(created)
