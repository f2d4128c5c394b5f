"""Benchmark of the sync over real HTTP against the simulator (not a test: numbers, no asserts).

    .venv/bin/python scripts/benchmark.py --size large --latency-ms 50 --in-flight 20 --repeat 3

For each repetition it starts a fresh simulator server (a separate process), then runs, each in
a fresh child process so peak RSS is the sync's own:
  1. full sync into an empty warehouse,
  2. no-change sync (nothing changed in the account),
  3. sync after time travel (the simulator's clock advanced by --advance-hours),
  4. the analytics assets alone.
It reports per scenario the median wall time, requests, rows written per second, peak RSS and
the request-latency floor (requests x latency / concurrency), and writes a markdown table.

The simulator runs on the same cores as the sync, and rendering bug JSON is most of its CPU;
a real API spends that on its own servers. So by default it renders every bug once at start
(`--keep-bug-bodies`, before any timing) and serves the kept bytes; `--render-bugs` keeps the
per-request rendering. The simulator's CPU seconds during each scenario are reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

CHILD = r"""
import json, resource, sys, time
import dagster as dg
from testio_pipeline.definitions import defs
group = sys.argv[1]
started = time.perf_counter()
result = dg.materialize(
    list(defs.assets),
    resources=defs.resources,
    selection=dg.AssetSelection.groups(group),
    raise_on_error=False,
)
wall = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
meta = {}
for event in result.get_asset_materialization_events():
    m = event.step_materialization_data.materialization
    meta[m.asset_key.to_user_string()] = {k: getattr(v, "value", None) for k, v in m.metadata.items()
                                           if isinstance(getattr(v, "value", None), (int, float, str))}
print("RESULT " + json.dumps({"success": result.success, "wall": wall, "assets": meta, "peak_rss_mb": peak_mb}))
"""


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    command = [
        PYTHON, "-m", "testio_pipeline.testio.simulator", "--port", "0",
        "--size", args.size, "--seed", str(args.seed), "--latency-ms", str(args.latency_ms),
        *([] if args.render_bugs else ["--keep-bug-bodies"]),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "http" not in line:
        process.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    base_url = line[line.index("http"):].strip()
    print(f"simulator {args.size} ready in {time.perf_counter() - started:.1f}s at {base_url}", flush=True)
    return process, base_url


def admin(base_url: str, path: str, method: str = "GET") -> dict:
    root = base_url.split("/customer/v2")[0]
    response = httpx.request(method, root + path, timeout=120)
    response.raise_for_status()
    return response.json() if response.content else {}


def run_child(selection: str, env: dict[str, str]) -> dict:
    """One sync in a fresh process (in-process executor), with that process's peak RSS."""
    completed = subprocess.run(
        [PYTHON, "-c", CHILD, selection], cwd=ROOT, env=env, capture_output=True, text=True
    )
    lines = [l for l in completed.stdout.splitlines() if l.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"sync child failed ({completed.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def rows_written(result: dict) -> int:
    return sum(
        a.get("inserted", 0) + a.get("updated", 0) + a.get("deleted", 0)
        for a in result["assets"].values()
    )


def scenario(name: str, selection: str, env: dict[str, str], base_url: str, args) -> dict:
    admin(base_url, "/_simulator/reset_stats", "POST")
    cpu_before = admin(base_url, "/_simulator/stats")["process_cpu_seconds"]
    result = run_child(selection, env)
    stats = admin(base_url, "/_simulator/stats")
    requests = stats["requests_total"]
    floor = requests * args.latency_ms / 1000 / args.in_flight
    bug_requests = sum(v for k, v in stats["by_endpoint"].items() if k.startswith("/bugs"))
    row = {
        "scenario": name,
        "success": result["success"],
        "wall_s": round(result["wall"], 2),
        "requests": requests,
        "bug_requests": bug_requests,
        "floor_s": round(floor, 2),
        "wall_over_floor": round(result["wall"] / floor, 2) if floor else None,
        "rows_written": rows_written(result),
        "rows_per_s": round(rows_written(result) / result["wall"]) if result["wall"] else None,
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "simulator_cpu_s": round(stats["process_cpu_seconds"] - cpu_before, 2),
        "assets": {k: v.get("duration_seconds") for k, v in result["assets"].items()},
        "tests_needing_bugs": result["assets"].get("bugs", {}).get("tests_needing_bugs"),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="large")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--advance-hours", type=float, default=24.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--render-bugs", action="store_true",
                        help="the simulator renders bugs per request instead of keeping them")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "benchmark.json"))
    parser.add_argument("--peers", action="store_true",
                        help="instead: the main job beside dlt's rest_api source and testio-mcp, "
                             "full and no-change (scripts/peers/compare.py; writes peers.json)")
    args = parser.parse_args()
    if args.peers:
        from peers.compare import compare_with_peers  # scripts/peers/, beside this file

        compare_with_peers(args, sys.modules[__name__])
        return

    rows: list[dict] = []
    for repetition in range(args.repeat):
        process, base_url = start_simulator(args)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                env = {
                    **os.environ,
                    "TESTIO_API_TOKEN": "simulator-token",
                    "TESTIO_API_BASE_URL": base_url,
                    "TESTIO_MAX_IN_FLIGHT": str(args.in_flight),
                    "TESTIO_DUCKDB_PATH": str(Path(tmp) / "bench.duckdb"),
                    "DAGSTER_HOME": tmp,
                }
                rows.append(scenario("full sync", "ingest", env, base_url, args))
                rows.append(scenario("no-change sync", "ingest", env, base_url, args))
                admin(base_url, f"/_simulator/advance?hours={args.advance_hours}", "POST")
                rows.append(scenario(f"sync after +{args.advance_hours:g}h", "ingest", env, base_url, args))
                rows.append(scenario("analytics only", "analytics", env, base_url, args))
        finally:
            process.terminate()
            process.wait(timeout=30)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print()
    print(markdown(rows, args))


def markdown(rows: list[dict], args) -> str:
    names = list(dict.fromkeys(r["scenario"] for r in rows))
    lines = [
        f"size `{args.size}`, {args.latency_ms:g} ms latency, {args.in_flight} requests in flight, "
        f"median of {args.repeat} runs, simulator "
        + ("rendering bugs per request" if args.render_bugs else "serving kept bug bodies"),
        "",
        "| scenario | wall (s) | requests | floor (s) | wall / floor | rows written | rows/s "
        "| peak RSS (MB) | simulator CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        group = [r for r in rows if r["scenario"] == name]
        med = lambda key: statistics.median([r[key] for r in group if r[key] is not None] or [0])  # noqa: E731
        lines.append(
            f"| {name} | {med('wall_s'):.2f} | {med('requests'):.0f} | {med('floor_s'):.2f} | "
            f"{med('wall_over_floor'):.2f} | {med('rows_written'):.0f} | {med('rows_per_s'):.0f} | "
            f"{med('peak_rss_mb'):.0f} | {med('simulator_cpu_s'):.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
