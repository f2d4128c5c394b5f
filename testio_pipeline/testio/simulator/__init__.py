"""The embedded TestIO Customer API v2: a deterministic account with the live API's quirks.

    sim = Simulator(SimulatorConfig(size="small", seed=1))
    client = httpx.Client(base_url=SIMULATOR_BASE_URL, transport=sim.transport,
                          headers={"Authorization": f"Token {sim.config.token}"})

`sim.advance(days=1)` moves the simulated clock; `sim.ground_truth()` says what a complete sync
must store at `sim.now`. `server.run_server_in_thread` and `python -m
testio_pipeline.testio.simulator` serve the same API over real HTTP.
"""

from __future__ import annotations

from testio_pipeline.testio.simulator.config import (
    CLOCK_START,
    SIMULATOR_BASE_URL,
    SIZE_SCALES,
    FaultConfig,
    SimulatorConfig,
)
from testio_pipeline.testio.simulator.ground_truth import (
    BugTruth,
    DensityTruth,
    FeatureTruth,
    GroundTruth,
    ProductTruth,
    TestFeatureTruth,
    TestTruth,
    UserTruth,
)
from testio_pipeline.testio.simulator.simulator import Simulator
from testio_pipeline.testio.simulator.transport import SimulatorTransport

__all__ = [
    "CLOCK_START",
    "SIMULATOR_BASE_URL",
    "SIZE_SCALES",
    "BugTruth",
    "DensityTruth",
    "FaultConfig",
    "FeatureTruth",
    "GroundTruth",
    "ProductTruth",
    "Simulator",
    "SimulatorConfig",
    "SimulatorTransport",
    "TestFeatureTruth",
    "TestTruth",
    "UserTruth",
]
