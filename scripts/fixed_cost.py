"""`scripts/benchmark.py --fixed-cost`: what a run costs when there is nothing to do (issue 14).

Real accounts are small, so a run's fixed cost is most of it. This runs, as whole processes on
the project's Dagster instance settings (a temporary DAGSTER_HOME with `.dagster/dagster.yaml`)
and the embedded simulator (`small` by default, in-process, no latency):

  1. the README's main job (`dagster asset materialize --select '*'`) once into an empty
     warehouse (reported, not counted),
  2. the same command `--repeat` times with nothing new in the account,
  3. `--select group:analytics` `--repeat` times,
  4. `python -c "import testio_pipeline.definitions"` `--repeat` times,

and prints medians: process wall, the run as the event log saw it (from its creation to its
end), the steps (first step start to last step end), what came before the run (interpreter,
Dagster CLI, imports) and after it (exit), and the number of events the run stored. A run that
failed prints FAILED and no time.

Every event is a write to the instance's storage, and with SQLite storage (the project's
`.dagster/dagster.yaml`) each write opens its database anew. `--postgres` runs the same
commands on the Postgres instance of a deployment (`deploy/dagster.yaml`) against a real
server started for the measurement (Debian's `postgresql`, installed by `scripts/setup`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _dagster(home: Path, env: dict[str, str], selection: str) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "testio_pipeline.definitions",
         "--select", selection],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
        return {"success": False}
    return {"success": True, "wall_s": wall, **_last_run(home)}


def _last_run(home: Path) -> dict:
    """Run and step spans and the event count of the newest run, from the instance."""
    import dagster as dg
    from dagster._core.storage.dagster_run import RunsFilter

    with dg.DagsterInstance.from_config(str(home)) as instance:  # env: the run's own
        run = instance.get_runs(filters=RunsFilter(), limit=1)[0]
        records = instance.get_records_for_run(run.run_id).records
        events = [r.event_log_entry for r in records]
    step_events = ("STEP_START", "STEP_SUCCESS")
    steps = [e.timestamp for e in events
             if e.dagster_event and e.dagster_event.event_type_value in step_events]
    return {
        # from its creation (the planned events) to its end
        "run_s": max(e.timestamp for e in events) - min(e.timestamp for e in events),
        "steps_s": max(steps) - min(steps) if steps else 0.0,
        "events": len(events),
    }


def _import_time(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import testio_pipeline.definitions"],
                   cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get("success")]
    return round(statistics.median(values), 2) if values and len(values) == len(runs) else None


def _row(name: str, runs: list[dict]) -> dict:
    row = {"what": name, "runs": len(runs), "failed": sum(not r["success"] for r in runs)}
    for key in ("wall_s", "run_s", "steps_s", "events"):
        row[key] = _median(runs, key)
    if row["wall_s"] is not None:
        row["before_run_s"] = round(row["wall_s"] - row["run_s"], 2)
    return row


def _cell(value) -> str:
    return "FAILED" if value is None else str(value)


def markdown(rows: list[dict], size: str, repeat: int, import_s: float, settings: str) -> str:
    lines = [
        f"`{size}`, in-process simulator, instance `{settings}`, median of {repeat} whole "
        f"processes (import of the definitions alone: {import_s:.2f} s)",
        "",
        "| command | wall (s) | before the run (s) | run (s) | steps (s) | events stored |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["failed"]:
            lines.append(f"| {row['what']} | FAILED | | | | |")
            continue
        lines.append(
            f"| {row['what']} | {row['wall_s']} | {row['before_run_s']} | {row['run_s']} | "
            f"{row['steps_s']} | {_cell(row['events'])} |"
        )
    return "\n".join(lines)


def measure_fixed_cost(size: str, repeat: int, out: Path, postgres: bool = False) -> None:
    if not postgres:
        _measure(size, repeat, out, ROOT / ".dagster" / "dagster.yaml", {})
        return
    sys.path.insert(0, str(ROOT))
    from testio_pipeline_tests.deploy.postgres import running_postgres

    with running_postgres() as server:
        _measure(size, repeat, out, ROOT / "deploy" / "dagster.yaml", server.environment())


def _measure(size: str, repeat: int, out: Path, instance_yaml: Path, extra_env: dict) -> None:
    settings = str(instance_yaml.relative_to(ROOT))
    print(f"instance settings: {settings}", flush=True)
    # this process reads each run back from the same instance
    os.environ.update(extra_env)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        shutil.copy(instance_yaml, home / "dagster.yaml")
        # the project's instance finds its event log under $DAGSTER_HOME: set here, it is the
        # CLI runs' (copied into `env`) and `_last_run`'s alike
        os.environ["DAGSTER_HOME"] = str(home)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TESTIO_")}
        env.update(TESTIO_SIMULATOR_SIZE=size,
                   TESTIO_DUCKDB_PATH=str(Path(tmp) / "testio.duckdb"), **extra_env)
        first = _dagster(home, env, "*")
        print(f"first run (full sync of {size}): "
              + (f"{first['wall_s']:.2f} s" if first["success"] else "FAILED"), flush=True)
        main_runs, analytics_runs, imports = [], [], []
        for _ in range(repeat):
            main_runs.append(_dagster(home, env, "*"))
            analytics_runs.append(_dagster(home, env, "group:analytics"))
            imports.append(_import_time(env))
            print(json.dumps({"main": main_runs[-1], "analytics": analytics_runs[-1],
                              "import_s": round(imports[-1], 2)}), flush=True)
    rows = [_row("main job, nothing new (`--select '*'`)", main_runs),
            _row("analytics group alone (`--select group:analytics`)", analytics_runs)]
    import_s = statistics.median(imports)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(
        {"size": size, "instance": settings, "rows": rows, "import_s": import_s}, indent=2
    ))
    print(markdown(rows, size, repeat, import_s, settings))
