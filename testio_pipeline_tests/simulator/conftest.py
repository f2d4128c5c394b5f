"""Fixtures for the simulator tests: a small account and a real httpx client on its transport."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from testio_pipeline.testio.simulator import SIMULATOR_BASE_URL, Simulator, SimulatorConfig


def client_for(sim: Simulator, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=SIMULATOR_BASE_URL,
        transport=sim.transport,
        headers={"Authorization": f"Token {token if token is not None else sim.config.token}"},
    )


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimulatorConfig(size="small", seed=1))


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with client_for(sim) as c:
        yield c
