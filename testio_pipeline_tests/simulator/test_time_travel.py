"""Time travel changes the account the way real life does, and only forward."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from testio_pipeline.testio.simulator import CLOCK_START, Simulator, SimulatorConfig
from testio_pipeline_tests.simulator.conftest import client_for
from testio_pipeline_tests.simulator.crawl import all_tests

ORDER = ["initialized", "waiting", "running", "locked", "customer_finalized", "archived"]


def _statuses(sim: Simulator) -> dict[int, str]:
    return {tid: t.status for tid, t in sim.ground_truth().tests.items()}


def test_clock_starts_at_a_fixed_instant_whatever_the_seed():
    assert CLOCK_START == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    for seed in (1, 99):
        assert Simulator(SimulatorConfig(seed=seed)).now == CLOCK_START


def test_advance_takes_hours_days_or_a_timedelta_and_never_goes_back(sim):
    sim.advance(hours=2)
    sim.advance(days=1)
    sim.advance(timedelta(minutes=30))
    assert sim.now == CLOCK_START + timedelta(days=1, hours=2, minutes=30)
    assert sim.now.tzinfo is not None
    with pytest.raises(ValueError):
        sim.advance(hours=-1)


def test_new_tests_appear_first_in_the_listing(sim, client):
    before = set(sim.ground_truth().tests)
    sim.advance(days=10)
    after = sim.ground_truth().tests
    new = set(after) - before
    assert len(new) >= 10
    product = after[min(new)].product_id
    listed = all_tests(client, product)
    new_positions = [i for i, t in enumerate(listed) if t["id"] in new]
    not_started = ("initialized", "waiting")
    old_positions = [i for i, t in enumerate(listed) if t["id"] not in new and t["status"] not in not_started]
    # new tests end later than every test that already ran
    assert max(new_positions) < min(old_positions)
    young = ("initialized", "waiting", "running", "locked", "cancelled")
    assert all(t["status"] in young for t in listed if t["id"] in new)


def test_statuses_only_progress_toward_archived():
    sim = Simulator(SimulatorConfig(seed=5))
    history = [_statuses(sim)]
    for _ in range(6):
        sim.advance(days=5)
        history.append(_statuses(sim))
    moves = Counter()
    for before, after in zip(history, history[1:]):
        for tid, old in before.items():
            new = after[tid]
            if old == new:
                continue
            moves[(old, new)] += 1
            assert old not in ("archived", "cancelled"), (tid, old, new)
            if new != "cancelled":
                assert ORDER.index(new) > ORDER.index(old), (tid, old, new)
    changed = {old for old, _ in moves} | {new for _, new in moves}
    assert {"initialized", "waiting", "running", "locked", "customer_finalized", "archived"} <= changed


def test_some_tests_stay_locked_for_a_long_time(sim):
    locked = {tid for tid, s in _statuses(sim).items() if s == "locked"}
    sim.advance(days=90)
    still = {tid for tid, s in _statuses(sim).items() if s == "locked"} & locked
    assert still and len(still) < len(locked)


def test_new_bugs_are_reported_on_running_tests(sim):
    before = sim.ground_truth()
    running = {tid for tid, t in before.tests.items() if t.status == "running"}
    sim.advance(hours=12)
    after = sim.ground_truth()
    new = [b for bid, b in after.bugs.items() if bid not in before.bugs]
    assert new
    for b in new:
        test = after.tests[b.test_id]
        assert test.start_at <= b.reported_at <= sim.now
        assert b.status == "forwarded" or b.reported_at < sim.now - timedelta(minutes=1)
    assert {b.test_id for b in new} & running


def test_forwarded_bugs_get_accepted_or_rejected_within_ten_days(sim):
    before = sim.ground_truth()
    forwarded = {bid for bid, b in before.bugs.items() if b.status == "forwarded"}
    assert len(forwarded) > 20
    sim.advance(days=10, hours=1)
    after = sim.ground_truth().bugs
    outcomes = Counter((after[bid].status, after[bid].auto_accepted) for bid in forwarded)
    assert set(outcomes) == {("accepted", False), ("accepted", True), ("rejected", False)}


def test_features_are_renamed_added_and_removed_over_time(sim):
    before = sim.ground_truth().features
    sim.advance(days=21)
    after = sim.ground_truth().features
    assert set(before) - set(after), "removed"
    assert set(after) - set(before), "added"
    assert any(before[k].title != after[k].title for k in set(before) & set(after)), "renamed"
    assert min(set(after) - set(before)) > max(before)  # new features get new, larger ids


def test_new_tests_snapshot_renamed_titles_and_new_features(sim):
    titles_at_start = {k: f.title for k, f in sim.ground_truth().features.items()}
    old_tests = set(sim.ground_truth().tests)
    sim.advance(days=60)
    truth = sim.ground_truth()
    fresh = [tf for tf in truth.test_features.values() if tf.test_id not in old_tests]
    assert fresh
    # a snapshot taken after a rename carries the new title
    assert any(tf.title != titles_at_start.get(tf.feature_id, tf.title) for tf in fresh)
    # features added after the start are tested too
    assert {tf.feature_id for tf in fresh} - set(titles_at_start) - {
        tf.feature_id for tf in truth.test_features.values() if tf.test_id in old_tests
    }


def test_advancing_in_steps_equals_advancing_at_once():
    one, steps = Simulator(SimulatorConfig(seed=8)), Simulator(SimulatorConfig(seed=8))
    one.advance(days=17, hours=5)
    for _ in range(17):
        steps.advance(days=1)
    steps.advance(hours=5)
    assert one.now == steps.now
    with client_for(one) as a, client_for(steps) as b:
        pid = one.account.products[0].id
        requests = [("/products", {}), (f"/products/{pid}/exploratory_tests", {"page": 1}), ("/bugs", {})]
        for path, params in requests:
            assert a.get(path, params=params).content == b.get(path, params=params).content
    assert one.ground_truth().counts() == steps.ground_truth().counts()


def _test_bodies(sim: Simulator) -> dict[str, bytes]:
    """Every test as listed (all products, one page each) and as fetched alone."""
    bodies = {}
    with client_for(sim) as client:
        for product in sim.account.products:
            path = f"/products/{product.id}/exploratory_tests"
            bodies[path] = client.get(path, params={"page": 1, "per_page": 10_000}).content
        for test_id in sim.ground_truth().tests:
            bodies[f"/exploratory_tests/{test_id}"] = client.get(f"/exploratory_tests/{test_id}").content
    return bodies


def test_tests_rendered_before_time_travel_show_their_new_bugs_and_status_after_it():
    # the rendered-test cache must key on everything `advance` changes: a running test keeps its
    # status while it gets new bugs, so its status alone is not enough
    warm, cold = Simulator(SimulatorConfig(seed=7)), Simulator(SimulatorConfig(seed=7))
    before = _test_bodies(warm)
    counts_before = Counter(b.test_id for b in warm.ground_truth().bugs.values())
    statuses_before = _statuses(warm)
    for sim in (warm, cold):
        sim.advance(hours=12)
    counts_after = Counter(b.test_id for b in warm.ground_truth().bugs.values())
    same_status_new_bugs = [
        tid for tid, status in _statuses(warm).items()
        if statuses_before.get(tid) == status and counts_after[tid] > counts_before[tid]
    ]
    assert same_status_new_bugs  # the case a status-only cache key gets wrong
    after = _test_bodies(warm)
    assert after == _test_bodies(cold)
    assert all(before[f"/exploratory_tests/{tid}"] != after[f"/exploratory_tests/{tid}"]
               for tid in same_status_new_bugs)
