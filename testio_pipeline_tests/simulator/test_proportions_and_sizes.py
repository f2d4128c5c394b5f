"""Realistic proportions (reference §4, §6) and the size targets of small, medium and large."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.testio.simulator.config import SimulatorConfig as Config


@pytest.fixture(scope="module")
def medium():
    sim = Simulator(SimulatorConfig(size="medium", seed=1))
    return sim, sim.ground_truth()


def _shares(counter: Counter, total: int) -> dict[str, float]:
    return {k: v / total for k, v in counter.items()}


def test_test_status_mix_matches_the_reference(medium):
    _, truth = medium
    shares = _shares(Counter(t.status for t in truth.tests.values()), len(truth.tests))
    expected = {"running": 0.05, "locked": 0.30, "archived": 0.475, "customer_finalized": 0.09,
                "initialized": 0.065, "cancelled": 0.01}
    for status, share in expected.items():
        assert shares[status] == pytest.approx(share, abs=0.01), status
    assert 0 < shares["waiting"] <= 0.02


def test_bug_status_mix_matches_the_reference(medium):
    _, truth = medium
    bugs = truth.bugs.values()
    shares = _shares(Counter(b.status for b in bugs), len(truth.bugs))
    assert shares["accepted"] == pytest.approx(0.70, abs=0.03)
    assert shares["rejected"] == pytest.approx(0.26, abs=0.02)
    assert 0.015 <= shares["forwarded"] <= 0.05
    accepted = [b for b in bugs if b.status == "accepted"]
    assert sum(b.auto_accepted for b in accepted) / len(accepted) == pytest.approx(0.28, abs=0.03)
    assert not any(b.auto_accepted for b in bugs if b.status != "accepted")


def test_severity_mix_matches_the_reference(medium):
    _, truth = medium
    shares = _shares(Counter(b.severity for b in truth.bugs.values()), len(truth.bugs))
    expected = {"critical": 0.10, "high": 0.35, "low": 0.30, "visual": 0.15, "content": 0.08, "custom": 0.02}
    for severity, share in expected.items():
        assert shares[severity] == pytest.approx(share, abs=0.015), severity


def test_about_ten_bugs_per_started_test_and_one_to_six_features_per_test(medium):
    _, truth = medium
    started = [k for k, t in truth.tests.items() if t.status not in ("initialized", "waiting", "cancelled")]
    per_test = Counter(b.test_id for b in truth.bugs.values())
    assert 9 <= len(truth.bugs) / len(started) <= 11.5
    assert statistics.pstdev([per_test[t] for t in started]) > 4  # counts vary between tests
    features = Counter(tf.test_id for tf in truth.test_features.values())
    assert set(features.values()) == {1, 2, 3, 4, 5, 6}
    assert set(features) == set(truth.tests)


def test_ids_fall_in_the_observed_ranges(medium):
    _, truth = medium
    assert all(54 <= p <= 25073 for p in truth.products)
    assert all(21855 <= s <= 26000 for p in truth.products.values() for s in p.section_ids)
    assert 94_000 <= min(truth.tests) and max(truth.tests) < 150_000
    assert 177_000 <= min(truth.features) and max(truth.features) < 200_000
    assert 1_040_000 <= min(truth.test_features) < 1_100_000
    assert all(100_000 <= b < 10_000_000 for b in truth.bugs)


def test_pools_of_testers_and_customers_are_modest(medium):
    _, truth = medium
    kinds = Counter(kind for _, kind in truth.users)
    assert 50 <= kinds["tester"] <= 400 and 5 <= kinds["customer"] <= 40


def test_small_is_a_demo_sized_account():
    sim = Simulator(SimulatorConfig(size="small", seed=1))
    counts = sim.ground_truth().counts()
    products = sim.account.products
    assert 8 <= counts["products"] <= 12
    assert sum(1 for p in products if p.sections) >= 2
    assert sum(1 for p in products if not p.sections and len(p.sections_with_default) > 1) >= 1
    assert 200 <= counts["tests"] <= 600 and 2_000 <= counts["bugs"] <= 8_000


def test_sizes_grow_with_the_scale():
    small = Simulator(SimulatorConfig(size="small")).ground_truth().counts()
    between = Simulator(SimulatorConfig(size=2.5)).ground_truth().counts()
    medium = Simulator(SimulatorConfig(size="medium")).ground_truth().counts()
    for table in ("products", "tests", "bugs"):
        assert small[table] < between[table] < medium[table], table


def test_large_has_at_least_100_products_20k_tests_and_200k_bugs():
    sim = Simulator(SimulatorConfig(size="large", seed=1))
    account = sim.account
    assert len(account.products) >= 100
    assert len(account.tests_at(sim.now_epoch)) >= 20_000
    assert int((account.bugs.cols["reported_at"] <= sim.now_epoch).sum()) >= 200_000


@pytest.mark.parametrize("size", ["tiny", -1.0, 0, "nan"])
def test_unknown_sizes_are_rejected(size):
    with pytest.raises(ValueError):
        Config(size=size)


def test_unknown_features_endpoint_mode_is_rejected():
    with pytest.raises(ValueError):
        Config(features_endpoint="sometimes")
