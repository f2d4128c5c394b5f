"""After time travel, an incremental run matches the new ground truth with fewer requests than a
full sync; options narrow or widen what a run fetches."""

from __future__ import annotations

import duckdb

from testio_pipeline.testio.simulator import Simulator, SimulatorConfig
from testio_pipeline_tests.ingest.harness import (
    assert_tables_equal,
    assert_warehouse_matches,
    materialization_metadata,
    query,
    served,
    truth_view,
    warehouse_view,
)


def _requests(result) -> int:
    return sum(
        materialization_metadata(result, asset)["requests"]
        for asset in ("products", "features", "tests", "bugs")
    )


def test_sync_after_time_travel_matches_new_ground_truth_with_fewer_requests(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=11))
    with served(sim, tmp_path / "testio.duckdb") as account:
        full = account.materialize()
        catalog_before = set(sim.ground_truth().features)
        sim.advance(days=3)
        # the catalog TTL runs on the wall clock, which did not move: expire it explicitly
        incremental = account.materialize(catalog_ttl_minutes=0)
        truth = sim.ground_truth()
        assert_warehouse_matches(account.db_path, truth)
        assert _requests(incremental) < _requests(full)
        # features removed from the catalog are kept, flagged deleted
        removed = catalog_before - set(truth.features)
        assert removed, "the simulator removed no feature in 3 days; pick a longer jump"
        deleted = warehouse_view(account.db_path)["deleted_features"]
        assert removed <= set(deleted)
        meta = materialization_metadata(incremental, "bugs")
        assert meta["tests_needing_bugs"] < len(truth.tests)


def test_catalog_within_its_ttl_is_not_fetched_again(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=12))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        second = account.materialize(catalog_ttl_minutes=60)
        assert materialization_metadata(second, "features")["products_due"] == 0


def test_full_refresh_refetches_everything_and_still_matches(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=13))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        sim.advance(days=1)
        refresh = account.materialize(full_refresh=True)
        truth = sim.ground_truth()
        assert_warehouse_matches(account.db_path, truth)
        assert materialization_metadata(refresh, "bugs")["tests_needing_bugs"] == len(truth.tests)
        assert materialization_metadata(refresh, "features")["products_due"] == len(truth.products)


def test_product_filter_limits_the_run_to_those_products(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=14))
    truth = sim.ground_truth()
    chosen = sorted(truth.products)[0]
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize(product_ids=[chosen])
        stored_products = {r[0] for r in query(account.db_path, "SELECT DISTINCT product_id FROM tests")}
        assert stored_products == {chosen}
        expected = truth_view(truth)
        actual = warehouse_view(account.db_path)
        assert_tables_equal(
            actual["bugs"],
            {k: v for k, v in expected["bugs"].items() if v[1] == chosen},
            "bugs",
        )


def test_catalog_ttl_decides_which_products_are_due():
    from datetime import datetime, timedelta, timezone

    from testio_pipeline.sync.features import StoredProduct, catalogs_due

    now = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    products = [
        StoredProduct(1, {}, None),  # never synced
        StoredProduct(2, {}, now - timedelta(minutes=30)),  # fresh
        StoredProduct(3, {}, now - timedelta(minutes=58)),  # expires before the next hourly tick
        StoredProduct(4, {}, now - timedelta(hours=3)),  # stale
    ]
    due = catalogs_due(products, now=now, ttl=timedelta(hours=1), full_refresh=False)
    assert [p.id for p in due] == [1, 3, 4]
    everything = catalogs_due(products, now=now, ttl=timedelta(hours=1), full_refresh=True)
    assert [p.id for p in everything] == [1, 2, 3, 4]


def test_nightly_full_refresh_removes_what_incremental_runs_cannot_see(tmp_path):
    """A bug the API dropped from an archived test, and a test the API no longer lists, stay
    through incremental runs (final tests are never re-fetched) and go with a full refresh."""
    import duckdb

    sim = Simulator(SimulatorConfig(size="small", seed=15))
    truth = sim.ground_truth()
    final_test = next(tid for tid, t in sorted(truth.tests.items()) if t.is_final)
    product = truth.tests[final_test].product_id
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        con = duckdb.connect(str(account.db_path))
        # as if the API had served these once and dropped them since
        con.execute(
            "INSERT INTO bugs (customer_id, id, test_id, product_id, status) "
            "VALUES (1, 999000001, ?, ?, 'accepted')",
            [final_test, product],
        )
        con.execute(
            "INSERT INTO tests (customer_id, id, product_id, status, is_final, bugs_synced_final) "
            "VALUES (1, 999000002, ?, 'archived', true, true)",
            [product],
        )
        con.execute(
            "INSERT INTO bugs (customer_id, id, test_id, product_id, status) "
            "VALUES (1, 999000003, 999000002, ?, 'accepted')",
            [product],
        )
        con.close()
        stale = "SELECT count(*) FROM bugs WHERE id >= 999000000"
        account.materialize()
        assert query(account.db_path, stale) == [(2,)]
        account.materialize(full_refresh=True)
        assert query(account.db_path, stale) == [(0,)]
        assert query(account.db_path, "SELECT count(*) FROM tests WHERE id = 999000002") == [(0,)]
        assert_warehouse_matches(account.db_path, sim.ground_truth())


def test_a_test_listed_again_unchanged_is_not_parsed_again_and_a_changed_one_is(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=15))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        stored_features = query(account.db_path, "SELECT count(*) FROM test_features")[0][0]

        # nothing changed: every test is recognised by its raw_hash, so no test feature or
        # story is parsed or compared again (the merges see none of them)
        again = account.materialize()
        tests = materialization_metadata(again, "tests")
        assert tests["unchanged"] == len(sim.ground_truth().tests) and tests["updated"] == 0
        assert materialization_metadata(again, "test_features")["unchanged"] == 0
        assert materialization_metadata(again, "test_feature_stories")["unchanged"] == 0
        assert query(account.db_path, "SELECT count(*) FROM test_features")[0][0] == stored_features

        # some tests change (status, features): exactly those are parsed and merged again
        sim.advance(days=3)
        later = account.materialize(catalog_ttl_minutes=0)
        assert_warehouse_matches(account.db_path, sim.ground_truth())
        changed = materialization_metadata(later, "tests")
        assert 0 < changed["inserted"] + changed["updated"] < len(sim.ground_truth().tests)
        assert changed["unchanged"] > 0

        # a full refresh parses every test again
        refresh = account.materialize(full_refresh=True)
        assert materialization_metadata(refresh, "test_features")["unchanged"] > 0
        assert_warehouse_matches(account.db_path, sim.ground_truth())


def test_an_unchanged_test_listed_under_another_product_moves_there(tmp_path):
    sim = Simulator(SimulatorConfig(size="small", seed=16))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        # as if an earlier listing had put the test under another product
        test_id, product_id = query(account.db_path, "SELECT id, product_id FROM tests LIMIT 1")[0]
        with duckdb.connect(str(account.db_path)) as con:
            con.execute("UPDATE tests SET product_id = -1 WHERE id = ?", [test_id])
        again = account.materialize()
        assert materialization_metadata(again, "tests")["updated"] == 1
        moved = query(account.db_path, "SELECT product_id FROM tests WHERE id = ?", [test_id])
        assert moved == [(product_id,)]


def test_a_stored_test_served_broken_later_is_parsed_quarantined_and_keeps_its_row(tmp_path):
    # the unchanged-test skip trusts a record's hash: a broken record hashes differently, so it
    # is parsed, found broken and quarantined like on a first sync, and its stored row stays
    sim = Simulator(SimulatorConfig(size="small", seed=17))
    with served(sim, tmp_path / "testio.duckdb") as account:
        account.materialize()
        victim = min(sim.ground_truth().tests)
        # the test is not final: the bugs step stamps its bugs_synced_at on every run
        row = "SELECT * EXCLUDE (bugs_synced_at) FROM tests WHERE id = ?"
        stored = query(account.db_path, row, [victim])
        sim.hostile.test_fields[victim] = {"start_at": "20/11/2025 12:00"}

        broken = account.materialize()
        unchanged = materialization_metadata(broken, "tests")["unchanged"]
        assert unchanged == len(sim.ground_truth().tests) - 1
        skipped = "SELECT asset, record_id, field, raw_value FROM skipped_records"
        assert query(account.db_path, skipped) == [
            ("tests", victim, "start_at", '"20/11/2025 12:00"')
        ]
        assert query(account.db_path, row, [victim]) == stored

        # served correctly again: recognised as the record stored, and the quarantine is lifted
        sim.hostile.clear()
        account.materialize()
        assert query(account.db_path, skipped) == []
        assert_warehouse_matches(account.db_path, sim.ground_truth())
