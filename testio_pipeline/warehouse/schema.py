"""The warehouse's tables: the public contract of `../shared/warehouse_contract.md` as data.

Each table is a `TableSpec`; `ensure_schema` creates what is missing and adds columns that a
newer version of the project introduced (tables may gain columns, never lose them).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    description: str

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def ddl(self) -> str:
        cols = ",\n  ".join(f"{name} {sql_type}" for name, sql_type in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols},\n"
            f"  PRIMARY KEY ({', '.join(self.key)})\n)"
        )


PRODUCTS = TableSpec(
    name="products",
    key=("customer_id", "id"),
    description="One row per TestIO product of the customer.",
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("id", "BIGINT NOT NULL"),
        ("name", "VARCHAR"),
        ("description", "VARCHAR"),
        ("type", "VARCHAR"),
        ("default_section_id", "BIGINT"),
        ("has_sections", "BOOLEAN"),
        ("section_ids", "BIGINT[]"),
        ("synced_at", "TIMESTAMPTZ"),
        ("raw", "JSON"),
    ),
)

FEATURES = TableSpec(
    name="features",
    key=("customer_id", "id"),
    description=(
        "One row per product feature, deduplicated across sections; features gone from the "
        "catalog stay with is_deleted = true."
    ),
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("id", "BIGINT NOT NULL"),
        ("product_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("description", "VARCHAR"),
        ("howtofind", "VARCHAR"),
        ("user_stories", "VARCHAR[]"),
        ("user_story_ids", "BIGINT[]"),
        ("section_ids", "BIGINT[]"),
        ("is_deleted", "BOOLEAN"),
        ("deleted_at", "TIMESTAMPTZ"),
        ("synced_at", "TIMESTAMPTZ"),
        ("raw", "JSON"),
    ),
)

# when each product's feature catalog was last fetched completely: drives the catalog TTL
FEATURE_CATALOG_SYNCS = TableSpec(
    name="feature_catalog_syncs",
    key=("customer_id", "product_id"),
    description="When each product's feature catalog was last fetched completely (catalog TTL).",
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("product_id", "BIGINT NOT NULL"),
        ("synced_at", "TIMESTAMPTZ"),
        ("feature_count", "BIGINT"),
    ),
)

TESTS = TableSpec(
    name="tests",
    key=("customer_id", "id"),
    description="One row per exploratory test (test cycle).",
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("id", "BIGINT NOT NULL"),
        ("product_id", "BIGINT"),
        ("section_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("status", "VARCHAR"),
        ("review_status", "VARCHAR"),
        ("testing_type", "VARCHAR"),
        ("is_final", "BOOLEAN"),
        ("start_at", "TIMESTAMPTZ"),
        ("end_at", "TIMESTAMPTZ"),
        ("created_by", "VARCHAR"),
        ("submitted_by", "VARCHAR"),
        ("synced_at", "TIMESTAMPTZ"),
        # written by the bugs asset: when this test's bugs were last fetched, and whether the
        # test was already final then (its bugs can never change again)
        ("bugs_synced_at", "TIMESTAMPTZ"),
        ("bugs_synced_final", "BOOLEAN"),
        ("raw", "JSON"),
    ),
)

TEST_FEATURES = TableSpec(
    name="test_features",
    key=("customer_id", "id"),
    description="Per-test snapshots of the features in a test's scope.",
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("id", "BIGINT NOT NULL"),
        ("test_id", "BIGINT"),
        ("feature_id", "BIGINT"),
        ("product_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("description", "VARCHAR"),
        ("howtofind", "VARCHAR"),
        ("user_stories", "VARCHAR[]"),
        ("enable_default", "BOOLEAN"),
        ("enable_content", "BOOLEAN"),
        ("enable_visual", "BOOLEAN"),
        ("synced_at", "TIMESTAMPTZ"),
        # the 2026 API's execution outcome; NULL where the API omits it (older accounts)
        ("execution_status", "VARCHAR"),
        ("tester_count", "BIGINT"),
        ("bugs_found", "BIGINT"),
        ("bug_ids", "BIGINT[]"),
    ),
)

TEST_FEATURE_STORIES = TableSpec(
    name="test_feature_stories",
    key=("customer_id", "test_feature_id", "user_story_id"),
    description=(
        "Per test feature, the outcome of each of its user stories (2026 API, "
        "includes[]=user_stories); no rows where the API gives stories as plain texts."
    ),
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("test_feature_id", "BIGINT NOT NULL"),
        ("user_story_id", "BIGINT NOT NULL"),
        ("test_id", "BIGINT"),
        ("feature_id", "BIGINT"),
        ("product_id", "BIGINT"),
        ("user_story_version_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("execution_status", "VARCHAR"),
        ("tested_by_count", "BIGINT"),
        ("bugs_found", "BIGINT"),
        ("bug_ids", "BIGINT[]"),
        ("synced_at", "TIMESTAMPTZ"),
    ),
)

BUGS = TableSpec(
    name="bugs",
    key=("customer_id", "id"),
    description="One row per bug; test_feature_id / feature_id are NULL when the API gives no link.",
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("id", "BIGINT NOT NULL"),
        ("test_id", "BIGINT"),
        ("product_id", "BIGINT"),
        ("test_feature_id", "BIGINT"),
        ("feature_id", "BIGINT"),
        ("title", "VARCHAR"),
        ("severity", "VARCHAR"),
        ("status", "VARCHAR"),
        ("auto_accepted", "BOOLEAN"),
        ("known", "BOOLEAN"),
        ("reported_at", "TIMESTAMPTZ"),
        ("author_name", "VARCHAR"),
        ("language", "VARCHAR"),
        ("location", "VARCHAR"),
        ("steps", "VARCHAR[]"),
        ("expected_result", "VARCHAR"),
        ("actual_result", "VARCHAR"),
        ("exported_at", "TIMESTAMPTZ"),
        ("synced_at", "TIMESTAMPTZ"),
        ("raw", "JSON"),
    ),
)

USERS = TableSpec(
    name="users",
    key=("customer_id", "name", "kind"),
    description="Testers (bug authors) and customer users (test creators / submitters), derived.",
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("name", "VARCHAR NOT NULL"),
        ("kind", "VARCHAR NOT NULL"),
        ("bugs_reported", "BIGINT"),
        ("tests_created", "BIGINT"),
        ("tests_submitted", "BIGINT"),
        ("first_seen_at", "TIMESTAMPTZ"),
        ("last_seen_at", "TIMESTAMPTZ"),
    ),
)

# records the API could not serve (a poisoned test page), so a SQL user sees what is missing
SKIPPED_RECORDS = TableSpec(
    name="skipped_records",
    key=("customer_id", "run_id", "endpoint", "product_id", "position"),
    description=(
        "Records the sync could not store, still open: the API refused to serve them even "
        "after retries and bisection, or served them in a shape that cannot be typed (no "
        "valid id, a broken timestamp). The rest of their page was stored; the next run that "
        "lists their product (tests) or fetches their test's bugs (bugs) tries again and "
        "clears them when they succeed."
    ),
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("run_id", "VARCHAR NOT NULL"),
        ("endpoint", "VARCHAR NOT NULL"),
        ("product_id", "BIGINT NOT NULL"),
        ("position", "BIGINT NOT NULL"),
        ("end_at_before", "TIMESTAMPTZ"),
        ("end_at_after", "TIMESTAMPTZ"),
        ("reason", "VARCHAR"),
        ("skipped_at", "TIMESTAMPTZ"),
        ("asset", "VARCHAR"),
        ("record_id", "BIGINT"),
        ("test_id", "BIGINT"),
        ("field", "VARCHAR"),
        ("raw_value", "VARCHAR"),
    ),
)

SYNC_FAILURES = TableSpec(
    name="sync_failures",
    key=("customer_id", "asset", "scope"),
    description=(
        "Parts of the account whose sync failed after retries and that kept their previous "
        "rows: a product whose test listing or feature catalog answered an error (403, 404, "
        "persistent 5xx), a /bugs batch. Still open: the next run that tries the part again "
        "clears it when it succeeds."
    ),
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("asset", "VARCHAR NOT NULL"),
        ("scope", "VARCHAR NOT NULL"),
        ("product_id", "BIGINT"),
        ("test_ids", "BIGINT[]"),
        ("endpoint", "VARCHAR"),
        ("status", "INTEGER"),
        ("message", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("failed_at", "TIMESTAMPTZ"),
    ),
)

INGEST_TABLES: tuple[TableSpec, ...] = (
    PRODUCTS,
    FEATURES,
    FEATURE_CATALOG_SYNCS,
    TESTS,
    TEST_FEATURES,
    TEST_FEATURE_STORIES,
    BUGS,
    USERS,
    SKIPPED_RECORDS,
    SYNC_FAILURES,
)
TABLES_BY_NAME: dict[str, TableSpec] = {spec.name: spec for spec in INGEST_TABLES}


def ensure_schema(con: duckdb.DuckDBPyConnection, specs: tuple[TableSpec, ...] = INGEST_TABLES) -> None:
    """Create missing tables and add columns a newer project version introduced."""
    # one catalog query for all tables: this runs every time the warehouse is opened
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main'"
    ).fetchall():
        existing.setdefault(table, set()).add(column)
    for spec in specs:
        if spec.name not in existing:
            con.execute(spec.ddl())
            continue
        for name, sql_type in spec.columns:
            if name not in existing[spec.name]:
                plain_type = sql_type.replace(" NOT NULL", "")
                con.execute(f"ALTER TABLE {spec.name} ADD COLUMN {name} {plain_type}")
