"""A naive, complete crawl of the simulated API with plain httpx, for cross-checking.

Independent of the pipeline and of the simulator's internals: it sees only JSON, like any
client. The ground truth must equal what this crawl finds, table by table.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx

FINAL = {"archived", "cancelled"}


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(timezone.utc)


def section_layout(product: dict[str, Any]) -> tuple[bool, list[int]]:
    """testio-mcp's detection (reference §3.1)."""
    has_sections = len(product["sections"]) > 0 or len(product["sections_with_default"]) > 1
    chosen = product["sections"] or product["sections_with_default"]
    return has_sections, sorted(s["id"] for s in chosen)


def all_tests(client: httpx.Client, product_id: int, per_page: int = 25) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = []
    page = 1
    while True:
        params = {"page": page, "per_page": per_page}
        r = client.get(f"/products/{product_id}/exploratory_tests", params=params)
        r.raise_for_status()
        batch = r.json()["exploratory_tests"]
        tests += batch
        if len(batch) < per_page:
            return tests
        page += 1


def crawl(client: httpx.Client) -> dict[str, dict[Any, tuple]]:
    """Every table of the warehouse contract as {key: row tuple}, from API answers only."""
    products: dict[int, tuple] = {}
    features: dict[int, tuple] = {}
    tests: dict[int, tuple] = {}
    test_features: dict[int, tuple] = {}
    bugs: dict[int, tuple] = {}
    for p in client.get("/products").json()["products"]:
        has_sections, section_ids = section_layout(p)
        products[p["id"]] = (p["name"], p["type"], has_sections, tuple(section_ids))
        lists: list[tuple[int | None, list[dict]]] = []
        if has_sections:
            for sid in section_ids:
                listed = client.get(f"/products/{p['id']}/sections/{sid}/features").json()["features"]
                lists.append((sid, listed))
        else:
            lists.append((None, client.get(f"/products/{p['id']}/features").json()["features"]))
        seen_sections: dict[int, set[int]] = {}
        for sid, items in lists:
            for f in items:
                seen_sections.setdefault(f["id"], set())
                if sid is not None:
                    seen_sections[f["id"]].add(sid)
                stories = tuple(f["user_stories"])
                features[f["id"]] = (p["id"], f["title"], f["description"], f["howtofind"], (), stories)
        for fid, sids in seen_sections.items():
            row = features[fid]
            features[fid] = (*row[:4], tuple(sorted(sids)), row[5])
        for t in all_tests(client, p["id"]):
            tests[t["id"]] = (
                p["id"], t["section"]["id"], t["title"], t["status"], t["status"] in FINAL,
                utc(t["start_at"]), utc(t["end_at"]), t["created_by"], t["submitted_by"],
            )
            for tf in t["features"]:
                test_features[tf["id"]] = (
                    t["id"], tf["feature_id"], p["id"], tf["title"], bool(tf["enable_default"]),
                    bool(tf["enable_content"]), bool(tf["enable_visual"]), tuple(tf["user_stories"] or ()),
                )
    ids = sorted(tests)
    for i in range(0, len(ids), 15):
        batch = ",".join(map(str, ids[i:i + 15]))
        for b in client.get("/bugs", params={"filter_test_cycle_ids": batch}).json()["bugs"]:
            link = b.get("test_feature")
            bugs[b["id"]] = (
                b["test"]["id"], b["product"]["id"], link["id"] if link else None,
                link["feature_id"] if link else None, b["severity"], b["status"], b["auto_accepted"],
                b["known"], b["author"]["name"], utc(b["reported_at"]),
            )
    return {
        "products": products, "features": features, "tests": tests, "test_features": test_features,
        "bugs": bugs,
    }


def truth_tables(truth: Any) -> dict[str, dict[Any, tuple]]:
    """The ground truth in the shape `crawl` returns."""
    return {
        "products": {k: (p.name, p.type, p.has_sections, p.section_ids) for k, p in truth.products.items()},
        "features": {
            k: (f.product_id, f.title, f.description, f.howtofind, f.section_ids, f.user_stories)
            for k, f in truth.features.items()
        },
        "tests": {
            k: (t.product_id, t.section_id, t.title, t.status, t.is_final, t.start_at, t.end_at,
                t.created_by, t.submitted_by)
            for k, t in truth.tests.items()
        },
        "test_features": {
            k: (tf.test_id, tf.feature_id, tf.product_id, tf.title, tf.enable_default, tf.enable_content,
                tf.enable_visual, tf.user_stories)
            for k, tf in truth.test_features.items()
        },
        "bugs": {
            k: (b.test_id, b.product_id, b.test_feature_id, b.feature_id, b.severity, b.status,
                b.auto_accepted, b.known, b.author_name, b.reported_at)
            for k, b in truth.bugs.items()
        },
    }


def first_differences(actual: dict, expected: dict, limit: int = 3) -> list:
    keys = sorted(set(actual) | set(expected))
    return [(k, actual.get(k), expected.get(k)) for k in keys if actual.get(k) != expected.get(k)][:limit]
