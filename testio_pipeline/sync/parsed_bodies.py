"""The end of a fetch whose bodies were staged and parsed into Parquet while it ran.

The tests and bugs steps stage each response body (`StagedBodies`) and hand every complete
file to a `ParquetChunks` worker; once the fetch is over both close the same way, here.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from testio_pipeline.sync.report import SyncReport
from testio_pipeline.warehouse.parquet_chunks import ParquetChunks
from testio_pipeline.warehouse.staged_bodies import StagedBodies


def finish_parsing(
    stage: StagedBodies,
    chunks: ParquetChunks,
    raise_for_rows_error: Callable[[Exception, dict[str, str]], None],
    report: SyncReport,
    wait_note: str,
) -> None:
    """Close the last staged file, wait for the Parquet chunks, note how long that took.

    A conversion error that names a staged body is re-raised by `raise_for_rows_error` with
    the body's label (e.g. "the /bugs response for tests 1, 2, 3"); any other as it is.
    """
    stage.finish()
    try:
        chunks.finish()
    except duckdb.Error as error:
        raise_for_rows_error(error, stage.labels)
        raise
    report.notes[wait_note] = round(chunks.wait_seconds, 2)
