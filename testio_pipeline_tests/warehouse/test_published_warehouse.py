"""SQL readers open the published file: never refused, never blocking a sync, always a
consistent state. Readers are separate processes, as the DuckDB CLI or a notebook would be."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from testio_pipeline.definitions import defs
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline.warehouse.publish import read_sync_runs, working_path_for
from testio_pipeline_tests.ingest.harness import assert_warehouse_matches, served
from testio_pipeline_tests.test_crash_recovery import ROOT, cli_run, wait_for_line

# a reader that keeps one read-only connection and queries it until told to stop, and a
# reader that opens the file anew every 0.1 s; both print what they saw as JSON
HOLDING_READER = textwrap.dedent("""
    import json, sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    seen = set()
    print("ready", flush=True)
    while sys.stdin.readline().strip() != "stop":
        seen.add(con.execute("SELECT (SELECT count(*) FROM bugs), (SELECT count(*) FROM tests), "
                             "(SELECT sum(valid_bugs) FROM feature_bug_density)").fetchone())
        print("ok", flush=True)
    print(json.dumps(sorted(seen)), flush=True)
""")
POLLING_READER = textwrap.dedent("""
    import json, sys, time, duckdb
    stop = sys.argv[2]
    opened = refused = 0
    errors = []
    import os
    while not os.path.exists(stop):
        try:
            with duckdb.connect(sys.argv[1], read_only=True) as con:
                con.execute("SELECT count(*) FROM bugs").fetchone()
            opened += 1
        except duckdb.Error as error:
            refused += 1
            errors.append(str(error)[:200])
        time.sleep(0.1)
    print(json.dumps({"opened": opened, "refused": refused, "errors": errors[:3]}), flush=True)
""")


def resources(account, work_dir: Path) -> dict:
    published = work_dir / "testio.duckdb"
    res = account.resources(catalog_ttl_minutes=0)
    res["warehouse"] = WarehouseResource(
        path=str(working_path_for(published)), published_path=str(published)
    )
    return res


def sync(account, work_dir: Path) -> None:
    result = dg.materialize([*defs.assets, *defs.asset_checks], resources=resources(account, work_dir))
    assert result.success


def count_bugs_in_new_process(path: Path) -> int:
    code = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).execute('SELECT count(*) FROM bugs').fetchone()[0])"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_reader_holding_the_published_file_never_blocks_syncs_and_keeps_its_view(
    tmp_path: Path,
) -> None:
    sim = Simulator(SimulatorConfig(size="small", seed=41))
    published = tmp_path / "testio.duckdb"
    with served(sim, tmp_path / "unused.duckdb") as account:
        sync(account, tmp_path)
        first = count_bugs_in_new_process(published)
        reader = subprocess.Popen(
            [sys.executable, "-c", HOLDING_READER, str(published)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert reader.stdout.readline().strip() == "ready"
        for _ in range(2):
            sim.advance(days=2)
            reader.stdin.write("go\n")
            reader.stdin.flush()
            assert reader.stdout.readline().strip() == "ok"
            sync(account, tmp_path)  # would wait for the lock, then fail, if it shared the file
            # a new connection sees the new state, equal to the ground truth
            assert count_bugs_in_new_process(published) == len(sim.ground_truth().bugs)
            assert_warehouse_matches(published, sim.ground_truth())
            reader.stdin.write("go\n")
            reader.stdin.flush()
            assert reader.stdout.readline().strip() == "ok"
        reader.stdin.write("stop\n")
        reader.stdin.flush()
        seen = json.loads(reader.stdout.readline())
        reader.wait(timeout=30)
    # the held connection saw one consistent state throughout: the first published one
    assert len(seen) == 1 and seen[0][0] == first
    assert len(read_sync_runs(published)) == 3


def test_readers_opening_every_tenth_of_a_second_are_never_refused(tmp_path: Path) -> None:
    sim = Simulator(SimulatorConfig(size="medium", seed=42))
    published = tmp_path / "testio.duckdb"
    stop = tmp_path / "stop"
    with served(sim, tmp_path / "unused.duckdb") as account:
        sync(account, tmp_path)  # the file readers open exists from the first publish on
        reader = subprocess.Popen(
            [sys.executable, "-c", POLLING_READER, str(published), str(stop)],
            stdout=subprocess.PIPE, text=True,
        )
        sync(account, tmp_path)  # no change
        sim.advance(days=1)
        sync(account, tmp_path)  # changes
        stop.touch()
        outcome = json.loads(reader.communicate(timeout=60)[0])
    assert outcome["refused"] == 0, outcome
    assert outcome["opened"] > 10


@pytest.mark.parametrize("step", ["tests_and_test_features", "bugs", "analytics"])
def test_a_sync_killed_at_any_moment_leaves_the_last_published_state(
    tmp_path: Path, step: str
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / ".dagster" / "dagster.yaml").read_text())
    published = tmp_path / "testio.duckdb"
    first, log = cli_run(home, published)
    assert first.wait(timeout=600) == 0, log.read_text()[-2000:]
    before = read_sync_runs(published)
    with duckdb.connect(str(published), read_only=True) as con:
        counts = con.execute("SELECT (SELECT count(*) FROM bugs), (SELECT count(*) FROM tests)").fetchone()

    second, log = cli_run(home, published, full_refresh=True)
    wait_for_line(second, log, f'Started execution of step "{step}"')
    time.sleep(0.3)
    os.killpg(second.pid, signal.SIGKILL)
    second.wait()

    assert read_sync_runs(published) == before
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("SELECT (SELECT count(*) FROM bugs), (SELECT count(*) FROM tests)").fetchone() == counts
