"""The in-process transport serves sync and async httpx clients alike."""

from __future__ import annotations

import asyncio
import threading

import httpx

from testio_pipeline.testio.simulator import (
    SIMULATOR_BASE_URL,
    FaultConfig,
    Simulator,
    SimulatorConfig,
    SimulatorTransport,
)


def test_transport_is_both_a_sync_and_an_async_httpx_transport(sim):
    assert isinstance(sim.transport, SimulatorTransport)
    assert isinstance(sim.transport, httpx.BaseTransport)
    assert isinstance(sim.transport, httpx.AsyncBaseTransport)


def test_sync_and_async_clients_get_the_same_answers(sim: Simulator):
    headers = {"Authorization": f"Token {sim.config.token}"}
    pid = sim.account.products[0].id
    paths = [
        "/products", f"/products/{pid}/exploratory_tests?page=1&per_page=5", f"/bugs?filter_product_ids={pid}",
    ]
    with httpx.Client(base_url=SIMULATOR_BASE_URL, transport=sim.transport, headers=headers) as client:
        sync_bodies = [client.get(p).content for p in paths]

    async def fetch() -> list[bytes]:
        async with httpx.AsyncClient(
            base_url=SIMULATOR_BASE_URL, transport=sim.transport, headers=headers
        ) as client:
            return [r.content for r in await asyncio.gather(*(client.get(p) for p in paths))]

    assert asyncio.run(fetch()) == sync_bodies
    assert sim.stats()["requests_total"] == 6


def test_admin_paths_work_through_the_transport(sim):
    with httpx.Client(transport=sim.transport) as client:
        counts = client.get("http://x/_simulator/ground_truth/counts").json()
        assert counts == sim.ground_truth().counts()
        before = sim.now
        client.post("http://x/_simulator/advance", params={"days": 2})
        assert (sim.now - before).days == 2


def test_sync_requests_wait_out_their_latency_in_the_calling_thread():
    sim = Simulator(SimulatorConfig(faults=FaultConfig(latency_ms=1500)))
    answers: list[int] = []

    def request() -> None:
        with httpx.Client(base_url=SIMULATOR_BASE_URL, transport=sim.transport,
                          headers={"Authorization": "Token simulator-token"}) as client:
            answers.append(client.get("/products").status_code)

    worker = threading.Thread(target=request)
    worker.start()
    worker.join(timeout=0.2)
    # the answer is held back for the latency
    assert worker.is_alive() and not answers
    worker.join()
    assert answers == [200]
