"""The warehouse's tables: the public contract of `../shared/warehouse_contract.md` as data.

Each table is a `TableSpec`; `ensure_schema` creates what is missing and adds columns that a
newer version of the project introduced (tables may gain columns, never lose them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb


# what a column means wherever it appears, unless its table says otherwise
COMMON_COLUMN_DESCRIPTIONS = {
    "customer_id": "The TestIO customer (account) the row belongs to; rows of two customers never mix.",
    "synced_at": "When the row's content last changed in the warehouse (UTC).",
    "raw": "The API object exactly as returned (JSON), so no field the API sends is lost.",
    "product_id": "The product (products.id).",
    "test_id": "The exploratory test (tests.id).",
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    description: str
    # column -> what it means to a SQL user (the UI shows it); `COMMON_COLUMN_DESCRIPTIONS`
    # covers the shared ones
    column_descriptions: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def describe(self, column: str) -> str:
        """What `column` means (a KeyError names a column nobody described)."""
        if column in self.column_descriptions:
            return self.column_descriptions[column]
        return COMMON_COLUMN_DESCRIPTIONS[column]

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
    column_descriptions={
        "id": "TestIO product id.",
        "name": "Product name as shown in TestIO.",
        "description": "Product description (may be empty).",
        "type": "Product type: website, mobile_app_ios, mobile_app_android, ...",
        "default_section_id": "The product's default section.",
        "has_sections": "True when the product is organised in several sections (features are listed per section).",
        "section_ids": "Ids of the product's sections.",
    },
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
    column_descriptions={
        "id": "Product feature id.",
        "title": 'Feature title, e.g. "[Checkout] Promo codes".',
        "description": "What the feature is.",
        "howtofind": "Where testers find the feature in the product.",
        "user_stories": "The feature's user stories (texts).",
        "user_story_ids": "Ids of those user stories, when the API gives them.",
        "section_ids": "Every section that lists the feature.",
        "is_deleted": "True once the feature left the catalog (kept: tests and bugs still point at it).",
        "deleted_at": "When the sync first saw the feature missing from the catalog.",
    },
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
    column_descriptions={
        "synced_at": "When the product's whole catalog was last fetched (drives the catalog TTL).",
        "feature_count": "Features the catalog listed then.",
    },
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
        # the sync's own: a test listed again with the same hash is not parsed again
        ("raw_hash", "UBIGINT"),
    ),
    column_descriptions={
        "id": "Exploratory test (test cycle) id.",
        "raw_hash": "DuckDB hash() of `raw` as listed; the next sync skips re-parsing an unchanged test (and its features and stories) by it.",
        "section_id": "Section the test ran in.",
        "title": "Test title.",
        "status": "initialized, waiting, running, locked, customer_finalized, archived, cancelled (unknown values kept).",
        "review_status": "TestIO's review outcome, e.g. review_successful.",
        "testing_type": "coverage, usability, rapid, focused, ...",
        "is_final": "True for archived and cancelled tests: their bugs never change again.",
        "start_at": "When the test started (UTC).",
        "end_at": "When the test ended (UTC).",
        "created_by": "Customer user who created the test.",
        "submitted_by": "Customer user who submitted it.",
        "bugs_synced_at": "When this test's bugs were last fetched.",
        "bugs_synced_final": "Whether the test was final at that fetch (then its bugs are not fetched again).",
    },
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
    column_descriptions={
        "id": "Test feature id: the snapshot of a product feature inside one test.",
        "feature_id": "The product feature (features.id); may be a feature since deleted from the catalog.",
        "product_id": "The product the test belongs to.",
        "title": "Feature title at the time of the test.",
        "description": "Feature description at the time of the test.",
        "howtofind": "Where to find it, at the time of the test.",
        "user_stories": "User stories in scope (texts).",
        "enable_default": "Functional bugs were in scope.",
        "enable_content": "Content bugs were in scope.",
        "enable_visual": "Visual bugs were in scope.",
        "execution_status": (
            "How the crowd's execution ended (2026 API): not_tested, passed, failed or blocked; "
            "NULL where the API sends none (older API)."
        ),
        "tester_count": "Testers who executed the feature (2026 API; NULL before).",
        "bugs_found": "Bugs found on the feature, as the API counts them (2026 API; NULL before).",
        "bug_ids": "Ids of those bugs (bugs.id) as the API lists them (2026 API; NULL before).",
    },
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
    column_descriptions={
        "test_feature_id": "The test feature (test_features.id) the story was executed in.",
        "user_story_id": "The user story id.",
        "feature_id": "The product feature of the story (the story's own, else its test feature's).",
        "product_id": "The product the test belongs to.",
        "user_story_version_id": "The version of the story that was executed.",
        "title": "Story title (else its path) at the time of the test.",
        "execution_status": "not_tested, passed, failed or blocked, as the API sends it; NULL where it sends none.",
        "tested_by_count": "Testers who executed the story.",
        "bugs_found": "Bugs found on the story, as the API counts them.",
        "bug_ids": "Ids of those bugs (bugs.id).",
    },
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
    column_descriptions={
        "id": "TestIO bug id.",
        "test_id": "The test the bug was found in.",
        "test_feature_id": "The test feature it was found in (NULL when the API gives none).",
        "feature_id": "The product feature it was found in (NULL when the API gives none).",
        "title": "The bug report's title.",
        "severity": "low, high, critical (functional); visual, content; custom.",
        "status": "forwarded (awaiting the customer), accepted or rejected.",
        "auto_accepted": "Accepted automatically after 10 days without review.",
        "known": "Marked as a known bug.",
        "reported_at": "When the tester reported it (UTC).",
        "author_name": "The tester's screen name.",
        "language": "Report language (en, de).",
        "location": "URL or place in the product where it happens.",
        "steps": "Steps to reproduce.",
        "expected_result": "What should have happened.",
        "actual_result": "What happened.",
        "exported_at": "When it was exported to the customer's tracker, if ever.",
    },
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
    column_descriptions={
        "name": "Screen name (testers) or username (customer users).",
        "kind": "tester (bug author) or customer (test creator or submitter).",
        "bugs_reported": "Bugs the tester reported.",
        "tests_created": "Tests the customer user created.",
        "tests_submitted": "Tests the customer user submitted.",
        "first_seen_at": "First bug report or test of this user.",
        "last_seen_at": "Latest bug report or test of this user.",
    },
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
    column_descriptions={
        "run_id": "The Dagster run that last skipped the record.",
        "endpoint": "The request that served (or refused) it.",
        "product_id": "The product whose listing held it (0: the account's product list).",
        "position": "Its position in the listing or response body.",
        "end_at_before": "end_at of the nearest served test before it (listings are newest first).",
        "end_at_after": "end_at of the nearest served test after it.",
        "reason": "Why it was skipped.",
        "skipped_at": "When it was skipped.",
        "asset": "The ingest asset that skipped it: products, features, tests or bugs.",
        "record_id": "The record's own id, when it has a valid one.",
        "test_id": "The test a skipped bug belongs to.",
        "field": "The field that could not be stored (id, start_at, ...).",
        "raw_value": "That field's value as served.",
    },
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
    column_descriptions={
        "asset": "The ingest asset whose part failed: features, tests or bugs.",
        "scope": 'What failed, e.g. "product 1954" or "tests 1, 2, 3".',
        "product_id": "The product that failed, if it is a product.",
        "test_ids": "The tests of a failed /bugs batch.",
        "endpoint": "The request that kept failing.",
        "status": "Its last HTTP status, if any.",
        "message": "The error, as the client reported it.",
        "run_id": "The Dagster run that last failed on it.",
        "failed_at": "When it last failed (UTC).",
    },
)

SYNC_RUNS = TableSpec(
    name="sync_runs",
    key=("customer_id", "run_id"),
    description=(
        "One row per run that published the warehouse: which state of the account the "
        "published file holds, how complete it is, and what each run changed."
    ),
    columns=(
        ("customer_id", "BIGINT NOT NULL"),
        ("run_id", "VARCHAR NOT NULL"),
        ("started_at", "TIMESTAMPTZ"),
        ("published_at", "TIMESTAMPTZ"),
        ("status", "VARCHAR"),
        ("source", "VARCHAR"),
        ("changes", "JSON"),
    ),
    column_descriptions={
        "run_id": "The Dagster run that published this state.",
        "started_at": "When that run started (UTC): the data is at least this fresh.",
        "published_at": "When its copy replaced the published file (UTC).",
        "status": "complete, or incomplete when records or parts were left out (see sync_failures and skipped_records).",
        "source": "Where the data came from: the TestIO API's URL, or the embedded simulator (simulated rows, not an account's).",
        "changes": "Per asset of the run: rows inserted, updated, unchanged and deleted.",
    },
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
    SYNC_RUNS,
)
TABLES_BY_NAME: dict[str, TableSpec] = {spec.name: spec for spec in INGEST_TABLES}


def ensure_schema(
    con: duckdb.DuckDBPyConnection, specs: tuple[TableSpec, ...] = INGEST_TABLES
) -> None:
    """Create missing tables and add columns a newer project version introduced."""
    # one catalog query for all tables: this runs every time the warehouse is opened
    existing: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
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
