"""`scripts/benchmark.py --peers`: the main job beside dlt's `rest_api` source and testio-mcp.

Per repetition one simulator server (started by the benchmark, same size, seed and latency) serves
all three in turn, ours first; each does a full load into an empty store, then a no-change run
(nothing in the account changed). Every run is a whole process, timed from launch to exit, with
the peak RSS of its process tree (sampled every 50 ms: a shorter spike can be missed), the
requests the simulator counted (stats reset before each run) and the rows of products, tests and
bugs in the store afterwards, checked against the simulator's ground truth. A run that exits
non-zero or whose rows differ from the truth is FAILED and shows no time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import psutil

from peers import dlt_testio, testio_mcp

TOKEN = "simulator-token"
CHECKED = ("products", "tests", "bugs")
SCENARIOS = ("full load", "no-change run")
SAMPLE_SECONDS = 0.05


class Runner(Protocol):
    NAME: str

    def prepare(self) -> Path: ...

    def command(self, base_url: str, token: str, workdir: Path, in_flight: int, venv: Path
                ) -> tuple[list[str], dict[str, str], Path]: ...

    def count_rows(self, workdir: Path, venv: Path) -> dict[str, int]: ...


class OurPipeline:
    """The main job's ingest, run as scripts/benchmark.py runs it (its CHILD program)."""

    NAME = "testio_pipeline"

    def __init__(self, bench: ModuleType) -> None:
        self.bench = bench

    def prepare(self) -> Path:
        return Path(sys.executable).parent.parent

    def command(self, base_url: str, token: str, workdir: Path, in_flight: int, venv: Path
                ) -> tuple[list[str], dict[str, str], Path]:
        env = {
            **os.environ,
            "TESTIO_API_TOKEN": token,
            "TESTIO_API_BASE_URL": base_url,
            "TESTIO_MAX_IN_FLIGHT": str(in_flight),
            "TESTIO_DUCKDB_PATH": str(workdir / "bench.duckdb"),
            "DAGSTER_HOME": str(workdir),
        }
        return [sys.executable, "-c", self.bench.CHILD, "ingest"], env, self.bench.ROOT

    def count_rows(self, workdir: Path, venv: Path) -> dict[str, int]:
        import duckdb

        from testio_pipeline.warehouse.publish import working_path_for

        # the ingest group writes the working file; publishing is the main job's last step
        with duckdb.connect(str(working_path_for(workdir / "bench.duckdb")), read_only=True) as con:
            return {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in CHECKED}


@dataclass
class Run:
    system: str
    scenario: str
    success: bool
    wall_s: float
    requests: int
    peak_rss_mb: float
    rows: dict[str, int] = field(default_factory=dict)
    failure: str = ""


def measure(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[int, float, float]:
    """Exit code, wall seconds and peak RSS (MB) of the whole process tree of one command."""
    with log.open("w") as out:
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )
        except OSError as error:  # a missing or broken executable: a failed run, not a crash
            out.write(f"cannot start {argv[0]}: {error}\n")
            return 127, 0.0, 0.0
        root = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            rss = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    rss += p.memory_info().rss
            except psutil.Error:
                pass  # a child ended between listing and reading: count the next sample
            peak = max(peak, rss)
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
    return process.returncode, wall, peak / 2**20


def failure_reason(code: int, log: Path, rows: dict[str, int], truth: dict[str, int]) -> str:
    if code != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        return f"exit {code}: {tail[0][:200]}"
    if system_said_failed(log):
        return "the run reported failure"
    wrong = [f"{k} {rows.get(k)} != {truth[k]}" for k in CHECKED if rows.get(k) != truth[k]]
    return ", ".join(wrong)


def system_said_failed(log: Path) -> bool:
    # our CHILD exits 0 with success false when a step failed (raise_on_error=False)
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("RESULT ")]
    return bool(lines) and not json.loads(lines[-1][len("RESULT "):])["success"]


def run_once(runner: Runner, venv: Path, scenario: str, workdir: Path, base_url: str,
             truth: dict[str, int], args: Any, bench: ModuleType) -> Run:
    argv, env, cwd = runner.command(base_url, TOKEN, workdir, args.in_flight, venv)
    bench.admin(base_url, "/_simulator/reset_stats", "POST")
    log = workdir / f"{scenario.replace(' ', '_')}.log"
    code, wall, peak = measure(argv, env, cwd, log)
    requests = bench.admin(base_url, "/_simulator/stats")["requests_total"]
    try:
        rows = runner.count_rows(workdir, venv)
    except Exception as error:  # noqa: BLE001 - a store that cannot be read is a failed run
        rows = {}
        code = code or 1
        log.write_text(log.read_text() + f"\ncounting rows failed: {type(error).__name__}")
    reason = failure_reason(code, log, rows, truth)
    run = Run(runner.NAME, scenario, not reason, round(wall, 2), requests, round(peak, 1), rows, reason)
    print(json.dumps(asdict(run)), flush=True)
    return run


def compare_with_peers(args: Any, bench: ModuleType) -> None:
    """Run every system `args.repeat` times against one simulator each time; print the table."""
    runners: list[Runner] = [OurPipeline(bench), dlt_testio, testio_mcp]
    venvs: dict[str, Path | str] = {}
    for runner in runners:
        try:
            venvs[runner.NAME] = runner.prepare()
        except Exception as error:  # noqa: BLE001 - a peer that cannot be installed is FAILED
            venvs[runner.NAME] = f"install failed: {type(error).__name__}: {error}"
            print(f"{runner.NAME}: {venvs[runner.NAME]}", flush=True)

    runs: list[Run] = []
    for _ in range(args.repeat):
        process, base_url = bench.start_simulator(args)
        try:
            truth = bench.admin(base_url, "/_simulator/ground_truth/counts")
            with tempfile.TemporaryDirectory() as tmp:
                for runner in runners:
                    venv = venvs[runner.NAME]
                    workdir = Path(tmp) / runner.NAME
                    workdir.mkdir()
                    for scenario in SCENARIOS:
                        if isinstance(venv, str):
                            runs.append(Run(runner.NAME, scenario, False, 0.0, 0, 0.0, {}, venv))
                        else:
                            runs.append(run_once(runner, venv, scenario, workdir, base_url, truth, args, bench))
        finally:
            process.terminate()
            process.wait(timeout=30)

    out = Path(args.out).with_name("peers.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    print()
    print(markdown(runs, [r.NAME for r in runners], truth, args))


def markdown(runs: list[Run], systems: list[str], truth: dict[str, int], args: Any) -> str:
    lines = [
        f"size `{args.size}` ({', '.join(f'{truth[k]:,} {k}' for k in CHECKED)}), "
        f"{args.latency_ms:g} ms latency, {args.in_flight} requests in flight, "
        f"median of {args.repeat} runs, whole processes",
        "",
        "| system | run | wall (s) | x ours | requests | peak RSS (MB) | rows products / tests / bugs |",
        "|---|---|---|---|---|---|---|",
    ]
    ours: dict[str, float] = {}
    for system in systems:
        for scenario in SCENARIOS:
            group = [r for r in runs if r.system == system and r.scenario == scenario]
            failed = [r for r in group if not r.success]
            if failed:
                lines.append(f"| {system} | {scenario} | FAILED | | | | {failed[0].failure} |")
                continue
            wall = statistics.median(r.wall_s for r in group)
            if system == OurPipeline.NAME:
                ours[scenario] = wall
            ratio = f"{wall / ours[scenario]:.1f}" if scenario in ours else ""
            rows = " / ".join(f"{group[0].rows[k]:,}" for k in CHECKED)
            lines.append(
                f"| {system} | {scenario} | {wall:.2f} | {ratio} | "
                f"{statistics.median(r.requests for r in group):.0f} | "
                f"{statistics.median(r.peak_rss_mb for r in group):.0f} | {rows} (= truth) |"
            )
    return "\n".join(lines)
