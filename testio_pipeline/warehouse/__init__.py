"""The DuckDB warehouse: schema, connections with lock handling, row staging, bulk merge.

Imports no Dagster, so it is usable and testable on its own. A write goes: stage rows while
fetching (`StagedRows`), then `write_transaction(path)` and `merge(con, spec, stage)`.
"""

from __future__ import annotations

from testio_pipeline.warehouse.connection import (
    WarehouseLockedError,
    open_for_read,
    open_for_write,
    write_transaction,
)
from testio_pipeline.warehouse.merge import DuplicateKeyError, MergeCounts, merge, replace_table
from testio_pipeline.warehouse.schema import TABLES_BY_NAME, TableSpec, ensure_schema
from testio_pipeline.warehouse.staging import StagedRows

__all__ = [
    "TABLES_BY_NAME",
    "DuplicateKeyError",
    "MergeCounts",
    "StagedRows",
    "TableSpec",
    "WarehouseLockedError",
    "ensure_schema",
    "merge",
    "open_for_read",
    "open_for_write",
    "replace_table",
    "write_transaction",
]
