"""The live API probe, run against the simulator over HTTP: it finds nothing on the
simulator's default behaviour, and reports a quirk the simulator is told to drop."""

from __future__ import annotations

from testio_pipeline.testio.probe import probe
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.testio.simulator.server import run_server_in_thread


def _probe(config: SimulatorConfig) -> tuple:
    sim = Simulator(config)
    # the product with the most tests: more than the 150 an unpaged listing returns
    counts = {}
    for test in sim.ground_truth().tests.values():
        counts[test.product_id] = counts.get(test.product_id, 0) + 1
    product = max(counts, key=counts.get)
    base_url, stop = run_server_in_thread(sim, port=0)
    try:
        return probe(base_url, sim.config.token, product), counts[product]
    finally:
        stop()


def test_the_probe_finds_every_assumption_true_on_the_simulator() -> None:
    report, tests = _probe(SimulatorConfig(size="small", seed=1))
    assert tests > 150
    assert report.differences == [], report.text()
    assert report.requests < 20


def test_the_probe_reports_an_api_without_the_truncation_quirk() -> None:
    report, _ = _probe(SimulatorConfig(size="small", seed=1, truncate_unpaged_tests=False))
    assert any("without page" in d and "at most 150" in d for d in report.differences), report.text()
