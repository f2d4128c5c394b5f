"""Test harness for the ingest assets: a simulator served over real HTTP, a real DuckDB file,
real `dg.materialize` runs, and comparison of the warehouse with the simulator's ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from testio_pipeline.defs.assets.ingest import INGEST_ASSETS
from testio_pipeline.defs.checks.ingest import INGEST_CHECKS
from testio_pipeline.defs.resources import SyncOptionsResource, TestIOResource, WarehouseResource
from testio_pipeline.testio.simulator import Simulator
from testio_pipeline.testio.simulator.server import run_server_in_thread

INGEST_TABLES = ("products", "features", "tests", "test_features", "bugs", "users")


@dataclass
class Account:
    """A simulated TestIO account served over HTTP, and the warehouse file a test syncs it into."""

    sim: Simulator
    base_url: str
    db_path: Path
    customer_id: int = 1

    def resources(self, **sync_options: Any) -> dict[str, Any]:
        return {
            "testio": TestIOResource(
                api_token=self.sim.config.token,
                base_url=self.base_url,
                max_in_flight=8,
                backoff_base_seconds=0.01,
                backoff_max_seconds=0.05,
                retry_after_cap_seconds=0.05,
            ),
            "warehouse": WarehouseResource(path=str(self.db_path), customer_id=self.customer_id),
            "sync_options": SyncOptionsResource(**sync_options),
        }

    def materialize(self, *, raise_on_error: bool = True, **sync_options: Any) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*INGEST_ASSETS, *INGEST_CHECKS],
            resources=self.resources(**sync_options),
            raise_on_error=raise_on_error,
        )


@contextmanager
def served(sim: Simulator, db_path: Path, customer_id: int = 1) -> Iterator[Account]:
    base_url, stop = run_server_in_thread(sim, port=0)
    try:
        yield Account(sim=sim, base_url=base_url, db_path=db_path, customer_id=customer_id)
    finally:
        stop()


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The metadata values of `asset`'s materialization in `result`, as plain Python values."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == dg.AssetKey(asset):
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def query(db_path: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def warehouse_view(db_path: Path, customer_id: int = 1) -> dict[str, dict[Any, tuple]]:
    """The ingest tables of one customer, keyed like the ground truth, in comparable tuples."""
    q = lambda sql: query(db_path, sql, [customer_id])  # noqa: E731
    return {
        "products": {
            r[0]: r[1:]
            for r in q(
                "SELECT id, name, type, has_sections, section_ids FROM products WHERE customer_id = ?"
            )
        },
        "features": {
            r[0]: r[1:]
            for r in q(
                "SELECT id, product_id, title, description, howtofind, section_ids, user_stories "
                "FROM features WHERE customer_id = ? AND NOT is_deleted"
            )
        },
        "deleted_features": {
            r[0]: r[1:]
            for r in q("SELECT id, product_id FROM features WHERE customer_id = ? AND is_deleted")
        },
        "tests": {
            r[0]: r[1:]
            for r in q(
                "SELECT id, product_id, section_id, title, status, is_final, start_at, end_at, "
                "created_by, submitted_by FROM tests WHERE customer_id = ?"
            )
        },
        "test_features": {
            r[0]: r[1:]
            for r in q(
                "SELECT id, test_id, feature_id, product_id, title, enable_default, "
                "enable_content, enable_visual, user_stories FROM test_features WHERE customer_id = ?"
            )
        },
        "bugs": {
            r[0]: r[1:]
            for r in q(
                "SELECT id, test_id, product_id, test_feature_id, feature_id, severity, status, "
                "auto_accepted, known, author_name, reported_at FROM bugs WHERE customer_id = ?"
            )
        },
        "users": {
            (r[0], r[1]): r[2:]
            for r in q("SELECT name, kind, bugs_reported FROM users WHERE customer_id = ?")
        },
    }


def truth_view(truth: Any) -> dict[str, dict[Any, tuple]]:
    """The same shape as `warehouse_view`, built only from the simulator's ground truth."""
    return {
        "products": {
            pid: (p.name, p.type, p.has_sections, list(p.section_ids))
            for pid, p in truth.products.items()
        },
        "features": {
            fid: (
                f.product_id,
                f.title,
                f.description,
                f.howtofind,
                list(f.section_ids),
                list(f.user_stories),
            )
            for fid, f in truth.features.items()
        },
        "tests": {
            tid: (
                t.product_id,
                t.section_id,
                t.title,
                t.status,
                t.is_final,
                t.start_at,
                t.end_at,
                t.created_by,
                t.submitted_by,
            )
            for tid, t in truth.tests.items()
        },
        "test_features": {
            tfid: (
                tf.test_id,
                tf.feature_id,
                tf.product_id,
                tf.title,
                tf.enable_default,
                tf.enable_content,
                tf.enable_visual,
                list(tf.user_stories),
            )
            for tfid, tf in truth.test_features.items()
        },
        "bugs": {
            bid: (
                b.test_id,
                b.product_id,
                b.test_feature_id,
                b.feature_id,
                b.severity,
                b.status,
                b.auto_accepted,
                b.known,
                b.author_name,
                b.reported_at,
            )
            for bid, b in truth.bugs.items()
        },
        "users": {
            key: ((u.bugs_reported if key[1] == "tester" else 0),) for key, u in truth.users.items()
        },
    }


def assert_tables_equal(actual: dict[Any, tuple], expected: dict[Any, tuple], table: str) -> None:
    """Equal key sets and equal rows, with a readable diff of the first differences."""
    missing = sorted(set(expected) - set(actual))[:5]
    extra = sorted(set(actual) - set(expected))[:5]
    assert not missing and not extra, f"{table}: missing keys {missing}, unexpected keys {extra}"
    different = [(k, actual[k], expected[k]) for k in sorted(expected) if actual[k] != expected[k]]
    assert not different, f"{table}: {len(different)} rows differ, e.g. {different[:3]}"


def assert_warehouse_matches(db_path: Path, truth: Any, customer_id: int = 1) -> None:
    actual = warehouse_view(db_path, customer_id)
    expected = truth_view(truth)
    for table in ("products", "features", "tests", "test_features", "bugs", "users"):
        assert_tables_equal(actual[table], expected[table], table)
