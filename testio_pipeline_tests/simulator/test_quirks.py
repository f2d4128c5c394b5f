"""Every quirk of reference §5 the read path can meet, one test each."""

from __future__ import annotations

import re
from collections import Counter

import httpx
import pytest

from testio_pipeline.testio import settings
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.simulator.conftest import client_for
from testio_pipeline_tests.simulator.crawl import all_tests, utc


@pytest.fixture(scope="module")
def sim() -> Simulator:
    """One account for the whole module: these tests only read, and share its render caches."""
    return Simulator(SimulatorConfig(size="small", seed=1))


def _products(client: httpx.Client) -> list[dict]:
    return client.get("/products").json()["products"]


def _sectioned(client: httpx.Client) -> list[dict]:
    return [p for p in _products(client) if p["sections"]]


def _swd_only(client: httpx.Client) -> list[dict]:
    return [p for p in _products(client) if not p["sections"] and len(p["sections_with_default"]) > 1]


def _legacy(client: httpx.Client) -> list[dict]:
    return [p for p in _products(client) if not p["sections"] and len(p["sections_with_default"]) == 1]


def _all_listed_tests(client: httpx.Client) -> list[dict]:
    return [t for p in _products(client) for t in all_tests(client, p["id"])]


def test_account_has_every_section_layout(client):
    sectioned, swd_only, legacy = _sectioned(client), _swd_only(client), _legacy(client)
    assert len(sectioned) >= 2 and swd_only and legacy
    for p in sectioned:
        assert p["sections"] == p["sections_with_default"] and len(p["sections"]) >= 2
    for p in legacy:
        assert p["sections"] == [] and p["sections_with_default"][0]["name"] == "default-section"
        assert p["default_section_id"] == p["sections_with_default"][0]["id"]
    assert Counter(len(p["sections"]) for p in sectioned).most_common(1)[0][0] == 2


def test_features_are_shared_across_sections(client):
    shared = 0
    for p in _sectioned(client) + _swd_only(client):
        sections = p["sections"] or p["sections_with_default"]
        seen = Counter(
            f["id"] for s in sections
            for f in client.get(f"/products/{p['id']}/sections/{s['id']}/features").json()["features"]
        )
        shared += sum(1 for n in seen.values() if n > 1)
    assert shared > 0


def test_product_features_answers_422_for_products_with_sections_in_legacy_mode(client):
    for p in _sectioned(client) + _swd_only(client):
        r = client.get(f"/products/{p['id']}/features")
        assert r.status_code == 422
        assert "section_id" in r.json()["error"]


def test_product_features_returns_all_features_once_in_returns_all_mode():
    sim = Simulator(SimulatorConfig(features_endpoint="returns_all"))
    with client_for(sim) as client:
        for p in _sectioned(client) + _swd_only(client):
            listed = client.get(f"/products/{p['id']}/features").json()["features"]
            ids = [f["id"] for f in listed]
            assert len(ids) == len(set(ids))
            union = {
                f["id"] for s in p["sections_with_default"]
                for f in client.get(f"/products/{p['id']}/sections/{s['id']}/features").json()["features"]
            }
            assert set(ids) == union


@pytest.mark.parametrize("mode", ["legacy_422", "returns_all"])
def test_product_features_always_works_for_products_without_sections(mode):
    sim = Simulator(SimulatorConfig(features_endpoint=mode))
    with client_for(sim) as client:
        for p in _legacy(client):
            r = client.get(f"/products/{p['id']}/features")
            assert r.status_code == 200 and r.json()["features"]


def test_user_stories_need_section_id_on_products_with_sections(client):
    p = _sectioned(client)[0]
    assert client.get(f"/products/{p['id']}/user_stories").status_code == 500
    sid = p["sections"][0]["id"]
    answer = client.get(f"/products/{p['id']}/user_stories", params={"section_id": sid})
    stories = answer.json()["user_stories"]
    assert stories and set(stories[0]) == {"id", "path", "title"}
    legacy = _legacy(client)[0]["id"]
    assert client.get(f"/products/{legacy}/user_stories").status_code == 200


def test_includes_user_stories_gives_story_objects_when_honoured(client):
    p = _legacy(client)[0]["id"]
    plain = client.get(f"/products/{p}/features").json()["features"]
    rich = client.get(f"/products/{p}/features", params={"includes[]": "user_stories"}).json()["features"]
    with_stories = [(a, b) for a, b in zip(plain, rich) if a["user_stories"]]
    assert with_stories
    for a, b in with_stories:
        assert all(isinstance(s, str) for s in a["user_stories"])
        assert [s["title"] for s in b["user_stories"]] == a["user_stories"]
        for story in b["user_stories"]:
            assert set(story) == {"id", "path", "title", "feature_id"} and story["feature_id"] == b["id"]
    params = {"page": 1, "includes[]": "user_stories"}
    test = client.get(f"/products/{p}/exploratory_tests", params=params).json()
    stories = [s for t in test["exploratory_tests"] for tf in t["features"] for s in tf["user_stories"] or ()]
    assert stories and all(isinstance(s, dict) and "user_story_version_id" in s for s in stories)


def test_includes_user_stories_gives_strings_when_not_honoured():
    sim = Simulator(SimulatorConfig(honour_includes=False))
    with client_for(sim) as client:
        p = _legacy(client)[0]["id"]
        rich = client.get(f"/products/{p}/features", params={"includes[]": "user_stories"}).json()["features"]
        assert any(f["user_stories"] for f in rich)
        assert all(isinstance(s, str) for f in rich for s in f["user_stories"])


def test_tests_are_listed_newest_first_by_end_at_then_id(client):
    for p in _products(client):
        tests = all_tests(client, p["id"])
        keys = [(utc(t["end_at"]), t["id"]) for t in tests]
        assert keys == sorted(keys, reverse=True)


def test_ties_on_end_at_are_ordered_by_id_desc_across_page_boundaries(client):
    ties = 0
    for p in _products(client):
        # a small page size puts tied tests on different pages
        tests = all_tests(client, p["id"], per_page=3)
        by_end = Counter(t["end_at"] for t in tests)
        for end_at, n in by_end.items():
            if n > 1:
                ties += 1
                ids = [t["id"] for t in tests if t["end_at"] == end_at]
                assert ids == sorted(ids, reverse=True)
        assert len({t["id"] for t in tests}) == len(tests)
    assert ties > 0, "tests start and end on the hour, so ties occur"


def test_test_pages_carry_no_pagination_metadata(client):
    pid = _sectioned(client)[0]["id"]
    r = client.get(f"/products/{pid}/exploratory_tests", params={"page": 1, "per_page": 10})
    assert list(r.json()) == ["exploratory_tests"] and len(r.json()["exploratory_tests"]) == 10
    assert not {"link", "x-total", "x-total-count", "x-page", "x-per-page"} & {h.lower() for h in r.headers}


def test_listing_without_page_returns_only_the_newest_150(client):
    biggest = max(_products(client), key=lambda p: len(all_tests(client, p["id"])))
    everything = all_tests(client, biggest["id"])
    assert len(everything) > settings.TESTS_PER_PAGE * 6
    unpaged = client.get(f"/products/{biggest['id']}/exploratory_tests").json()["exploratory_tests"]
    assert len(unpaged) == 150 and unpaged == everything[:150]
    # per_page alone does not page: the default 25 applies only together with `page`
    assert client.get(f"/products/{biggest['id']}/exploratory_tests", params={"per_page": 10}).json() == {
        "exploratory_tests": unpaged
    }
    paged = client.get(f"/products/{biggest['id']}/exploratory_tests", params={"page": 2})
    assert paged.json()["exploratory_tests"] == everything[25:50]


def test_listing_without_page_is_complete_when_truncation_is_off():
    sim = Simulator(SimulatorConfig(truncate_unpaged_tests=False))
    with client_for(sim) as client:
        pid = max(sim.account.products, key=lambda p: p.weight).id
        unpaged = client.get(f"/products/{pid}/exploratory_tests").json()["exploratory_tests"]
        assert len(unpaged) == len(all_tests(client, pid)) > 150


def test_status_filter_is_ignored(client):
    pid = _sectioned(client)[0]["id"]
    plain = client.get(f"/products/{pid}/exploratory_tests", params={"page": 1})
    filtered = client.get(f"/products/{pid}/exploratory_tests", params={"page": 1, "status": "archived"})
    assert filtered.content == plain.content
    assert {t["status"] for t in filtered.json()["exploratory_tests"]} != {"archived"}


def test_timestamps_carry_local_offsets(client):
    tests = _all_listed_tests(client)
    offsets = Counter(t["start_at"][-6:] for t in tests)
    assert {"+01:00", "+02:00"} <= set(offsets)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", t["end_at"]) for t in tests)
    bug = client.get("/bugs").json()["bugs"][0]
    assert bug["reported_at"][-6] in "+-"


def test_nullable_fields_are_sometimes_null(client):
    tests = _all_listed_tests(client)
    tfs = [tf for t in tests for tf in t["features"]]
    for flag in ("enable_default", "enable_content", "enable_visual"):
        assert {tf[flag] for tf in tfs} == {True, False, None} or {tf[flag] for tf in tfs} == {True, None}
    assert any(tf["user_stories"] is None for tf in tfs)
    assert any(t["created_by"] is None for t in tests) and any(t["submitted_by"] is None for t in tests)
    features = [
        f for p in _legacy(client) for f in client.get(f"/products/{p['id']}/features").json()["features"]
    ]
    assert any(f["description"] is None for f in features) and any(f["howtofind"] is None for f in features)
    bugs = client.get("/bugs").json()["bugs"]
    assert any("test_feature" not in b for b in bugs)
    assert any("test_feature" in b and b["test_feature"] is None for b in bugs)
    results = [b[k] for b in bugs for k in ("expected_result", "actual_result")]
    assert None in results and "" in results
    assert any(isinstance(r, str) and r and not r.strip() for r in results)


def test_deleted_features_are_still_referenced_by_old_tests_and_bugs(sim, client):
    truth = sim.ground_truth()
    catalog = set(truth.features)
    tests = _all_listed_tests(client)
    orphan_snapshots = {tf["feature_id"] for t in tests for tf in t["features"]} - catalog
    assert orphan_snapshots
    bugs = client.get("/bugs").json()["bugs"]
    assert any(b.get("test_feature") and b["test_feature"]["feature_id"] in orphan_snapshots for b in bugs)


def test_renamed_features_keep_their_old_title_in_test_snapshots(sim, client):
    catalog = {k: f.title for k, f in sim.ground_truth().features.items()}
    tfs = [tf for t in _all_listed_tests(client) for tf in t["features"] if tf["feature_id"] in catalog]
    assert any(tf["title"] != catalog[tf["feature_id"]] for tf in tfs)
    assert sum(tf["title"] == catalog[tf["feature_id"]] for tf in tfs) > len(tfs) / 2


def test_bug_steps_are_mostly_lists_and_sometimes_one_string(client):
    bugs = client.get("/bugs").json()["bugs"]
    kinds = Counter(type(b["steps"]).__name__ for b in bugs)
    assert set(kinds) == {"list", "str"} and kinds["list"] > 5 * kinds["str"]


def test_only_known_statuses_appear_by_default(client):
    statuses = {t["status"] for t in _all_listed_tests(client)}
    assert statuses <= set(settings.TEST_STATUSES)
    assert {"running", "locked", "archived", "customer_finalized", "initialized"} <= statuses


def test_story_titles_repeat_across_features_so_title_matching_is_ambiguous(sim):
    titles = Counter(s.title for p in sim.account.products for f in p.features for s in f.stories)
    assert any(n > 1 for n in titles.values())


def test_unknown_statuses_appear_only_when_asked_for_and_count_as_not_final():
    sim = Simulator(SimulatorConfig(unknown_status_rate=0.3))
    with client_for(sim) as client:
        statuses = Counter(t["status"] for t in _all_listed_tests(client))
    assert {"completed", "pending"} <= set(statuses)
    truth = sim.ground_truth()
    assert Counter(t.status for t in truth.tests.values()) == statuses
    assert not any(t.is_final for t in truth.tests.values() if t.status in ("completed", "pending"))
