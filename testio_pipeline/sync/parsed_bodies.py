"""The end of a fetch whose bodies were staged and parsed into Parquet while it ran.

The tests and bugs steps stage each response body (`StagedBodies`) and hand every complete
file to a `ParquetChunks` worker; once the fetch is over both close the same way, here.
"""

from __future__ import annotations

from testio_pipeline.sync.report import SyncReport
from testio_pipeline.warehouse.parquet_chunks import ParquetChunks
from testio_pipeline.warehouse.staged_bodies import StagedBodies


def finish_parsing(
    stage: StagedBodies,
    chunks: ParquetChunks,
    report: SyncReport,
    wait_note: str,
) -> None:
    """Close the last staged file, wait for the Parquet chunks, note how long that took.

    Records that cannot be rows do not fail the conversion: the row builders mark them and
    the steps quarantine them (`sync.quarantine`)."""
    stage.finish()
    chunks.finish()
    report.notes[wait_note] = round(chunks.wait_seconds, 2)
