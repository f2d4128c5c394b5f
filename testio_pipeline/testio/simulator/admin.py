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
    return error_response(404, f"unknown admin path {method} {path}")
