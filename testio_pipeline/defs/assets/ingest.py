"""Ingest assets: the TestIO account copied into DuckDB, one table per asset.

Each asset fetches first, stages rows to Parquet, then opens DuckDB once and merges in one
transaction (see `testio_pipeline/sync/`). All of them write DuckDB, so they share the
`duckdb_writer` pool and never write at the same time; the steps that fetch claim the pool's
slot only around their DuckDB connections (`PooledWarehouse`), so runs of different accounts
fetch at the same time. With an accounts file every asset is partitioned by account and a
step works on the resources of its run's account (`defs/accounts.py`).
"""
# no `from __future__ import annotations` here: Dagster inspects the `context` annotation of
# asset functions at definition time and rejects it as a string


from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
from dagster import AssetExecutionContext

from testio_pipeline.defs.failures import actionable_failures
from testio_pipeline.defs.accounts import bind_account
from testio_pipeline.defs.metadata import (
    OWNERS,
    log_problems,
    report_metadata,
    table_definition_metadata,
)
from testio_pipeline.defs.pools import DUCKDB_WRITER_POOL, PooledWarehouse
from testio_pipeline.defs.resources import SyncOptionsResource, TestIOResource, WarehouseResource
from testio_pipeline.sync.bugs import sync_bugs
from testio_pipeline.sync.features import sync_features
from testio_pipeline.sync.products import sync_products
from testio_pipeline.sync.tests import sync_tests
from testio_pipeline.sync.users import sync_users
from testio_pipeline.warehouse.schema import (
    BUGS,
    FEATURES,
    PRODUCTS,
    TEST_FEATURE_STORIES,
    TEST_FEATURES,
    TESTS,
    USERS,
)

INGEST_GROUP = "ingest"
INGEST_KINDS = {"duckdb", "python"}

@dg.asset(
    group_name=INGEST_GROUP,
    kinds=INGEST_KINDS,
    owners=OWNERS,
    metadata=table_definition_metadata(PRODUCTS),
)
def products(
    context: AssetExecutionContext,
    testio: TestIOResource,
    warehouse: WarehouseResource,
    sync_options: SyncOptionsResource,
) -> dg.MaterializeResult:
    """Every TestIO product of the customer, with its sections (`has_sections`, `section_ids`)
    detected as the API's quirks require. One `/products` call; products missing from the API
    are kept, since tests and bugs still point at them."""
    testio, pooled, sync_options = _bound(context, testio, warehouse, sync_options)
    source = testio.describe_source()
    with actionable_failures(source, testio.explain_source()):
        report = sync_products(
            lambda: testio.client(context.log),
            pooled,
            product_ids=sync_options.product_ids,
            run_id=context.run.run_id,
            log=context.log,
        )
    log_problems(context, report, PRODUCTS.name)
    return dg.MaterializeResult(metadata=report_metadata(report, PRODUCTS.name, source))


@dg.asset(
    group_name=INGEST_GROUP,
    kinds=INGEST_KINDS,
    owners=OWNERS,
    deps=[products],
    metadata=table_definition_metadata(FEATURES),
)
def features(
    context: AssetExecutionContext,
    testio: TestIOResource,
    warehouse: WarehouseResource,
    sync_options: SyncOptionsResource,
) -> dg.MaterializeResult:
    """The feature catalog of every product, one row per feature however many sections list it
    (`section_ids` names them all). A product's catalog is re-fetched when older than
    `sync_options.catalog_ttl_minutes` (or on a full refresh); a feature gone from the catalog
    stays with `is_deleted = true`. A product whose catalog fails keeps its previous rows and is
    reported (`sync_failures`, the `sync_complete` check); the other products go on."""
    testio, pooled, sync_options = _bound(context, testio, warehouse, sync_options)
    source = testio.describe_source()
    with actionable_failures(source, testio.explain_source()):
        report = sync_features(
            lambda: testio.client(context.log),
            pooled,
            full_refresh=sync_options.full_refresh,
            product_ids=sync_options.product_ids,
            catalog_ttl=timedelta(minutes=sync_options.catalog_ttl_minutes),
            run_id=context.run.run_id,
            log=context.log,
        )
    log_problems(context, report, FEATURES.name)
    return dg.MaterializeResult(metadata=report_metadata(report, FEATURES.name, source))


@dg.multi_asset(
    group_name=INGEST_GROUP,
    specs=[
        dg.AssetSpec(
            TESTS.name,
            deps=[products],
            kinds=INGEST_KINDS,
            owners=OWNERS,
            description=(
                "Every exploratory test (test cycle) of every product, listed page by page on "
                "each run (no page cap). `is_final` marks archived and cancelled tests. Records "
                "the API refuses to serve even in pages of one, or serves in a shape that "
                "cannot be stored, are skipped and written to `skipped_records`; a product "
                "whose listing fails (e.g. 403) keeps its previous tests (`sync_failures`)."
            ),
            metadata=table_definition_metadata(TESTS),
        ),
        dg.AssetSpec(
            TEST_FEATURES.name,
            deps=[products],
            kinds=INGEST_KINDS,
            owners=OWNERS,
            description=(
                "The snapshots of product features in each test's scope (`features[]` of a "
                "test), replaced whenever the test is listed again; since the 2026 API with "
                "their execution outcome (`execution_status`, `tester_count`, `bugs_found`, "
                "`bug_ids`), NULL where the API omits it."
            ),
            metadata=table_definition_metadata(TEST_FEATURES),
        ),
        dg.AssetSpec(
            TEST_FEATURE_STORIES.name,
            deps=[products],
            kinds=INGEST_KINDS,
            owners=OWNERS,
            description=(
                "The outcome of each user story inside each test feature (2026 API, "
                "`includes[]=user_stories` on the test listing): execution status, testers, "
                "bugs found and their ids; replaced whenever the test is listed again."
            ),
            metadata=table_definition_metadata(TEST_FEATURE_STORIES),
        ),
    ],
)
def tests_and_test_features(
    context: AssetExecutionContext,
    testio: TestIOResource,
    warehouse: WarehouseResource,
    sync_options: SyncOptionsResource,
) -> Iterator[dg.MaterializeResult]:
    """Tests, their test features and their stories come from the same responses, so one
    step writes all three."""
    testio, pooled, sync_options = _bound(context, testio, warehouse, sync_options)
    source = testio.describe_source()
    with actionable_failures(source, testio.explain_source()):
        report = sync_tests(
            lambda: testio.client(context.log),
            pooled,
            run_id=context.run.run_id,
            full_refresh=sync_options.full_refresh,
            product_ids=sync_options.product_ids,
            log=context.log,
        )
    log_problems(context, report, TESTS.name)
    yield dg.MaterializeResult(
        asset_key=TESTS.name, metadata=report_metadata(report, TESTS.name, source)
    )
    for table in (TEST_FEATURES, TEST_FEATURE_STORIES):
        yield dg.MaterializeResult(
            asset_key=table.name, metadata=report_metadata(report, table.name, source)
        )


@dg.asset(
    group_name=INGEST_GROUP,
    kinds=INGEST_KINDS,
    owners=OWNERS,
    deps=[dg.AssetKey(TESTS.name)],
    metadata=table_definition_metadata(BUGS),
)
def bugs(
    context: AssetExecutionContext,
    testio: TestIOResource,
    warehouse: WarehouseResource,
    sync_options: SyncOptionsResource,
) -> dg.MaterializeResult:
    """Every bug, linked to its test and (when the API says) to the test feature it was found
    in. Incremental: only tests that are new, not final, or turned final since their last bug
    sync are fetched, in batches of `filter_test_cycle_ids`; a full refresh fetches all and
    deletes bugs the API no longer returns."""
    testio, pooled, sync_options = _bound(context, testio, warehouse, sync_options)
    source = testio.describe_source()
    with actionable_failures(source, testio.explain_source()):
        report = sync_bugs(
            lambda: testio.client(context.log),
            pooled,
            batch_size=testio.bug_batch_size,
            run_id=context.run.run_id,
            full_refresh=sync_options.full_refresh,
            product_ids=sync_options.product_ids,
            log=context.log,
        )
    log_problems(context, report, BUGS.name)
    return dg.MaterializeResult(metadata=report_metadata(report, BUGS.name, source))


@dg.asset(
    group_name=INGEST_GROUP,
    kinds=INGEST_KINDS,
    owners=OWNERS,
    # derived in DuckDB from the stored tables: the whole step is a DuckDB turn
    pool=DUCKDB_WRITER_POOL,
    deps=[dg.AssetKey(TESTS.name), bugs],
    metadata=table_definition_metadata(USERS),
)
def users(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Testers (bug authors) and customer users (test creators and submitters), derived in
    DuckDB from the stored tests and bugs: the API has no users endpoint."""
    with actionable_failures("warehouse"):
        report = sync_users(bind_account(context, warehouse).warehouse, log=context.log)
    return dg.MaterializeResult(metadata=report_metadata(report, USERS.name, "warehouse"))


def _bound(
    context: AssetExecutionContext,
    testio: TestIOResource,
    warehouse: WarehouseResource,
    sync_options: SyncOptionsResource,
) -> tuple[TestIOResource, PooledWarehouse, SyncOptionsResource]:
    """The resources of the run's account; DuckDB only inside the `duckdb_writer` slot."""
    bound = bind_account(context, warehouse, testio, sync_options)
    if bound.account is not None:
        context.log.info(f"account {bound.label} (customer {bound.account.customer_id})")
    return bound.testio or testio, PooledWarehouse(bound.warehouse, context), bound.sync_options


INGEST_ASSETS = [products, features, tests_and_test_features, bugs, users]
