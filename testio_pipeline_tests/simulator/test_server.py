"""The simulator over real HTTP: in a thread and as the CLI subprocess, with the admin paths."""

from __future__ import annotations

import asyncio
import signal

import httpx

from testio_pipeline.testio.simulator import FaultConfig, Simulator, SimulatorConfig
from testio_pipeline.testio.simulator.server import run_server_in_thread, spawn_server_process

AUTH = {"Authorization": "Token simulator-token"}


def test_thread_server_serves_the_api_the_same_as_the_transport(sim):
    base_url, stop = run_server_in_thread(sim, port=0)
    try:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/customer/v2")
        pid = sim.account.products[0].id
        with httpx.Client(base_url=base_url, headers=AUTH) as http, httpx.Client(
            base_url=base_url, transport=sim.transport, headers=AUTH
        ) as local:
            for path, params in [("/products", {}), (f"/products/{pid}/exploratory_tests", {"page": 1}),
                                 ("/bugs", {"filter_product_ids": str(pid)})]:
                over_http = http.get(path, params=params)
                assert over_http.status_code == 200 and over_http.http_version == "HTTP/1.1"
                assert over_http.content == local.get(path, params=params).content
            assert http.get("/products", headers={"Authorization": "Token nope"}).status_code == 401
            assert http.get("/nope").json() == {"error": "Not found"}
    finally:
        stop()
    stop()  # idempotent


def test_admin_paths_read_counters_reset_them_advance_the_clock_and_count_rows(sim):
    base_url, stop = run_server_in_thread(sim)
    admin = base_url.removesuffix("/customer/v2") + "/_simulator"
    try:
        with httpx.Client(base_url=base_url, headers=AUTH) as http:
            for _ in range(3):
                http.get("/products")
            stats = httpx.get(admin + "/stats").json()
            assert stats.pop("process_cpu_seconds") > 0
            assert stats == {"requests_total": 3, "by_endpoint": {"/products": 3}, "by_status": {"200": 3}}
            assert httpx.post(admin + "/reset_stats").status_code == 200
            assert httpx.get(admin + "/stats").json()["requests_total"] == 0
            before = httpx.get(admin + "/ground_truth/counts").json()
            assert before == sim.ground_truth().counts()
            moved = httpx.post(admin + "/advance", params={"hours": 240}).json()
            assert moved["now"] == sim.now.isoformat() and sim.now.day == 11
            after = httpx.get(admin + "/ground_truth/counts").json()
            assert after["tests"] > before["tests"]
            assert httpx.post(admin + "/advance", params={"hours": -1}).status_code == 400
            assert httpx.get(admin + "/nope").status_code == 404
    finally:
        stop()


def test_keep_alive_connections_are_reused_by_concurrent_clients():
    sim = Simulator(SimulatorConfig(faults=FaultConfig(latency_ms=20)))
    base_url, stop = run_server_in_thread(sim)

    async def scenario() -> tuple[list[int], set[int]]:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        ports: set[int] = set()

        async def local_port(response: httpx.Response) -> None:
            ports.add(response.extensions["network_stream"].get_extra_info("client_addr")[1])

        async with httpx.AsyncClient(base_url=base_url, headers=AUTH, limits=limits,
                                     event_hooks={"response": [local_port]}) as client:
            pid = sim.account.products[0].id
            answers = await asyncio.gather(*(client.get(f"/products/{pid}") for _ in range(100)))
            return [r.status_code for r in answers], ports

    try:
        statuses, ports = asyncio.run(scenario())
        assert statuses == [200] * 100
        # 100 requests over at most 20 connections: the server keeps them alive
        assert 1 <= len(ports) <= 20
        assert sim.stats()["requests_total"] == 100
    finally:
        stop()


def test_cli_prints_its_url_serves_with_its_flags_and_exits_cleanly_on_sigterm():
    args = ["--size", "0.3", "--seed", "7", "--token", "cli-token", "--features-endpoint", "returns_all",
            "--error-rate-5xx", "0", "--poison-rate", "0.2"]
    server = spawn_server_process(args)
    try:
        headers = {"Authorization": "Token cli-token"}
        products = httpx.get(server.base_url + "/products", headers=headers).json()["products"]
        expected = Simulator(SimulatorConfig(size=0.3, seed=7)).ground_truth().products
        assert {p["id"] for p in products} == set(expected)
        sectioned = next(p for p in products if p["sections"])
        features = httpx.get(f"{server.base_url}/products/{sectioned['id']}/features", headers=headers)
        assert features.status_code == 200
        assert httpx.get(server.base_url + "/products", headers=AUTH).status_code == 401
        assert httpx.get(server.admin_url + "/stats").json()["requests_total"] == 3
    finally:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) == 0


def test_cli_exits_cleanly_on_sigint():
    server = spawn_server_process(["--size", "0.2"])
    assert httpx.get(server.admin_url + "/now").status_code == 200
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=10) == 0
