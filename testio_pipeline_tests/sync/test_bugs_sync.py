"""`sync_bugs` end to end: a fake API behind the real client, raw bodies staged as files, rows
built and merged by DuckDB into a real warehouse file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline.sync.bugs import sync_bugs
from testio_pipeline.warehouse.connection import open_for_write
from testio_pipeline_tests.testio.fake_api import FakeTestIO, error, make_client

CUSTOMER = 4


def bug(bug_id: int, test_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": bug_id, "title": f"bug {bug_id}", "status": "accepted", "severity": "low",
        "reported_at": "2025-10-20T15:42:11+02:00", "author": {"name": f"tester{bug_id % 3}"},
        "test": {"id": test_id}, "product": {"id": 1},
        "test_feature": {"id": test_id * 100, "feature_id": 7}, **fields,
    }


@pytest.fixture
def warehouse(tmp_path: Path) -> WarehouseResource:
    path = tmp_path / "w.duckdb"
    with open_for_write(path) as con:
        con.execute(
            "INSERT INTO tests (customer_id, id, product_id, status, is_final) "
            "SELECT ?, i, 1, CASE WHEN i % 2 = 0 THEN 'archived' ELSE 'running' END, i % 2 = 0 "
            "FROM range(1, 13) t(i)",
            [CUSTOMER],
        )
    return WarehouseResource(path=str(path), customer_id=CUSTOMER)


def rows(warehouse: WarehouseResource, sql: str) -> list[tuple]:
    con = duckdb.connect(warehouse.path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_sync(api: FakeTestIO, warehouse: WarehouseResource, **options: Any):
    return sync_bugs(lambda: make_client(api, max_in_flight=2), warehouse, batch_size=3, **options)


def api_with_bugs() -> FakeTestIO:
    return FakeTestIO(bugs={t: [bug(t * 10 + k, t) for k in range(2)] for t in range(1, 13)})


def test_every_bug_is_stored_and_every_test_stamped(warehouse: WarehouseResource) -> None:
    report = run_sync(api_with_bugs(), warehouse)
    assert rows(warehouse, "SELECT count(*), count(DISTINCT test_id) FROM bugs WHERE customer_id = 4") == [(24, 12)]
    assert rows(warehouse, "SELECT test_id, feature_id, author_name, reported_at FROM bugs WHERE id = 31") == [
        (3, 7, "tester1", rows(warehouse, "SELECT TIMESTAMPTZ '2025-10-20 13:42:11+00'")[0][0])
    ]
    assert rows(warehouse, "SELECT count(*) FROM tests WHERE bugs_synced_at IS NOT NULL") == [(12,)]
    assert rows(warehouse, "SELECT id FROM tests WHERE bugs_synced_final ORDER BY id") == [
        (i,) for i in range(2, 13, 2)
    ]
    assert report.merges["bugs"].inserted == 24 and report.row_counts["bugs"] == 24
    assert report.notes["bugs_fetched"] == 24 and report.notes["tests_bugs_synced"] == 12
    assert report.requests == 4 and not report.failures


def test_a_batch_failing_after_retries_leaves_its_tests_unstamped(warehouse: WarehouseResource) -> None:
    api = api_with_bugs()
    api.fail("/bugs", error(403, "not yours"), when=lambda r: r.url.params["filter_test_cycle_ids"] == "4,5,6")
    report = run_sync(api, warehouse)
    assert [f.scope for f in report.failures] == ["tests 4, 5, 6"]
    assert "not yours" in report.failures[0].message and report.failures[0].endpoint == "GET /bugs"
    assert rows(warehouse, "SELECT asset, scope, status, test_ids FROM sync_failures") == [
        ("bugs", "tests 4, 5, 6", 403, [4, 5, 6])
    ]
    assert rows(warehouse, "SELECT DISTINCT test_id FROM bugs ORDER BY 1") == [
        (t,) for t in (1, 2, 3, 7, 8, 9, 10, 11, 12)
    ]
    assert rows(warehouse, "SELECT id FROM tests WHERE bugs_synced_at IS NULL ORDER BY id") == [(4,), (5,), (6,)]
    # the next run fetches the failed tests again (and the running ones), and stores them
    second = run_sync(api, warehouse)
    assert not second.failures and second.notes["tests_needing_bugs"] == len({4, 5, 6, 1, 3, 7, 9, 11})
    assert rows(warehouse, "SELECT count(*) FROM bugs") == [(24,)]
    assert rows(warehouse, "SELECT count(*) FROM sync_failures") == [(0,)]


def test_a_bug_without_an_id_is_skipped_and_the_rest_of_its_batch_stored(
    warehouse: WarehouseResource,
) -> None:
    api = api_with_bugs()
    run_sync(api, warehouse)
    api.bugs[5].append({"title": "no id", "test": {"id": 5}})
    api.bugs[5][0]["title"] = "changed"
    report = run_sync(api, warehouse, run_id="r2")
    (skipped,) = report.skipped
    assert (skipped.field, skipped.test_id, skipped.record_id) == ("id", 5, None)
    assert '"no id"' in skipped.value and not report.failures
    # the good bugs of the batch are stored, test 5 keeps its earlier bugs and stays unstamped
    assert rows(warehouse, "SELECT title FROM bugs WHERE id = 50") == [("changed",)]
    assert rows(warehouse, "SELECT count(*) FROM bugs WHERE test_id IN (4, 5, 6)") == [(6,)]
    assert rows(warehouse, "SELECT bugs_synced_final FROM tests WHERE id = 5") == [(False,)]
    assert rows(
        warehouse, "SELECT asset, test_id, field, run_id FROM skipped_records"
    ) == [("bugs", 5, "id", "r2")]
    # once the API serves it correctly, the next run stores it and clears the record
    api.bugs[5][-1]["id"] = 59
    run_sync(api, warehouse, run_id="r3")
    assert rows(warehouse, "SELECT title FROM bugs WHERE id = 59") == [("no id",)]
    assert rows(warehouse, "SELECT count(*) FROM skipped_records") == [(0,)]


@pytest.mark.parametrize(
    ("field", "value"), [("reported_at", "last tuesday"), ("exported_at", 1700000000)]
)
def test_a_bug_with_a_broken_timestamp_is_quarantined_with_its_value(
    warehouse: WarehouseResource, field: str, value: Any
) -> None:
    api = api_with_bugs()
    api.bugs[8][1][field] = value
    report = run_sync(api, warehouse, run_id="r1")
    (skipped,) = report.skipped
    assert (skipped.record_id, skipped.test_id, skipped.field) == (81, 8, field)
    assert rows(warehouse, "SELECT count(*) FROM bugs") == [(23,)]
    assert rows(warehouse, "SELECT count(*) FROM tests WHERE bugs_synced_at IS NOT NULL") == [(11,)]
    assert rows(
        warehouse,
        "SELECT record_id, product_id, position, field, raw_value, endpoint FROM skipped_records",
    ) == [(81, 1, 3, field, json.dumps(value), "GET /bugs?filter_test_cycle_ids=7,8,9")]


def test_a_bug_served_twice_is_stored_once(warehouse: WarehouseResource) -> None:
    api = api_with_bugs()
    # the same bug under a test of another batch, and a bug pointing at a test not asked for
    api.bugs[12].append(bug(11, 1, title="seen again"))
    api.bugs[2].append(bug(999, 77))
    report = run_sync(api, warehouse)
    assert report.notes["bugs_fetched_twice"] == 1 and report.notes["bugs_fetched"] == 26
    assert rows(warehouse, "SELECT count(*) FROM bugs WHERE id = 11") == [(1,)]
    assert rows(warehouse, "SELECT test_id FROM bugs WHERE id = 999") == [(77,)]
    assert report.merges["bugs"].inserted == 25


def test_a_rerun_changes_only_what_the_api_changed(warehouse: WarehouseResource) -> None:
    api = api_with_bugs()
    run_sync(api, warehouse, full_refresh=True)
    api.bugs[1][0]["status"] = "rejected"
    del api.bugs[3][1]
    report = run_sync(api, warehouse, full_refresh=True)
    assert report.merges["bugs"].as_dict() == {"inserted": 0, "updated": 1, "unchanged": 22, "deleted": 1}
    assert rows(warehouse, "SELECT status FROM bugs WHERE id = 10") == [("rejected",)]
    assert rows(warehouse, "SELECT count(*) FROM bugs WHERE id = 31") == [(0,)]


def test_tests_whose_bugs_all_vanished_lose_them(warehouse: WarehouseResource) -> None:
    api = api_with_bugs()
    run_sync(api, warehouse)
    api.bugs = {}
    report = run_sync(api, warehouse)
    # only not-final tests are fetched again: the odd ones
    assert report.merges["bugs"].deleted == 12
    assert rows(warehouse, "SELECT DISTINCT test_id % 2 FROM bugs") == [(0,)]


def test_nothing_to_fetch_makes_no_request_and_writes_nothing(tmp_path: Path) -> None:
    warehouse = WarehouseResource(path=str(tmp_path / "empty.duckdb"), customer_id=CUSTOMER)
    api = api_with_bugs()
    report = run_sync(api, warehouse)
    assert api.requests == [] and report.row_counts["bugs"] == 0


def test_malformed_bodies_are_retried_and_stored(warehouse: WarehouseResource) -> None:
    api = api_with_bugs()
    api.fail("/bugs", lambda r: httpx.Response(200, content=b'{"bugs": [{"id"'))
    report = run_sync(api, warehouse)
    assert report.retries == 1 and not report.failures
    assert rows(warehouse, "SELECT count(*) FROM bugs") == [(24,)]


def test_a_product_selection_fetches_only_the_bugs_of_its_tests(warehouse: WarehouseResource) -> None:
    with open_for_write(warehouse.path) as con:
        con.execute(f"UPDATE tests SET product_id = 2 WHERE customer_id = {CUSTOMER} AND id > 6")
    api = api_with_bugs()
    report = run_sync(api, warehouse, product_ids=[2])
    assert report.notes["tests_needing_bugs"] == 6
    assert rows(warehouse, "SELECT DISTINCT test_id FROM bugs ORDER BY 1") == [(i,) for i in range(7, 13)]
    assert rows(warehouse, "SELECT count(*) FROM tests WHERE bugs_synced_at IS NOT NULL") == [(6,)]


def test_a_sync_imports_neither_pandas_nor_arrow(warehouse: WarehouseResource) -> None:
    # duckdb imports numpy and pandas to bind any `?` parameter, pyarrow is ~40 MB on import:
    # the bugs step must stay clear of both (checked in a fresh interpreter)
    code = f"""
import sys
from testio_pipeline.defs.resources import WarehouseResource
from testio_pipeline_tests.sync.test_bugs_sync import api_with_bugs, run_sync
report = run_sync(api_with_bugs(), WarehouseResource(path={warehouse.path!r}, customer_id={CUSTOMER}))
assert report.row_counts["bugs"] == 24, report
print(sorted(m for m in ("pandas", "pyarrow", "numpy") if m in sys.modules))
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
