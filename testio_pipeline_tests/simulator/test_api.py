"""Routing, auth, envelopes and the JSON shapes of reference §3."""

from __future__ import annotations

import json

import httpx
import pytest

from testio_pipeline.testio.simulator import SIMULATOR_BASE_URL
from testio_pipeline.testio.simulator.encode import dumps
from testio_pipeline_tests.simulator.conftest import client_for

PRODUCT_KEYS = {
    "id", "name", "description", "type", "default_section_id", "sections", "sections_with_default",
    "connection", "remote_device_testing",
}
TEST_KEYS = {
    "id", "test_title", "title", "status", "review_status", "reviews", "testing_type", "goal", "goal_text",
    "out_of_scope", "out_of_scope_text", "instructions", "instructions_text", "test_environment", "features",
    "attachments", "requirements", "report_language", "section", "product", "enable_low", "enable_high",
    "enable_critical", "allow_device_clouds_test_scenario", "created_by", "submitted_by", "start_at",
    "end_at", "allowed_bug_types", "demo",
}
TEST_FEATURE_KEYS = {
    "id", "feature_id", "title", "description", "location", "howtofind", "target_idx", "enable_default",
    "enable_content", "enable_visual", "custom_report_configurations", "user_stories", "execution_status",
    "tester_count", "bugs_found", "bug_ids",
}
BUG_KEYS = {
    "id", "title", "severity", "status", "auto_accepted", "known", "exported_at", "language", "location",
    "steps", "expected_result", "actual_result", "reported_at", "author", "test", "feature", "product",
    "devices", "attachments", "comments",
}


def _first_product(client: httpx.Client, layout: str) -> dict:
    for p in client.get("/products").json()["products"]:
        sectioned = bool(p["sections"])
        if layout == "sectioned" and sectioned:
            return p
        if layout == "legacy" and not sectioned and len(p["sections_with_default"]) == 1:
            return p
    raise AssertionError(layout)


def _busy_product(client: httpx.Client) -> int:
    products = client.get("/products").json()["products"]
    def listed(p: dict) -> int:
        return len(client.get(f"/products/{p['id']}/exploratory_tests").json()["exploratory_tests"])

    return max(products, key=listed)["id"]


@pytest.mark.parametrize("auth", [None, "Token wrong", "Bearer simulator-token", "simulator-token", "Token "])
def test_requests_without_the_right_token_get_401_with_an_error_body(sim, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    with httpx.Client(base_url=SIMULATOR_BASE_URL, transport=sim.transport, headers=headers) as client:
        r = client.get("/products")
    assert r.status_code == 401
    assert set(r.json()) == {"error"} and r.json()["error"]
    assert sim.stats()["by_status"] == {401: 1}


def test_the_configured_token_is_the_only_one_accepted(sim):
    with client_for(sim, token="simulator-token") as ok, client_for(sim, token="other") as bad:
        assert ok.get("/products").status_code == 200
        assert bad.get("/products").status_code == 401


@pytest.mark.parametrize(
    "path",
    ["/nope", "/products/1", "/products/abc", "/exploratory_tests/1", "/bugs/1", "/products/1/features",
     "/products/1/exploratory_tests", "/user_stories/1"],
)
def test_unknown_paths_and_ids_answer_404_with_an_error_body(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert set(r.json()) == {"error"}


def test_paths_outside_the_api_prefix_are_404(sim, client):
    r = client.get("http://testio-simulator.local/products")
    assert r.status_code == 404
    assert sim.stats()["by_endpoint"] == {"unknown": 1}


def test_only_get_is_served_on_the_read_path(client):
    r = client.post("/products")
    assert r.status_code == 405 and "error" in r.json()


def test_every_endpoint_wraps_its_payload_in_its_envelope(client):
    product = _first_product(client, "sectioned")
    pid, sid = product["id"], product["sections"][0]["id"]
    legacy = _first_product(client, "legacy")["id"]
    tests = client.get(f"/products/{pid}/exploratory_tests", params={"page": 1}).json()["exploratory_tests"]
    test = tests[-1]
    bug = client.get("/bugs", params={"filter_product_ids": str(pid)}).json()["bugs"][0]
    story = client.get(f"/products/{pid}/user_stories", params={"section_id": sid}).json()["user_stories"][0]
    expected = {
        "/products": "products", f"/products/{pid}": "product", f"/products/{legacy}/features": "features",
        f"/products/{pid}/sections/{sid}/features": "features",
        f"/products/{legacy}/user_stories": "user_stories",
        f"/products/{pid}/exploratory_tests": "exploratory_tests",
        f"/exploratory_tests/{test['id']}": "exploratory_test",
        "/bugs": "bugs", f"/bugs/{bug['id']}": "bug", "/bugs/reject_reasons": "reject_reasons",
    }
    for path, envelope in expected.items():
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("application/json")
        assert list(r.json()) == [envelope], path
    # the one endpoint without an envelope (quirk 5.12)
    assert client.get(f"/user_stories/{story['id']}").json() == story


def test_products_carry_the_fields_of_reference_3_1(client):
    for p in client.get("/products").json()["products"]:
        assert set(p) == PRODUCT_KEYS
        assert isinstance(p["name"], str) and "title" not in p
        for s in p["sections_with_default"]:
            assert {"id", "name", "connection", "test_templates"} <= set(s)


def test_tests_carry_the_fields_of_reference_3_5_and_analytics_only_on_the_single_get(client):
    pid = _first_product(client, "sectioned")["id"]
    listed = client.get(f"/products/{pid}/exploratory_tests", params={"page": 2}).json()["exploratory_tests"]
    for t in listed:
        assert set(t) == TEST_KEYS
        assert t["title"] == t["test_title"]
        assert set(t["product"]) == PRODUCT_KEYS and t["product"]["id"] == pid
        assert 1 <= len(t["features"]) <= 6
        for tf in t["features"]:
            assert set(tf) == TEST_FEATURE_KEYS
            assert tf["location"] == tf["howtofind"]
    single = client.get(f"/exploratory_tests/{listed[0]['id']}").json()["exploratory_test"]
    assert set(single) == TEST_KEYS | {"analytics"}
    assert single["analytics"]["total_features"] == len(single["features"])
    assert single["analytics"]["total_bugs"] == sum(f["bugs_found"] for f in single["features"]) + sum(
        1 for b in client.get("/bugs", params={"filter_test_cycle_ids": str(single["id"])}).json()["bugs"]
        if not b.get("test_feature")
    )


def test_bugs_carry_the_fields_of_reference_3_6(client):
    bugs = client.get("/bugs").json()["bugs"]
    assert len(bugs) > 1000
    for b in bugs:
        assert BUG_KEYS <= set(b) <= BUG_KEYS | {"test_feature"}
        assert set(b["test"]) == {"id", "title"} and set(b["author"]) == {"name"}
        assert set(b["product"]) == {"id", "name"}
        if b["status"] == "rejected":
            assert b["comments"] and b["comments"][0]["body"]
    assert {b["status"] for b in bugs} == {"accepted", "rejected", "forwarded"}
    single = client.get(f"/bugs/{bugs[0]['id']}").json()["bug"]
    assert single == bugs[0]


@pytest.mark.parametrize("param", ["filter[product_ids][]", "filter[product_ids]"])
def test_products_filter_takes_an_array(client, param):
    ids = sorted(p["id"] for p in client.get("/products").json()["products"])[:3]
    r = client.get("/products", params={param: ids[:2]})
    assert [p["id"] for p in r.json()["products"]] == ids[:2]


def test_bugs_filters_take_comma_separated_ids_and_combine(client):
    pid = _busy_product(client)
    tests = client.get(f"/products/{pid}/exploratory_tests", params={"page": 3}).json()["exploratory_tests"]
    ids = [t["id"] for t in tests[:15]]
    by_test = client.get("/bugs", params={"filter_test_cycle_ids": ",".join(map(str, ids))}).json()["bugs"]
    assert by_test and {b["test"]["id"] for b in by_test} <= set(ids)
    by_product = client.get("/bugs", params={"filter_product_ids": str(pid)}).json()["bugs"]
    assert {b["product"]["id"] for b in by_product} == {pid} and len(by_product) > len(by_test)
    section = tests[0]["section"]["id"]
    by_section = client.get("/bugs", params={"filter_section_ids": str(section)}).json()["bugs"]
    assert by_section and all(b["product"]["id"] == pid for b in by_section)
    other = next(p["id"] for p in client.get("/products").json()["products"] if p["id"] != pid)
    combined = {"filter_test_cycle_ids": ",".join(map(str, ids)), "filter_product_ids": str(other)}
    both = client.get("/bugs", params=combined)
    assert both.json()["bugs"] == []


def test_malformed_filters_answer_400(client):
    r = client.get("/bugs", params={"filter_test_cycle_ids": "1,x"})
    assert r.status_code == 400 and "error" in r.json()
    pid = _first_product(client, "legacy")["id"]
    assert client.get(f"/products/{pid}/exploratory_tests", params={"page": "two"}).status_code == 400


def test_stats_count_requests_by_endpoint_template_and_status(sim, client):
    pid = _first_product(client, "sectioned")["id"]
    client.get(f"/products/{pid}/features")
    client.get(f"/products/{pid}/exploratory_tests", params={"page": 1})
    stats = sim.stats()
    assert stats["requests_total"] == 3
    assert stats["by_endpoint"] == {
        "/products": 1, "/products/{product_id}/features": 1, "/products/{product_id}/exploratory_tests": 1,
    }
    assert stats["by_status"] == {200: 2, 422: 1}
    sim.reset_stats()
    reset = sim.stats()
    # the process's CPU time is not a counter: it is never reset, a benchmark takes differences
    assert reset.pop("process_cpu_seconds") >= 0
    assert reset == {"requests_total": 0, "by_endpoint": {}, "by_status": {}}


@pytest.mark.parametrize("value", [
    'quote " backslash \\ newline \n tab \t controls \x00\x1f\x7f',
    "ümlaut – dash € \u2028 \u2029 😀 </script>",
    {"nested": [None, True, False, 0, -5, 2**62, "", "   "]},
])
def test_bodies_are_encoded_exactly_as_json_dumps_would(value):
    # the simulator serialises with orjson for speed; its bytes must not drift from the stdlib's
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
