"""Admin paths under `/_simulator` (no token, no faults, not counted in stats).

`GET /_simulator/stats`, `POST /_simulator/reset_stats`, `POST /_simulator/advance?hours=H`
(or `days=D`), `GET /_simulator/ground_truth/counts`, `GET /_simulator/now`. They let
benchmarks drive a simulator that runs in another process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from testio_pipeline.testio.simulator.api import ApiResponse, error_response
from testio_pipeline.testio.simulator.config import ADMIN_PREFIX
from testio_pipeline.testio.simulator.encode import dumps

if TYPE_CHECKING:
    from testio_pipeline.testio.simulator.simulator import Simulator


def _float(query: list[tuple[str, str]], key: str) -> float:
    for k, v in query:
        if k == key:
            return float(v)
    return 0.0


def request_floor(sim: Simulator, per_page: int, batch: int) -> dict[str, int]:
    """The requests a perfect client needs at `now`: the product list, every listing page that
    exists (a listing ends at its first short page, so n tests take n // per_page + 1 pages),
    one catalog request per product (plus one per section where the product-wide list is
    refused), and `/bugs` batches for all tests (a full sync) or for the tests not final (a
    sync that already holds the bugs of final tests). Stated from the reference, not from the
    pipeline's code."""
    truth = sim.ground_truth()
    per_product: dict[int, int] = {}
    for test in truth.tests.values():
        per_product[test.product_id] = per_product.get(test.product_id, 0) + 1
    listing = sum(per_product.get(pid, 0) // per_page + 1 for pid in truth.products)
    legacy = sim.config.features_endpoint == "legacy_422"
    catalogs = sum(
        1 + (len(p.section_ids) if p.has_sections and legacy else 0)
        for p in truth.products.values()
    )
    tests = len(truth.tests)
    not_final = sum(1 for t in truth.tests.values() if not t.is_final)
    return {
        "products": 1,
        "listing_pages": listing,
        "catalog_requests": catalogs,
        "bug_batches_full": -(-tests // batch),
        "bug_batches_not_final": -(-not_final // batch),
    }


def handle_admin(sim: Simulator, method: str, path: str, query: list[tuple[str, str]]) -> ApiResponse:
    """Answer an admin request; errors are JSON `{"error": ...}` like the API's."""
    action = path[len(ADMIN_PREFIX):].rstrip("/")
    method = method.upper()
    if action == "/stats" and method == "GET":
        stats = sim.stats()
        stats["by_status"] = {str(k): v for k, v in stats["by_status"].items()}
        return ApiResponse(200, dumps(stats))
    if action == "/reset_stats" and method == "POST":
        sim.reset_stats()
        return ApiResponse(200, dumps({"ok": True}))
    if action == "/advance" and method == "POST":
        try:
            now = sim.advance(hours=_float(query, "hours"), days=_float(query, "days"))
        except ValueError as exc:
            return error_response(400, str(exc))
        return ApiResponse(200, dumps({"now": now.isoformat()}))
    if action == "/now" and method == "GET":
        return ApiResponse(200, dumps({"now": sim.now.isoformat()}))
    if action == "/ground_truth/counts" and method == "GET":
        return ApiResponse(200, dumps(sim.ground_truth().counts()))
    if action == "/ground_truth/floor" and method == "GET":
        return ApiResponse(200, dumps(request_floor(sim, int(_float(query, "per_page") or 25),
                                                    int(_float(query, "batch") or 15))))
    return error_response(404, f"unknown admin path {method} {path}")
