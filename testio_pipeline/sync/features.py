"""Sync of the `features` table: each product's catalog, re-fetched when older than its TTL.

A product whose catalog fetch fails keeps its previous rows and is not marked fresh; the
other products are still written, and the failure is reported.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from testio_pipeline.sync.quarantine import replace_problems, skipped_raw_record
from testio_pipeline.sync.report import (
    ClientFactory,
    SyncFailure,
    SyncReport,
    Warehouse,
    count_rows,
    utc_now,
)
from testio_pipeline.testio import models
from testio_pipeline.testio.client import FeatureCatalog
from testio_pipeline.testio.errors import (
    TestIOError,
    TestIOResponseError,
    token_refused,
)
from testio_pipeline.testio.settings import PRODUCT_FEATURES_PATH
from testio_pipeline.warehouse.merge import merge
from testio_pipeline.warehouse.schema import FEATURE_CATALOG_SYNCS, FEATURES, PRODUCTS
from testio_pipeline.warehouse.sql_values import bigint_list, sql_literal
from testio_pipeline.warehouse.staging import StagedRows


@dataclass(frozen=True)
class StoredProduct:
    id: int
    raw: dict[str, Any]
    catalog_synced_at: datetime | None


def stored_products(
    warehouse: Warehouse, product_ids: list[int] | None, log: logging.Logger | None
) -> list[StoredProduct]:
    """The products the `products` asset stored, with when their catalog was last synced."""
    with warehouse.read(log) as con:
        return products_on(con, warehouse.customer_id, product_ids)


def products_on(
    con: duckdb.DuckDBPyConnection, customer_id: int, product_ids: list[int] | None
) -> list[StoredProduct]:
    """`stored_products` on an open connection (a step that reads more in the same turn)."""
    rows = con.execute(
        f"""
        SELECT p.id, p.raw, s.synced_at
        FROM {PRODUCTS.name} p
        LEFT JOIN {FEATURE_CATALOG_SYNCS.name} s
          ON s.customer_id = p.customer_id AND s.product_id = p.id
        WHERE p.customer_id = {sql_literal(customer_id)}
        ORDER BY p.id
        """
    ).fetchall()
    wanted = set(product_ids or [])
    return [
        StoredProduct(id=pid, raw=json.loads(raw), catalog_synced_at=synced_at)
        for pid, raw, synced_at in rows
        if not wanted or pid in wanted
    ]


# a catalog that expires within this slack is refreshed now: an hourly schedule then refreshes
# an hour-old catalog every hour, not every second hour when a run starts a few seconds early
CATALOG_TTL_SLACK = timedelta(minutes=5)


def catalogs_due(
    products: list[StoredProduct], *, now: datetime, ttl: timedelta, full_refresh: bool
) -> list[StoredProduct]:
    """Products whose catalog was never synced, is older than the TTL (less a small slack),
    or all of them on a full refresh."""
    threshold = max(ttl - CATALOG_TTL_SLACK, timedelta(0))
    return [
        p
        for p in products
        if full_refresh or p.catalog_synced_at is None or now - p.catalog_synced_at >= threshold
    ]


async def _fetch_catalogs(
    make_client: ClientFactory, products: list[StoredProduct], report: SyncReport
) -> list[FeatureCatalog | BaseException]:
    async with make_client() as client:
        try:
            return await asyncio.gather(
                *(client.fetch_feature_catalog(p.raw) for p in products), return_exceptions=True
            )
        finally:
            report.add_client_stats(client.stats)


def sync_features(
    make_client: ClientFactory,
    warehouse: Warehouse,
    *,
    full_refresh: bool = False,
    product_ids: list[int] | None = None,
    catalog_ttl: timedelta = timedelta(minutes=60),
    run_id: str = "",
    log: logging.Logger | None = None,
) -> SyncReport:
    """Fetch the catalogs that are due and merge them; features gone from a catalog are kept
    with `is_deleted = true`. A product whose catalog fails keeps its rows (`sync_failures`);
    a feature that cannot be a row is skipped (`skipped_records`) and its catalog is not
    marked fresh; only a refused token or every catalog failing fails the step."""
    report = SyncReport()
    now = utc_now()
    products = stored_products(warehouse, product_ids, log)
    due = catalogs_due(products, now=now, ttl=catalog_ttl, full_refresh=full_refresh)
    report.notes["products_due"] = len(due)
    report.notes["products_fresh"] = len(products) - len(due)
    if log:
        log.info(f"features: {len(due)} of {len(products)} product catalogs are due")
    results = asyncio.run(_fetch_catalogs(make_client, due, report)) if due else []

    synced: list[FeatureCatalog] = []
    for product, result in zip(due, results):
        if token_refused(result):
            raise result  # the token is refused for every product
        if isinstance(result, TestIOError):
            # one product's problem (e.g. 403): it keeps its previous catalog
            report.failures.append(SyncFailure.of_product(product.id, result))
            if log:
                log.warning(f"feature catalog of product {product.id} not synced: {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            synced.append(result)
    if due and not synced:
        # every catalog failed: the API is down, not one product
        raise results[0]

    with StagedRows(FEATURES) as stage:
        for catalog in synced:
            rows = []
            for position, raw in enumerate(catalog.features):
                try:
                    rows.append(
                        models.feature_row(raw, catalog.product_id, warehouse.customer_id, now)
                    )
                except TestIOResponseError as error:
                    report.skipped.append(
                        skipped_raw_record(
                            PRODUCT_FEATURES_PATH, catalog.product_id, position, raw, error
                        )
                    )
            stage.extend(rows)
        # a catalog with a skipped feature is not complete: it keeps its earlier rows
        # (no soft delete) and is not marked fresh, so the next run fetches it again
        incomplete = {s.product_id for s in report.skipped}
        complete = [c for c in synced if c.product_id not in incomplete]
        with warehouse.write(log) as con:
            synced_ids = [c.product_id for c in complete]
            report.merges[FEATURES.name] = merge(
                con,
                FEATURES,
                stage,
                delete_where=(
                    f"customer_id = {sql_literal(warehouse.customer_id)} "
                    f"AND list_contains({bigint_list(synced_ids)}, product_id)"
                ),
                soft_delete=True,
            )
            if complete:
                # marks only the products whose whole catalog arrived as fresh
                values = ", ".join(
                    "(" + ", ".join(
                        sql_literal(v)
                        for v in (warehouse.customer_id, c.product_id, now, len(c.features))
                    ) + ")"
                    for c in complete
                )
                con.execute(
                    f"""
                    INSERT OR REPLACE INTO {FEATURE_CATALOG_SYNCS.name}
                        (customer_id, product_id, synced_at, feature_count)
                    VALUES {values}
                    """
                )
            replace_problems(
                con,
                customer_id=warehouse.customer_id,
                run_id=run_id,
                asset=FEATURES.name,
                skipped=report.skipped,
                failures=report.failures,
                attempted_products=[p.id for p in due],
            )
            report.row_counts[FEATURES.name] = count_rows(con, FEATURES.name, warehouse.customer_id)
    report.notes["catalogs_synced"] = len(complete)
    return report.finish()
