"""Sync of the `products` table: one `/products` call, merged on (customer_id, id)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from testio_pipeline.sync.report import ClientFactory, SyncReport, Warehouse, count_rows, utc_now
from testio_pipeline.sync.quarantine import replace_problems, skipped_raw_record
from testio_pipeline.testio import models
from testio_pipeline.testio.errors import TestIOResponseError
from testio_pipeline.testio.settings import PRODUCTS_PATH
from testio_pipeline.warehouse.merge import merge
from testio_pipeline.warehouse.schema import PRODUCTS
from testio_pipeline.warehouse.staging import StagedRows


async def _fetch_products(make_client: ClientFactory, report: SyncReport) -> list[dict[str, Any]]:
    async with make_client() as client:
        try:
            return await client.list_products()
        finally:
            report.add_client_stats(client.stats)


def sync_products(
    make_client: ClientFactory,
    warehouse: Warehouse,
    *,
    product_ids: list[int] | None = None,
    run_id: str = "",
    log: logging.Logger | None = None,
) -> SyncReport:
    """Fetch every product (or those in `product_ids`) and merge them into `products`.

    Products missing from the API are kept: tests and bugs still point at them. A product
    record that cannot be a row is skipped and written to `skipped_records`.
    """
    report = SyncReport()
    raw_products = asyncio.run(_fetch_products(make_client, report))
    if product_ids:
        wanted = set(product_ids)
        raw_products = [p for p in raw_products if p.get("id") in wanted]
    synced_at = utc_now()
    rows = []
    for position, raw in enumerate(raw_products):
        try:
            rows.append(models.product_row(raw, warehouse.customer_id, synced_at))
        except TestIOResponseError as error:
            report.skipped.append(skipped_raw_record(PRODUCTS_PATH, 0, position, raw, error))
    with StagedRows(PRODUCTS) as stage:
        stage.extend(rows)
        with warehouse.write(log) as con:
            report.merges[PRODUCTS.name] = merge(con, PRODUCTS, stage)
            # the whole list was fetched: every earlier problem of it is cleared
            replace_problems(
                con, customer_id=warehouse.customer_id, run_id=run_id, asset=PRODUCTS.name,
                skipped=report.skipped, failures=[], attempted_products=[0],
            )
            report.row_counts[PRODUCTS.name] = count_rows(con, PRODUCTS.name, warehouse.customer_id)
    report.notes["products_fetched"] = len(raw_products)
    return report.finish()
