"""Benchmark of the sync over real HTTP against the simulator (not a test: numbers, no asserts).

    .venv/bin/python scripts/benchmark.py --size large --latency-ms 50 --in-flight 20 --repeat 3
    .venv/bin/python scripts/benchmark.py --sizes medium,large,2x,4x,10x --repeat 1
    .venv/bin/python scripts/benchmark.py --fixed-cost --repeat 5 [--postgres]

With `--sizes` it runs the full, no-change, +24 h and full-refresh syncs at each size (the
last is what the nightly reconciliation does: every bug and catalog again, every stored row
re-merged; `2x` is twice
`large`, or a float scale where `small` is 1) and prints per size wall, request floor, peak
RSS, DuckDB file size and per-step times, whether the warehouse equals the simulator's ground
truth (counts), and the growth exponent of each figure between consecutive sizes. A failed
run is printed FAILED, never with a time.

For each repetition it starts a fresh simulator server (a separate process), then runs, each in
a fresh child process so peak RSS is the sync's own:
  1. full sync into an empty warehouse,
  2. no-change sync (nothing changed in the account),
  3. sync after time travel (the simulator's clock advanced by --advance-hours),
  4. the analytics assets alone.
It reports per scenario the median wall time, requests, rows written per second, peak RSS and
the request-latency floor (requests x latency / concurrency), and writes a markdown table.

The simulator runs on the same cores as the sync, and rendering bug and test JSON is most of
its CPU; a real API spends that on its own servers. So by default it renders every bug and
every test once at start (`--keep-bug-bodies --keep-test-bodies`, before any timing) and
serves the kept bytes (a test changed by `advance` is rendered anew); `--render-bugs` /
`--render-tests` keep the per-request rendering. The simulator's CPU seconds during each
scenario are reported too.
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

from testio_pipeline.warehouse.publish import working_path_for

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

CHILD = r"""
import json, resource, sys, time
import dagster as dg
from testio_pipeline.definitions import defs
from testio_pipeline.defs.resources import SyncOptionsResource
group = sys.argv[1]
resources = dict(defs.resources)
if len(sys.argv) > 2 and sys.argv[2] == "full-refresh":
    resources["sync_options"] = SyncOptionsResource(full_refresh=True)
started = time.perf_counter()
result = dg.materialize(
    list(defs.assets),
    resources=resources,
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


def simulator_mode(args: argparse.Namespace) -> str:
    """How the simulator serves bodies, for the tables' headings."""
    bugs = "rendering bugs per request" if args.render_bugs else "serving kept bug bodies"
    tests = "rendering tests per request" if args.render_tests else "kept test bodies"
    return f"{bugs}, {tests}"


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    command = [
        PYTHON, "-m", "testio_pipeline.testio.simulator", "--port", "0",
        "--size", args.size, "--seed", str(args.seed), "--latency-ms", str(args.latency_ms),
        *([] if args.render_bugs else ["--keep-bug-bodies"]),
        *([] if args.render_tests else ["--keep-test-bodies"]),
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


def run_child(selection: str, env: dict[str, str], full_refresh: bool = False) -> dict:
    """One sync in a fresh process (in-process executor), with that process's peak RSS; a
    process that crashed counts as a failed run."""
    completed = subprocess.run(
        [PYTHON, "-c", CHILD, selection, *(["full-refresh"] if full_refresh else [])],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    lines = [l for l in completed.stdout.splitlines() if l.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        sys.stderr.write(completed.stderr[-4000:])
        return {"success": False, "wall": 0.0, "assets": {}, "peak_rss_mb": 0.0}
    return json.loads(lines[-1][len("RESULT "):])


def rows_written(result: dict) -> int:
    return sum(
        a.get("inserted", 0) + a.get("updated", 0) + a.get("deleted", 0)
        for a in result["assets"].values()
    )


def perfect_requests(name: str, selection: str, env: dict[str, str], base_url: str) -> int:
    """What a perfect client needs for this scenario (`/_simulator/ground_truth/floor`): pages
    that exist, not look-ahead pages past the end; bug batches of the tests that need them
    (all on a full sync, the tests not final afterwards); catalogs when they are due."""
    if selection != "ingest":
        return 0
    floor = admin(base_url, "/_simulator/ground_truth/floor?per_page=25&batch=15")
    full = name.startswith("full")
    catalogs_due = full or env.get("TESTIO_CATALOG_TTL_MINUTES") == "0"
    return (
        floor["products"]
        + floor["listing_pages"]
        + (floor["catalog_requests"] if catalogs_due else 0)
        + floor["bug_batches_full" if full else "bug_batches_not_final"]
    )


def scenario(name: str, selection: str, env: dict[str, str], base_url: str, args) -> dict:
    perfect = perfect_requests(name, selection, env, base_url)
    admin(base_url, "/_simulator/reset_stats", "POST")
    cpu_before = admin(base_url, "/_simulator/stats")["process_cpu_seconds"]
    result = run_child(selection, env, full_refresh=name == "full refresh")
    stats = admin(base_url, "/_simulator/stats")
    requests = stats["requests_total"]
    # the honest floor: the requests a perfect client needs, at full concurrency
    floor = perfect * args.latency_ms / 1000 / args.in_flight
    bug_requests = sum(v for k, v in stats["by_endpoint"].items() if k.startswith("/bugs"))
    row = {
        "scenario": name,
        "success": result["success"],
        "wall_s": round(result["wall"], 2),
        "requests": requests,
        "perfect_requests": perfect,
        "bug_requests": bug_requests,
        "floor_s": round(floor, 2),
        "wall_over_floor": (
            round(result["wall"] / floor, 2) if floor and result["success"] else None
        ),
        "rows_written": rows_written(result),
        "rows_per_s": round(rows_written(result) / result["wall"]) if result["wall"] else None,
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "simulator_cpu_s": round(stats["process_cpu_seconds"] - cpu_before, 2),
        "assets": {k: v.get("duration_seconds") for k, v in result["assets"].items()},
        "tests_needing_bugs": result["assets"].get("bugs", {}).get("tests_needing_bugs"),
    }
    print(json.dumps(row), flush=True)
    return row


LARGE_SCALE = 60.0


def scale_of(size: str) -> str:
    """A size as the simulator takes it: a name, or `<n>x` (n times `large`) as a scale."""
    if size.endswith("x"):
        return f"{float(size[:-1]) * LARGE_SCALE:g}"
    return size


def file_mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1) if path.exists() else 0.0


def warehouse_counts(path: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("products", "tests", "test_features", "bugs")
        }


def run_sizes(args: argparse.Namespace) -> None:
    """Full, no-change, +24 h and full-refresh syncs at each size, ground truth checked,
    exponents."""
    rows: list[dict] = []
    for size in args.sizes.split(","):
        args.size = scale_of(size)
        process, base_url = start_simulator(args)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "bench.duckdb"
                env = {
                    **os.environ,
                    "TESTIO_API_TOKEN": "simulator-token",
                    "TESTIO_API_BASE_URL": base_url,
                    "TESTIO_MAX_IN_FLIGHT": str(args.in_flight),
                    "TESTIO_DUCKDB_PATH": str(db),
                    "TESTIO_CATALOG_TTL_MINUTES": "0",
                    "DAGSTER_HOME": tmp,
                }
                for name in ("full", "no-change", "+24h", "full refresh"):
                    if name == "+24h":
                        admin(base_url, f"/_simulator/advance?hours={args.advance_hours}", "POST")
                    row = scenario(name, "ingest", env, base_url, args)
                    truth = admin(base_url, "/_simulator/ground_truth/counts")
                    # the ingest group writes the working file (publishing is its own step)
                    working = working_path_for(db)
                    stored = warehouse_counts(working) if row["success"] else {}
                    row.update(
                        size=size,
                        truth_tests=truth["tests"],
                        file_mb=file_mb(working),
                        equals_truth=bool(stored)
                        and all(stored[t] == truth[t] for t in stored),
                    )
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=60)
    write_results(rows, Path(args.out), sizes_markdown(rows, args))


def _exponent(a: float, b: float, size_a: float, size_b: float) -> str:
    import math

    if not (a and b and size_a and size_b) or size_a == size_b:
        return "–"
    return f"{math.log(b / a) / math.log(size_b / size_a):.2f}"


def sizes_markdown(rows: list[dict], args) -> str:
    sizes = list(dict.fromkeys(r["size"] for r in rows))
    lines = [
        f"{args.latency_ms:g} ms latency, {args.in_flight} requests in flight, one run each, "
        f"budget {os.environ.get('TESTIO_MEMORY_BUDGET_MB', '1024')} MB, simulator "
        + simulator_mode(args),
        "",
        "| size | scenario | wall (s) | requests | floor (s) | wall / floor | tests step (s) "
        "| bugs step (s) | peak RSS (MB) | file (MB) | equals truth |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["success"]:
            lines.append(f"| {r['size']} | {r['scenario']} | FAILED | | | | | | | | |")
            continue
        steps = r["assets"]
        lines.append(
            f"| {r['size']} | {r['scenario']} | {r['wall_s']:.1f} | {r['requests']} | "
            f"{r['floor_s']:.1f} | {r['wall_over_floor']} | {steps.get('tests') or 0:.1f} | "
            f"{steps.get('bugs') or 0:.1f} | {r['peak_rss_mb']:.0f} | {r['file_mb']:.0f} | "
            f"{'yes' if r['equals_truth'] else 'NO'} |"
        )
    lines += ["", "Growth exponents between consecutive sizes (1.0 = linear in the tests):", "",
              "| from → to | scenario | wall | floor | peak RSS | file | bugs step |",
              "|---|---|---|---|---|---|---|"]
    tests_of = {s: next((r["truth_tests"] for r in rows if r["size"] == s), 0) for s in sizes}
    for a, b in zip(sizes, sizes[1:]):
        for name in ("full", "no-change", "+24h", "full refresh"):
            ra = next((r for r in rows if r["size"] == a and r["scenario"] == name), None)
            rb = next((r for r in rows if r["size"] == b and r["scenario"] == name), None)
            if not (ra and rb and ra["success"] and rb["success"]):
                lines.append(f"| {a} → {b} | {name} | FAILED | | | | |")
                continue
            sa, sb = tests_of[a], tests_of[b]
            lines.append(
                f"| {a} → {b} | {name} | {_exponent(ra['wall_s'], rb['wall_s'], sa, sb)} | "
                f"{_exponent(ra['floor_s'], rb['floor_s'], sa, sb)} | "
                f"{_exponent(ra['peak_rss_mb'], rb['peak_rss_mb'], sa, sb)} | "
                f"{_exponent(ra['file_mb'], rb['file_mb'], sa, sb)} | "
                f"{_exponent(ra['assets'].get('bugs') or 0, rb['assets'].get('bugs') or 0, sa, sb)} |"
            )
    return "\n".join(lines)


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
    parser.add_argument("--render-tests", action="store_true",
                        help="the simulator renders test pages per request (its cache is bounded)")
    parser.add_argument("--sizes", help="comma-separated sizes, e.g. medium,large,2x,4x,10x")
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "benchmark.json"))
    parser.add_argument("--peers", action="store_true",
                        help="instead: the main job beside dlt's rest_api source and testio-mcp, "
                             "full and no-change (scripts/peers/compare.py; writes peers.json)")
    parser.add_argument("--fixed-cost", action="store_true",
                        help="instead: the main job and the analytics group with nothing new, "
                             "whole CLI processes, embedded simulator at --size (default there: "
                             "small) (scripts/fixed_cost.py; writes fixed-cost.json)")
    parser.add_argument("--postgres", action="store_true",
                        help="with --fixed-cost: on deploy/dagster.yaml's Postgres instance "
                             "(a server started for the measurement)")
    args = parser.parse_args()
    if args.peers:
        from peers.compare import compare_with_peers  # scripts/peers/, beside this file

        compare_with_peers(args, sys.modules[__name__])
        return
    if args.sizes:
        run_sizes(args)
        return
    if args.fixed_cost:
        from fixed_cost import measure_fixed_cost  # scripts/, beside this file

        size = args.size if "--size" in sys.argv else "small"
        name = "fixed-cost-postgres.json" if args.postgres else "fixed-cost.json"
        measure_fixed_cost(size, args.repeat, ROOT / "bench-results" / name, args.postgres)
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
    write_results(rows, Path(args.out), markdown(rows, args))


def write_results(rows: list[dict], out: Path, table: str) -> None:
    """The raw rows as JSON at `out`, the markdown table on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print()
    print(table)


def markdown(rows: list[dict], args) -> str:
    names = list(dict.fromkeys(r["scenario"] for r in rows))
    lines = [
        f"size `{args.size}`, {args.latency_ms:g} ms latency, {args.in_flight} requests in flight, "
        f"median of {args.repeat} runs, simulator "
        + simulator_mode(args),
        "",
        "| scenario | wall (s) | requests (a perfect client's) | honest floor (s) | wall / floor | rows written | rows/s "
        "| peak RSS (MB) | simulator CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        group = [r for r in rows if r["scenario"] == name]
        if not all(r["success"] for r in group):
            # a failed run has no time worth reporting, and it spoils the median of the others
            lines.append(f"| {name} | FAILED ({sum(not r['success'] for r in group)} of {len(group)}) | | | | | | | |")
            continue
        med = lambda key: statistics.median([r[key] for r in group if r[key] is not None] or [0])  # noqa: E731
        lines.append(
            f"| {name} | {med('wall_s'):.2f} | {med('requests'):.0f} ({med('perfect_requests'):.0f} needed) | {med('floor_s'):.2f} | "
            f"{med('wall_over_floor'):.2f} | {med('rows_written'):.0f} | {med('rows_per_s'):.0f} | "
            f"{med('peak_rss_mb'):.0f} | {med('simulator_cpu_s'):.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
