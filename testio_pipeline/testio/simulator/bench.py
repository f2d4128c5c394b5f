"""Measurements of the simulator itself: generation time and memory, HTTP server throughput.

    python -m testio_pipeline.testio.simulator.bench generation --size large --runs 3
    python -m testio_pipeline.testio.simulator.bench server --requests 2000 --concurrency 20 --latency-ms 50 \
        [--client httpx|threads]

Generation runs each measurement in a fresh subprocess (peak RSS is per process). The server
benchmark spawns the CLI in a subprocess and drives it with an httpx.AsyncClient over real
HTTP, mixing test pages, single tests and bug batches.
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
from urllib.parse import urlsplit

import httpx

from testio_pipeline.testio.simulator.server import spawn_server_process

_GENERATE = """
import json, resource, time
t = time.perf_counter()
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
imported = time.perf_counter()
sim = Simulator(SimulatorConfig(size={size!r}, seed={seed}))
built = time.perf_counter()
counts = sim.ground_truth().counts()
truth = time.perf_counter()
print(json.dumps({{"generate_s": built - imported, "ground_truth_s": truth - built,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "counts": counts}}))
"""


def bench_generation(size: str, seed: int, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _GENERATE.format(size=size, seed=seed)],
                             capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out))
    return {
        "size": size, "runs": runs,
        "generate_s_median": statistics.median(r["generate_s"] for r in results),
        "ground_truth_s_median": statistics.median(r["ground_truth_s"] for r in results),
        "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in results),
        "counts": results[0]["counts"],
    }


async def _drive(base_url: str, token: str, requests: int, concurrency: int) -> tuple[float, dict[int, int]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Token {token}"},
                                 limits=limits, timeout=60) as client:
        products = (await client.get("/products")).json()["products"]
        pids = [p["id"] for p in products]
        page = (await client.get(f"/products/{pids[0]}/exploratory_tests", params={"page": 1, "per_page": 25})).json()
        tids = [x["id"] for x in page["exploratory_tests"]] or [0]
        paths: list[tuple[str, dict]] = []
        for i in range(requests):
            kind = i % 3
            if kind == 0:
                paths.append((f"/products/{pids[i % len(pids)]}/exploratory_tests", {"page": 1 + i % 3, "per_page": 25}))
            elif kind == 1:
                paths.append((f"/exploratory_tests/{tids[i % len(tids)]}", {}))
            else:
                paths.append(("/bugs", {"filter_test_cycle_ids": ",".join(map(str, tids[:15]))}))
        statuses: dict[int, int] = {}
        sem = asyncio.Semaphore(concurrency)

        async def one(path: str, params: dict) -> None:
            async with sem:
                r = await client.get(path, params=params)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one(p, q) for p, q in paths))
        return time.perf_counter() - start, statuses


def _drive_threads(base_url: str, token: str, requests: int, concurrency: int) -> tuple[float, dict[int, int]]:
    """The same mix from `concurrency` threads, one keep-alive http.client connection each (a lean
    client, so the numbers show the server rather than the client's per-request cost)."""
    parts = urlsplit(base_url)
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=base_url, headers=headers) as client:
        pids = [p["id"] for p in client.get("/products").json()["products"]]
        page = client.get(f"/products/{pids[0]}/exploratory_tests", params={"page": 1, "per_page": 25}).json()
    tids = [x["id"] for x in page["exploratory_tests"]] or [0]
    paths = []
    for i in range(requests):
        kind = i % 3
        if kind == 0:
            paths.append(f"{parts.path}/products/{pids[i % len(pids)]}/exploratory_tests?page={1 + i % 3}&per_page=25")
        elif kind == 1:
            paths.append(f"{parts.path}/exploratory_tests/{tids[i % len(tids)]}")
        else:
            paths.append(f"{parts.path}/bugs?filter_test_cycle_ids=" + ",".join(map(str, tids[:15])))
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker(mine: list[str]) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for path in mine:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(paths[i::concurrency],)) for i in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, statuses


def bench_server(requests: int, concurrency: int, latency_ms: float, size: str, client: str = "httpx") -> dict:
    drive = _drive_threads if client == "threads" else lambda *a: asyncio.run(_drive(*a))
    with spawn_server_process(["--size", size, "--latency-ms", str(latency_ms)]) as server:
        wall, statuses = drive(server.base_url, "simulator-token", requests, concurrency)
        counted = httpx.get(server.admin_url + "/stats").json()["requests_total"]
    floor = requests * latency_ms / 1000 / concurrency
    return {"client": client, "requests": requests, "concurrency": concurrency, "latency_ms": latency_ms,
            "wall_s": round(wall, 3),
            "floor_s": floor, "overhead_pct": round(100 * (wall / floor - 1), 1) if floor else None,
            "requests_per_s": round(requests / wall, 1), "statuses": statuses, "server_counted": counted}


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
    s.add_argument("--client", choices=("httpx", "threads"), default="httpx",
                   help="httpx.AsyncClient, or threads with one http.client connection each")
    args = p.parse_args()
    if args.what == "generation":
        print(json.dumps(bench_generation(args.size, args.seed, args.runs), indent=2))
    else:
        print(json.dumps(bench_server(args.requests, args.concurrency, args.latency_ms, args.size, args.client), indent=2))


if __name__ == "__main__":
    main()
