"""The 2026 execution outcomes the simulator serves, and the switch that serves the older API."""

from __future__ import annotations

from collections import Counter

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.testio.simulator.__main__ import config_from_args, parse_args
from testio_pipeline_tests.simulator.conftest import client_for

OUTCOME_KEYS = {"execution_status", "tester_count", "bugs_found", "bug_ids"}
STORY_OUTCOME_KEYS = {"user_story_version_id", "execution_status", "tested_by_count", "bugs_found", "bug_ids"}


def _listed(sim: Simulator, includes: bool) -> list[dict]:
    query = {"page": 1, "per_page": 100, **({"includes[]": "user_stories"} if includes else {})}
    with client_for(sim) as client:
        tests = []
        for product in client.get("/products").json()["products"]:
            tests += client.get(
                f"/products/{product['id']}/exploratory_tests", params=query
            ).json()["exploratory_tests"]
        return tests


def test_2026_test_features_and_stories_carry_outcomes_that_add_up(sim):
    features = [f for t in _listed(sim, includes=True) for f in t["features"]]
    assert all(OUTCOME_KEYS <= set(f) for f in features)
    assert Counter(f["execution_status"] for f in features).keys() == {
        "not_tested", "passed", "failed", "blocked",
    }
    stories = 0
    for feature in features:
        assert feature["bugs_found"] == len(feature["bug_ids"])
        story_bugs = []
        for story in feature["user_stories"] or []:
            assert STORY_OUTCOME_KEYS <= set(story)
            assert story["bugs_found"] == len(story["bug_ids"])
            story_bugs += story["bug_ids"]
            stories += 1
            if feature["execution_status"] != "failed":
                assert story["execution_status"] == feature["execution_status"]
        if feature["user_stories"]:
            # every bug of the feature is on exactly one of its stories
            assert sorted(story_bugs) == sorted(feature["bug_ids"])
    assert stories > 1000


def test_the_single_get_adds_analytics_that_match_its_features(sim):
    test = next(t for t in _listed(sim, includes=False) if t["status"] == "archived")
    with client_for(sim) as client:
        single = client.get(f"/exploratory_tests/{test['id']}").json()["exploratory_test"]
    analytics, features = single["analytics"], single["features"]
    statuses = Counter(f["execution_status"] for f in features)
    assert analytics["total_features"] == len(features)
    assert analytics["tested_features"] == len(features) - statuses["not_tested"]
    assert (analytics["passed_features"], analytics["failed_features"]) == (statuses["passed"], statuses["failed"])


def test_older_api_switch_omits_every_outcome():
    sim = Simulator(SimulatorConfig(size="small", seed=1, api_2026=False))
    tests = _listed(sim, includes=True)
    features = [f for t in tests for f in t["features"]]
    assert not any(OUTCOME_KEYS & set(f) for f in features)
    # the test listing honours includes[]=user_stories only since 2026: texts
    assert all(isinstance(s, str) for f in features for s in f["user_stories"] or [])
    with client_for(sim) as client:
        single = client.get(f"/exploratory_tests/{tests[0]['id']}").json()["exploratory_test"]
    assert "analytics" not in single


def test_the_cli_serves_2026_by_default_and_the_older_api_on_request():
    assert config_from_args(parse_args([])).api_2026 is True
    assert config_from_args(parse_args(["--api-2025"])).api_2026 is False
