"""The ingest asset checks pass on a synced warehouse and fail on crafted bad data."""

from __future__ import annotations

import duckdb
import pytest

from testio_pipeline.defs.checks.ingest import CHECKS, KEYED_BY_CUSTOMER
from testio_pipeline.warehouse import quality
from testio_pipeline.warehouse.schema import BUGS, TESTS, ensure_schema


def _check(asset: str, name: str):
    return next(c for c in CHECKS if c.spec.asset_key.to_user_string() == asset and c.spec.name == name)


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_schema(connection)
    yield connection
    connection.close()


def test_every_ingest_table_has_its_key_and_customer_check():
    covered = {(c.spec.asset_key.to_user_string(), c.spec.name) for c in CHECKS}
    for table in ("products", "features", "tests", "test_features", "test_feature_stories",
                  "bugs", "users"):
        assert (table, KEYED_BY_CUSTOMER) in covered


def test_bug_of_an_unknown_test_fails_the_reference_check(con):
    con.execute("INSERT INTO tests (customer_id, id) VALUES (1, 10)")
    con.execute("INSERT INTO bugs (customer_id, id, test_id) VALUES (1, 100, 10), (1, 101, 11)")
    # the same test id stored for another customer does not count
    con.execute("INSERT INTO tests (customer_id, id) VALUES (2, 11)")
    passed, metadata = _check("bugs", "bugs_point_at_stored_tests").evaluate(con)
    assert not passed
    assert metadata["dangling_rows"] == 1


def test_dangling_feature_references_are_counted(con):
    con.execute("INSERT INTO features (customer_id, id) VALUES (1, 5)")
    con.execute(
        "INSERT INTO test_features (customer_id, id, test_id, feature_id) "
        "VALUES (1, 1, 10, 5), (1, 2, 10, 6), (1, 3, 10, NULL)"
    )
    passed, metadata = _check("test_features", "dangling_feature_references").evaluate(con)
    assert (passed, metadata["dangling_rows"]) == (False, 1)


def test_duplicate_keys_and_null_customers_are_found_in_a_table_without_constraints(con):
    # the warehouse's own tables enforce their keys; the checks guard against a table that
    # was recreated by hand or by another tool without them
    con.execute("DROP TABLE bugs")
    con.execute("CREATE TABLE bugs AS SELECT * FROM (VALUES (1, 7), (1, 7), (NULL, 8)) t(customer_id, id)")
    assert quality.duplicate_keys(con, BUGS) == 1
    assert quality.null_customer_ids(con, BUGS.name) == 1
    assert quality.duplicate_keys(con, TESTS) == 0
    passed, metadata = _check("bugs", KEYED_BY_CUSTOMER).evaluate(con)
    assert not passed
    assert metadata == {"duplicate_keys": 1, "rows_without_customer": 1}
    assert _check("tests", KEYED_BY_CUSTOMER).evaluate(con)[0]
