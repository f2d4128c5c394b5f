"""Turns the errors a sync can meet into failures a user can act on in the Dagster UI.

The UI shows a `dg.Failure`'s description above the stack trace, so each description says what
failed (endpoint, product), why, and what to do. The original error stays chained below it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from testio_pipeline.testio.errors import (
    TestIOAuthError,
    TestIOError,
    TestIONotFoundError,
    TestIOResponseError,
    TestIOUnavailableError,
)
from testio_pipeline.warehouse.connection import WarehouseFileError, WarehouseLockedError
from testio_pipeline.warehouse.memory import WarehouseMemoryError

_WHAT_TO_DO = {
    TestIOAuthError: (
        "The API rejected the token. Check TESTIO_API_TOKEN (and TESTIO_API_BASE_URL); "
        "unset the token to sync the embedded simulator instead."
    ),
    TestIONotFoundError: (
        "The API does not know this object (deleted, or not visible to this token). Refresh "
        "the products (catalog_sync_job) or drop the id from sync_options.product_ids."
    ),
    TestIOUnavailableError: (
        "The API stayed unavailable through every retry. Nothing was written by this step; "
        "the next scheduled run retries. If it persists, check TESTIO_API_BASE_URL and the "
        "network, or lower TESTIO_MAX_IN_FLIGHT if the API rate-limits (429)."
    ),
    TestIOResponseError: (
        "The API answered with something its contract does not allow. Nothing was written by "
        "this step; retry later, and report it if it persists."
    ),
}


def _advice(error: TestIOError) -> str:
    for kind, advice in _WHAT_TO_DO.items():
        if isinstance(error, kind):
            return advice
    return "Nothing was written by this step. Retry the run; report it if it persists."


@contextmanager
def actionable_failures(source: str, source_hint: str = "") -> Iterator[None]:
    """Re-raise API and warehouse-lock errors as `dg.Failure` with advice for the user;
    `source_hint` says what chose the API (e.g. that a set token turned the simulator off)."""
    try:
        yield
    except TestIOError as error:
        hint = f"\n{source_hint}." if source_hint else ""
        raise dg.Failure(
            description=f"TestIO API ({source}): {error}\n\n{_advice(error)}{hint}",
            metadata={"endpoint": error.endpoint or "", "source": source},
            allow_retries=not isinstance(error, (TestIOAuthError, TestIONotFoundError)),
        ) from error
    except WarehouseFileError as error:
        raise dg.Failure(description=str(error), metadata={"warehouse": error.path}) from error
    except WarehouseLockedError as error:
        raise dg.Failure(description=str(error), metadata={"warehouse": error.path}) from error
    except WarehouseMemoryError as error:
        # the same data would run out of the same budget again: no automatic retry
        raise dg.Failure(description=str(error), allow_retries=False) from error
