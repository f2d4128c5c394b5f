"""The ground truth equals what a complete crawl of the API finds, and is internally consistent."""

from __future__ import annotations

from collections import Counter

import pytest

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.simulator.conftest import client_for
from testio_pipeline_tests.simulator.crawl import crawl, first_differences, truth_tables


@pytest.mark.parametrize(("seed", "advance_days"), [(1, 0), (2, 9)])
def test_ground_truth_equals_a_complete_crawl_of_the_api(seed, advance_days):
    sim = Simulator(SimulatorConfig(size="small", seed=seed))
    sim.advance(days=advance_days)
    with client_for(sim) as client:
        found = crawl(client)
    expected = truth_tables(sim.ground_truth())
    for table in ("products", "features", "tests", "test_features", "bugs"):
        assert found[table] == expected[table], (table, first_differences(found[table], expected[table]))


def test_density_sums_equal_the_attributed_bug_count(sim):
    truth = sim.ground_truth()
    rows = truth.feature_bug_density.values()
    assert sum(r.bugs_total for r in rows) == truth.attributed_bug_count
    assert truth.attributed_bug_count + truth.unattributed_bug_count == len(truth.bugs)
    assert truth.unattributed_bug_count > 0  # bugs without test_feature exist and are kept
    assert sum(r.valid_bugs for r in rows) == sum(
        1 for b in truth.bugs.values() if b.feature_id is not None and b.status != "rejected"
    )
    for r in rows:
        assert r.valid_bugs == r.bugs_total - r.rejected_bugs
        assert r.accepted_bugs + r.rejected_bugs + r.forwarded_bugs == r.bugs_total
        functional = r.critical_bugs + r.high_bugs + r.low_bugs
        assert functional + r.visual_bugs + r.content_bugs + r.custom_bugs == r.valid_bugs


def test_density_has_one_row_per_catalog_feature_and_per_referenced_missing_feature(sim):
    truth = sim.ground_truth()
    referenced = {tf.feature_id for tf in truth.test_features.values()}
    assert set(truth.feature_bug_density) == set(truth.features) | referenced
    untested = set(truth.features) - referenced
    assert untested, "the small account has catalog features no test covers"
    for fid in untested:
        row = truth.feature_bug_density[fid]
        assert row.in_catalog and row.tests_covered == 0 and row.bug_density is None
    missing = referenced - set(truth.features)
    assert missing, "deleted features still referenced by tests"
    for fid in missing:
        row = truth.feature_bug_density[fid]
        latest = max((k for k, tf in truth.test_features.items() if tf.feature_id == fid))
        assert not row.in_catalog
        assert row.feature_title == truth.test_features[latest].title


def test_density_of_one_feature_follows_the_contract(sim):
    truth = sim.ground_truth()
    fid, row = max(truth.feature_bug_density.items(), key=lambda item: item[1].bugs_total)
    mine = [b for b in truth.bugs.values() if b.feature_id == fid]
    covered = {tf.test_id for tf in truth.test_features.values() if tf.feature_id == fid}
    valid = [b for b in mine if b.status != "rejected"]
    assert row.tests_covered == len(covered)
    assert row.bugs_total == len(mine)
    assert row.valid_bugs == len(valid)
    assert row.critical_bugs == sum(b.severity == "critical" for b in valid)
    assert row.bug_density == pytest.approx(len(valid) / len(covered))
    assert row.feature_title == truth.features[fid].title  # the catalog title, not a snapshot's


def test_excluding_tests_drops_their_rows_and_recomputes_density(sim):
    truth = sim.ground_truth()
    counts = Counter(b.test_id for b in truth.bugs.values())
    dropped = {tid for tid, _ in counts.most_common(5)}
    smaller = truth.excluding_tests(dropped)
    assert not dropped & set(smaller.tests)
    assert all(tf.test_id not in dropped for tf in smaller.test_features.values())
    assert all(b.test_id not in dropped for b in smaller.bugs.values())
    assert len(smaller.bugs) == len(truth.bugs) - sum(counts[t] for t in dropped)
    assert sum(r.bugs_total for r in smaller.feature_bug_density.values()) == smaller.attributed_bug_count
    assert smaller.attributed_bug_count < truth.attributed_bug_count
    assert smaller.products == truth.products and smaller.features == truth.features


def test_users_are_derived_from_bug_authors_and_test_customers(sim):
    truth = sim.ground_truth()
    testers = {k: u for k, u in truth.users.items() if k[1] == "tester"}
    customers = {k: u for k, u in truth.users.items() if k[1] == "customer"}
    assert sum(u.bugs_reported for u in testers.values()) == len(truth.bugs)
    assert {k[0] for k in testers} == {b.author_name for b in truth.bugs.values()}
    named = {t.created_by for t in truth.tests.values()} | {t.submitted_by for t in truth.tests.values()}
    assert {k[0] for k in customers} == named - {None}
    assert sum(u.tests_created for u in customers.values()) == sum(
        t.created_by is not None for t in truth.tests.values()
    )


def test_ground_truth_is_a_snapshot_of_its_instant(sim):
    before = sim.ground_truth()
    counts = before.counts()
    sim.advance(days=20)
    after = sim.ground_truth()
    assert before.counts() == counts
    assert after.at > before.at
    assert after.counts()["tests"] > counts["tests"] and after.counts()["bugs"] > counts["bugs"]
    tables = {
        "products", "features", "tests", "test_features", "bugs", "users", "feature_bug_density",
        "test_feature_stories",
    }
    assert set(counts) == tables


def test_ground_truth_timestamps_are_aware_utc(sim):
    truth = sim.ground_truth()
    test = next(iter(truth.tests.values()))
    bug = next(iter(truth.bugs.values()))
    for value in (test.start_at, test.end_at, bug.reported_at, truth.at):
        assert value.utcoffset() is not None and value.utcoffset().total_seconds() == 0
    assert truth.customer_id == 1 and sim.ground_truth(customer_id=7).customer_id == 7
