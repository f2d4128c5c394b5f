"""Materialization metadata shared by the assets: column schemas and sync reports."""

from __future__ import annotations

from typing import Any

import dagster as dg

from testio_pipeline.sync.report import SyncReport
from testio_pipeline.warehouse.schema import TableSpec

# the UI shows the schema of each table on the asset page
_SQL_TO_DISPLAY = {"BIGINT NOT NULL": "BIGINT", "VARCHAR NOT NULL": "VARCHAR"}


def column_schema(spec: TableSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name,
                type=_SQL_TO_DISPLAY.get(sql_type, sql_type),
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
    if report.skipped:
        metadata["skipped_positions"] = dg.MetadataValue.json(
            [
                {"product_id": s.product_id, "position": s.position, "endpoint": s.endpoint}
                for s in report.skipped
            ]
        )
    if report.failures:
        metadata["failures"] = dg.MetadataValue.json(
            [{"scope": f.scope, "endpoint": f.endpoint, "message": f.message} for f in report.failures]
        )
    metadata.update({k: v for k, v in report.notes.items()})
    return metadata


def raise_for_failures(report: SyncReport, table: str, source: str, what_to_do: str) -> None:
    """Fail the step after the rest was written, naming what failed and what to do."""
    if not report.failures:
        return
    shown = "\n".join(
        f"- {f.scope}: {f.endpoint}: {f.message}" for f in report.failures[:10]
    )
    more = f"\n... and {len(report.failures) - 10} more" if len(report.failures) > 10 else ""
    raise dg.Failure(
        description=(
            f"{len(report.failures)} part(s) of the {table} sync failed after retries; "
            f"everything else was written and the failed parts kept their previous rows.\n"
            f"{shown}{more}\n{what_to_do}"
        ),
        metadata=report_metadata(report, table, source),
        allow_retries=True,
    )
