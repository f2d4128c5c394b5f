"""Measurements of the simulator itself: generation time and memory, HTTP server throughput.

    python -m testio_pipeline.testio.simulator.bench generation --size large --runs 3
    python -m testio_pipeline.testio.simulator.bench server --requests 2000 --concurrency 20 \\
        --latency-ms 50 [--client httpx|threads]

Generation runs each measurement in a fresh subprocess (peak RSS is per process). The server
benchmark spawns the CLI in a subprocess and drives it over real HTTP with a mix of test pages,
single tests and bug batches, from an httpx.AsyncClient or from threads that each hold one
keep-alive `http.client` connection (a lean client, so the numbers show the server).
Numbers only, no assertions: this is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode, urlsplit

import httpx
import psutil

from testio_pipeline.testio.simulator.config import DEFAULT_TOKEN
from testio_pipeline.testio.simulator.server import spawn_server_process

_GENERATE = """
import json, resource, time
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
imported, baseline, cpu = time.perf_counter(), peak_mb(), time.process_time()
sim = Simulator(SimulatorConfig(size={size!r}, seed={seed}))
built, generated, cpu_built = time.perf_counter(), peak_mb(), time.process_time()
counts = sim.ground_truth().counts()
truth = time.perf_counter()
print(json.dumps({{
    "generate_s": built - imported, "generate_cpu_s": cpu_built - cpu, "ground_truth_s": truth - built,
    "import_rss_mb": baseline, "peak_rss_after_generate_mb": generated, "peak_rss_mb": peak_mb(),
    "counts": counts,
}}))
"""


def bench_generation(size: str, seed: int, runs: int) -> dict:
    """Median generation time and peak RSS of `runs` fresh processes."""
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _GENERATE.format(size=size, seed=seed)],
                             capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out))

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in results), 3)

    return {
        "size": size, "runs": runs, "generate_s_median": median("generate_s"),
        "generate_cpu_s_median": median("generate_cpu_s"), "ground_truth_s_median": median("ground_truth_s"),
        "import_rss_mb_median": median("import_rss_mb"),
        "peak_rss_after_generate_mb_median": median("peak_rss_after_generate_mb"),
        "peak_rss_with_ground_truth_mb_median": median("peak_rss_mb"), "counts": results[0]["counts"],
    }


def _request_mix(base_url: str, requests: int) -> list[tuple[str, dict]]:
    """(path, params) for the benchmark: 1/3 test pages, 1/3 single tests, 1/3 bug batches."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Token {DEFAULT_TOKEN}"}) as client:
        pids = [p["id"] for p in client.get("/products").json()["products"]]
        first = client.get(f"/products/{pids[0]}/exploratory_tests", params={"page": 1, "per_page": 25})
    tids = [x["id"] for x in first.json()["exploratory_tests"]] or [0]
    mix: list[tuple[str, dict]] = []
    for i in range(requests):
        if i % 3 == 0:
            page = {"page": 1 + i % 3, "per_page": 25}
            mix.append((f"/products/{pids[i % len(pids)]}/exploratory_tests", page))
        elif i % 3 == 1:
            mix.append((f"/exploratory_tests/{tids[i % len(tids)]}", {}))
        else:
            mix.append(("/bugs", {"filter_test_cycle_ids": ",".join(map(str, tids[:15]))}))
    return mix


async def _drive_httpx(base_url: str, mix: list[tuple[str, dict]], concurrency: int) -> tuple[float, dict]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Token {DEFAULT_TOKEN}"},
                                 limits=limits, timeout=60) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(path: str, params: dict) -> None:
            async with sem:
                r = await client.get(path, params=params)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one(p, q) for p, q in mix))
        return time.perf_counter() - start, statuses


def _drive_threads(base_url: str, mix: list[tuple[str, dict]], concurrency: int) -> tuple[float, dict]:
    parts = urlsplit(base_url)
    headers = {"Authorization": f"Token {DEFAULT_TOKEN}"}
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker(mine: list[tuple[str, dict]]) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for path, params in mine:
            conn.request("GET", f"{parts.path}{path}?{urlencode(params)}", headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(mix[i::concurrency],)) for i in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, statuses


def bench_server(requests: int, concurrency: int, latency_ms: float, size: str, client: str = "httpx") -> dict:
    """Wall time of `requests` with `concurrency` in flight, against the floor requests*latency/concurrency.

    Also the server's CPU seconds: on one machine they compete with the client's.
    """
    with spawn_server_process(["--size", size, "--latency-ms", str(latency_ms)]) as server:
        mix = _request_mix(server.base_url, requests)
        httpx.post(server.admin_url + "/reset_stats")
        cpu = psutil.Process(server.process.pid).cpu_times
        cpu_before = cpu().user + cpu().system
        if client == "threads":
            wall, statuses = _drive_threads(server.base_url, mix, concurrency)
        else:
            wall, statuses = asyncio.run(_drive_httpx(server.base_url, mix, concurrency))
        server_cpu = cpu().user + cpu().system - cpu_before
        counted = httpx.get(server.admin_url + "/stats").json()["requests_total"]
    floor = requests * latency_ms / 1000 / concurrency
    return {
        "client": client, "requests": requests, "concurrency": concurrency, "latency_ms": latency_ms,
        "wall_s": round(wall, 3), "floor_s": floor,
        "overhead_pct": round(100 * (wall / floor - 1), 1) if floor else None,
        "requests_per_s": round(requests / wall, 1), "statuses": statuses, "server_counted": counted,
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("generation")
    g.add_argument("--size", default="small")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--runs", type=int, default=3)
    s = sub.add_parser("server")
    s.add_argument("--requests", type=int, default=2000)
    s.add_argument("--concurrency", type=int, default=20)
    s.add_argument("--latency-ms", type=float, default=50.0)
    s.add_argument("--size", default="small")
    s.add_argument("--client", choices=("httpx", "threads"), default="httpx")
    args = p.parse_args()
    if args.what == "generation":
        result = bench_generation(args.size, args.seed, args.runs)
    else:
        result = bench_server(args.requests, args.concurrency, args.latency_ms, args.size, args.client)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
