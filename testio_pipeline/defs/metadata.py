"""Materialization metadata shared by the assets: column schemas and sync reports."""

from __future__ import annotations

from typing import Any

import dagster as dg

from testio_pipeline.sync.report import SyncReport
from testio_pipeline.warehouse.schema import TableSpec

# who answers for every asset (shown in the UI)
OWNERS = ["team:qa-data"]
# the metadata of a materialization lists this many problems; the tables hold them all
LISTED_PROBLEMS = 50
# the UI shows the schema of each table on the asset page
_SQL_TO_DISPLAY = {"BIGINT NOT NULL": "BIGINT", "VARCHAR NOT NULL": "VARCHAR"}


def column_schema(spec: TableSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=_SQL_TO_DISPLAY.get(sql_type, sql_type),
                description=spec.describe(name),
                constraints=dg.TableColumnConstraints(nullable="NOT NULL" not in sql_type),
            )
            for name, sql_type in spec.columns
        ]
    )


def table_definition_metadata(spec: TableSpec) -> dict[str, Any]:
    """Static metadata declared on the asset: table name and column schema."""
    return {
        "dagster/table_name": f"main.{spec.name}",
        "dagster/column_schema": column_schema(spec),
        "primary_key": ", ".join(spec.key),
    }


def report_metadata(report: SyncReport, table: str, source: str) -> dict[str, Any]:
    """What a materialization of `table` changed and what it cost."""
    counts = report.merges.get(table)
    metadata: dict[str, Any] = {
        "dagster/row_count": report.row_counts.get(table, 0),
        "source": source,
        "requests": report.requests,
        "retries": report.retries,
        "skipped_records": len(report.skipped),
        "duration_seconds": report.duration_seconds,
    }
    if counts is not None:
        metadata.update(
            inserted=counts.inserted,
            updated=counts.updated,
            unchanged=counts.unchanged,
            deleted=counts.deleted,
        )
    metadata["failed_parts"] = len(report.failures)
    if report.skipped:
        metadata["skipped_positions"] = dg.MetadataValue.json(
            [
                {
                    "product_id": s.product_id, "position": s.position, "endpoint": s.endpoint,
                    "record_id": s.record_id, "field": s.field, "value": s.value,
                    "reason": s.reason,
                }
                for s in report.skipped[:LISTED_PROBLEMS]
            ]
        )
    if report.failures:
        metadata["failures"] = dg.MetadataValue.json(
            [
                {"scope": f.scope, "endpoint": f.endpoint, "status": f.status, "message": f.message}
                for f in report.failures[:LISTED_PROBLEMS]
            ]
        )
    metadata.update({k: v for k, v in report.notes.items()})
    return metadata


def log_problems(context: Any, report: SyncReport, table: str) -> None:
    """One warning per part the step left out; the `sync_complete` check reports them all."""
    for failure in report.failures:
        context.log.warning(f"{table}: {failure.scope} kept its previous rows: {failure.message}")
    for record in report.skipped:
        what = f"{record.field} = {record.value}" if record.field else record.reason
        who = f" {record.record_id}" if record.record_id is not None else ""
        context.log.warning(
            f"{table}: skipped record{who} (product {record.product_id}, position "
            f"{record.position}): {what}"
        )
