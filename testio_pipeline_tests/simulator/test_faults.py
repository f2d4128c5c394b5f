"""Injected faults: rates, determinism independent of interleaving, poisoned tests, admin immunity."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from testio_pipeline.testio.simulator import SIMULATOR_BASE_URL, FaultConfig, Simulator, SimulatorConfig
from testio_pipeline_tests.simulator.conftest import client_for


def _sim(**faults: float) -> Simulator:
    return Simulator(SimulatorConfig(seed=2, faults=FaultConfig(**faults)))


def _product_paths(sim: Simulator) -> list[str]:
    return [f"/products/{p.id}" for p in sim.account.products]


def test_faults_are_off_by_default(sim, client):
    for _ in range(3):
        for path in _product_paths(sim):
            assert client.get(path).status_code == 200
    assert sim.poisoned_test_ids == frozenset()
    assert set(sim.stats()["by_status"]) == {200}


def test_429_answers_carry_retry_after():
    sim = _sim(error_rate_429=0.5, retry_after_seconds=2.5)
    with client_for(sim) as client:
        answers = [client.get(path) for path in _product_paths(sim) * 4]
    limited = [r for r in answers if r.status_code == 429]
    assert 5 < len(limited) < 35
    assert all(r.headers["retry-after"] == "2.5" and "error" in r.json() for r in limited)


def test_5xx_rate_yields_server_errors_and_a_retry_gets_a_fresh_draw():
    sim = _sim(error_rate_5xx=0.3)
    with client_for(sim) as client:
        statuses = [[client.get(path).status_code for _ in range(6)] for path in _product_paths(sim)]
    flat = Counter(s for row in statuses for s in row)
    assert flat[200] > 0 and sum(flat[s] for s in (500, 502, 503)) > 5
    assert {500, 502, 503} <= set(flat)
    # repeating the same request does not repeat the same answer forever
    assert any(len(set(row)) > 1 for row in statuses)


def test_bad_gateway_answers_are_html_like_a_proxy():
    sim = _sim(error_rate_5xx=1.0)
    with client_for(sim) as client:
        bodies = {r.status_code: r for r in (client.get(p) for p in _product_paths(sim) * 3)}
    assert bodies[502].headers["content-type"].startswith("text/html")
    assert bodies[500].json() == {"error": "Internal Server Error"}


def test_fault_draws_do_not_depend_on_interleaving():
    requests = [path for path in _product_paths(_sim()) for _ in range(3)]

    def sequential() -> dict[tuple[str, int], int]:
        sim = _sim(error_rate_5xx=0.3, error_rate_429=0.2)
        seen: Counter[str] = Counter()
        out = {}
        with client_for(sim) as client:
            for path in requests:
                out[(path, seen[path])] = client.get(path).status_code
                seen[path] += 1
        return out

    async def concurrent() -> dict[tuple[str, int], list[int]]:
        sim = _sim(error_rate_5xx=0.3, error_rate_429=0.2, jitter_ms=5)
        async with httpx.AsyncClient(base_url=SIMULATOR_BASE_URL, transport=sim.transport,
                                     headers={"Authorization": "Token simulator-token"}) as client:
            # reversed order, all in flight at once
            answers = await asyncio.gather(*(client.get(p) for p in reversed(requests)))
        by_path: dict[str, list[int]] = {}
        for path, r in zip(reversed(requests), answers):
            by_path.setdefault(path, []).append(r.status_code)
        return by_path

    expected = sequential()
    got = asyncio.run(concurrent())
    assert expected == sequential()
    for path, statuses in got.items():
        # the n-th occurrence of a request draws the same fault whoever sends it
        assert sorted(statuses) == sorted(expected[(path, i)] for i in range(3))
    assert set(expected.values()) != {200}


def test_poisoned_tests_fail_every_page_containing_them_and_their_single_get():
    sim = _sim(poison_rate=0.05)
    poisoned = sim.poisoned_test_ids
    assert 5 <= len(poisoned) <= 40
    assert poisoned == _sim(poison_rate=0.05).poisoned_test_ids
    with client_for(sim) as client:
        for product in sim.account.products:
            tests = sim.account.product_tests_at(product.id, sim.now_epoch)
            for page in range(1, len(tests) // 10 + 2):
                window = tests[(page - 1) * 10: page * 10]
                path, params = f"/products/{product.id}/exploratory_tests", {"page": page, "per_page": 10}
                r = client.get(path, params=params)
                bad = any(t.id in poisoned for t in window)
                assert r.status_code == (500 if bad else 200)
                if bad:
                    assert "error" in r.json()
                    # always: a retry fails again
                    assert client.get(path, params=params).status_code == 500
        for tid in poisoned:
            assert client.get(f"/exploratory_tests/{tid}").status_code == 500
        # bisection down to one record finds exactly the poisoned ones
        product = next(
            p for p in sim.account.products
            if any(t.id in poisoned for t in sim.account.product_tests_at(p.id, sim.now_epoch))
        )
        tests = sim.account.product_tests_at(product.id, sim.now_epoch)
        path = f"/products/{product.id}/exploratory_tests"
        failing = {
            tests[i].id for i in range(len(tests))
            if client.get(path, params={"page": i + 1, "per_page": 1}).status_code == 500
        }
        assert failing == {t.id for t in tests if t.id in poisoned}


def test_poisoned_tests_still_count_in_the_ground_truth_and_can_be_excluded():
    sim = _sim(poison_rate=0.05)
    truth = sim.ground_truth()
    assert sim.poisoned_test_ids <= set(truth.tests)
    assert not sim.poisoned_test_ids & set(truth.excluding_tests(sim.poisoned_test_ids).tests)


def test_malformed_answers_are_200_with_invalid_json():
    sim = _sim(malformed_rate=0.5)
    with client_for(sim) as client:
        answers = [client.get(path) for path in _product_paths(sim) * 4]
    broken = [r for r in answers if r.status_code == 200 and not _parses(r.content)]
    assert 5 < len(broken) < 35
    assert all(r.status_code == 200 for r in answers)


def _parses(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def test_slow_answers_outlast_a_client_timeout_over_http():
    from testio_pipeline.testio.simulator.server import run_server_in_thread

    sim = _sim(slow_rate=1.0, slow_seconds=1.0)
    base_url, stop = run_server_in_thread(sim)
    try:
        auth = {"Authorization": "Token simulator-token"}
        with httpx.Client(base_url=base_url, headers=auth, timeout=0.1) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.get("/products")
    finally:
        stop()


def test_latency_sleeps_without_blocking_the_event_loop():
    sim = _sim(latency_ms=300)

    async def scenario() -> list[str]:
        events: list[str] = []
        async with httpx.AsyncClient(base_url=SIMULATOR_BASE_URL, transport=sim.transport,
                                     headers={"Authorization": "Token simulator-token"}) as client:
            async def request() -> None:
                await client.get("/products")
                events.append("answered")

            async def bystander() -> None:
                await asyncio.sleep(0)
                events.append("loop ran")

            await asyncio.gather(request(), bystander())
        return events

    assert asyncio.run(scenario()) == ["loop ran", "answered"]


def test_admin_paths_never_get_faults_and_are_not_counted():
    sim = _sim(error_rate_5xx=1.0, error_rate_429=1.0, malformed_rate=1.0)
    with httpx.Client(base_url="http://anything.local", transport=sim.transport) as client:
        for _ in range(5):
            r = client.get("/_simulator/stats")
            assert r.status_code == 200 and r.json()["requests_total"] == 0
        assert client.post("/_simulator/advance", params={"hours": 1}).status_code == 200
        assert client.get("/customer/v2/products").status_code in (429, 500, 502, 503)
    assert sim.stats()["requests_total"] == 1


def test_faults_show_up_in_the_stats():
    sim = _sim(error_rate_5xx=0.5)
    with client_for(sim) as client:
        statuses = Counter(client.get(path).status_code for path in _product_paths(sim) * 3)
    stats = sim.stats()
    assert stats["requests_total"] == sum(statuses.values())
    assert stats["by_status"] == dict(statuses)


def test_fault_rates_are_validated():
    with pytest.raises(ValueError):
        FaultConfig(error_rate_5xx=1.5)
    with pytest.raises(ValueError):
        FaultConfig(latency_ms=-1)


def test_latency_jitter_and_slow_answers_set_the_delay_of_each_answer():
    sim = _sim(latency_ms=50, jitter_ms=20, slow_rate=0.2, slow_seconds=30)
    auth = {"authorization": "Token simulator-token"}
    paths = _product_paths(sim) * 5
    delays = [sim.handle("GET", f"/customer/v2{path}", "", auth).delay_seconds for path in paths]
    normal = [d for d in delays if d < 1]
    slow = [d for d in delays if d >= 30]
    assert len(normal) + len(slow) == len(delays) and slow and normal
    assert all(0.05 <= d <= 0.07 for d in normal) and len(set(normal)) > 10
    assert all(30.05 <= d <= 30.07 for d in slow)


def test_retry_after_defaults_to_one_second():
    sim = _sim(error_rate_429=1.0)
    with client_for(sim) as client:
        assert client.get("/products").headers["retry-after"] == "1"
