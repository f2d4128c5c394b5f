"""A read-only probe of a TestIO API: does it have the shapes and quirks the simulator (and so
every ingest test) assumes? A handful of requests against one product; every difference is
collected, none stops the probe.

    TESTIO_API_TOKEN=... .venv/bin/pytest -m live      # the `live` tests run this probe

Used against the simulator by the normal test suite (it must find nothing there), and against
the real API by the `live` tests: a wrong assumption would otherwise sit on both sides of every
comparison with the simulator's ground truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
TEST_STATUSES = {
    "initialized", "waiting", "running", "locked", "customer_finalized", "archived", "cancelled",
}
BUG_STATUSES = {"accepted", "rejected", "forwarded"}
SEVERITIES = {"low", "high", "critical", "visual", "content", "custom"}
UNPAGED_LIMIT = 150


@dataclass
class ProbeReport:
    base_url: str
    product_id: int | None = None
    requests: int = 0
    differences: list[str] = field(default_factory=list)

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.differences.append(what)

    def text(self) -> str:
        head = f"probe of {self.base_url} (product {self.product_id}, {self.requests} requests)"
        if not self.differences:
            return f"{head}: every assumption holds"
        return head + f": {len(self.differences)} differences\n" + "\n".join(
            f"  - {d}" for d in self.differences
        )


def probe(base_url: str, token: str, product_id: int | None = None) -> ProbeReport:
    report = ProbeReport(base_url)
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=90) as http:

        def get(path: str, **params: Any) -> httpx.Response:
            report.requests += 1
            return http.get(path, params=params)

        products = get("/products").json().get("products")
        report.expect(isinstance(products, list) and products, "/products: no `products` list")
        if not products:
            return report
        for p in products[:20]:
            _shape(report, "product", p, {"id": int, "name": str, "sections": list,
                                          "sections_with_default": list})
        chosen = next((p for p in products if p.get("id") == product_id), products[0])
        report.product_id = chosen["id"]
        pid = chosen["id"]
        _check_tests(report, get, pid)
        _check_features(report, get, chosen)
        missing = get("/exploratory_tests/1")
        report.expect(missing.status_code == 404, f"unknown test: HTTP {missing.status_code}, not 404")
        report.expect(
            isinstance(_json(missing), dict) and "error" in _json(missing),
            "an error answer has no {\"error\": ...} body",
        )
    return report


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _shape(report: ProbeReport, what: str, item: Any, fields: dict[str, type]) -> None:
    if not isinstance(item, dict):
        report.differences.append(f"{what}: not an object: {str(item)[:80]}")
        return
    for name, kind in fields.items():
        value = item.get(name)
        report.expect(
            isinstance(value, kind) and not isinstance(value, bool),
            f"{what} {item.get('id')}: `{name}` is {type(value).__name__}, expected {kind.__name__}",
        )


def _check_tests(report: ProbeReport, get, pid: int) -> None:
    path = f"/products/{pid}/exploratory_tests"
    first = get(path, page=1, per_page=2)
    body = _json(first) or {}
    report.expect(set(body) == {"exploratory_tests"}, f"{path}: keys {sorted(body)}, expected only exploratory_tests (no paging metadata)")
    report.expect(not {"link", "x-total", "x-total-count"} & set(first.headers), f"{path}: pagination headers")
    page1 = body.get("exploratory_tests") or []
    report.expect(len(page1) <= 2, f"{path}: per_page=2 answered {len(page1)} tests")
    page2 = (get(path, page=2, per_page=2).json() or {}).get("exploratory_tests") or []
    tests = page1 + page2
    ends = [t.get("end_at") for t in tests if isinstance(t, dict) and t.get("end_at")]
    report.expect(ends == sorted(ends, reverse=True), f"{path}: not newest first by end_at: {ends}")
    for test in tests:
        _shape(report, "test", test, {"id": int, "features": list})
        if not isinstance(test, dict):
            continue
        report.expect(test.get("status") in TEST_STATUSES, f"test {test.get('id')}: unknown status {test.get('status')!r}")
        for key in ("start_at", "end_at"):
            value = test.get(key)
            report.expect(value is None or bool(ISO_WITH_OFFSET.match(str(value))), f"test {test.get('id')}: {key} {value!r} is not ISO-8601 with an offset")
        for tf in test.get("features") or []:
            _shape(report, "test feature", tf, {"id": int, "feature_id": int})
        report.expect(isinstance((test.get("product") or {}).get("id"), int), f"test {test.get('id')}: no product.id")
    unpaged = (get(path).json() or {}).get("exploratory_tests") or []
    report.expect(len(unpaged) <= UNPAGED_LIMIT, f"{path} without page: {len(unpaged)} tests, expected at most {UNPAGED_LIMIT} (the truncation quirk)")
    if tests:
        bugs = (get("/bugs", filter_test_cycle_ids=",".join(str(t["id"]) for t in tests[:3])).json() or {}).get("bugs")
        report.expect(isinstance(bugs, list), "/bugs: no `bugs` list")
        for bug in (bugs or [])[:50]:
            _shape(report, "bug", bug, {"id": int, "title": str})
            if isinstance(bug, dict):
                report.expect(bug.get("status") in BUG_STATUSES, f"bug {bug.get('id')}: status {bug.get('status')!r}")
                report.expect(bug.get("severity") in SEVERITIES, f"bug {bug.get('id')}: severity {bug.get('severity')!r}")
                report.expect(bool(ISO_WITH_OFFSET.match(str(bug.get("reported_at")))), f"bug {bug.get('id')}: reported_at {bug.get('reported_at')!r}")
                report.expect(isinstance((bug.get("test") or {}).get("id"), int), f"bug {bug.get('id')}: no test.id")


def _check_features(report: ProbeReport, get, product: dict) -> None:
    pid = product["id"]
    sectioned = len(product.get("sections") or []) > 0 or len(product.get("sections_with_default") or []) > 1
    whole = get(f"/products/{pid}/features")
    if sectioned:
        report.expect(whole.status_code in (200, 422), f"features of sectioned product {pid}: HTTP {whole.status_code}, expected 200 (2026) or 422 (2025)")
        sid = (product.get("sections") or product.get("sections_with_default"))[0]["id"]
        whole = get(f"/products/{pid}/sections/{sid}/features")
    report.expect(whole.status_code == 200, f"features of product {pid}: HTTP {whole.status_code}")
    features = (_json(whole) or {}).get("features")
    report.expect(isinstance(features, list), "features: no `features` list")
    for feature in (features or [])[:50]:
        _shape(report, "feature", feature, {"id": int, "title": str})
