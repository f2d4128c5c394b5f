"""The TestIO API layer: async client, typed errors, row models, constants. No Dagster here."""

from __future__ import annotations

from testio_pipeline.testio.client import (
    BugBody,
    ClientStats,
    FeatureCatalog,
    SkippedRecord,
    TestIOClient,
)
from testio_pipeline.testio.errors import (
    TestIOAuthError,
    TestIOError,
    TestIOHTTPError,
    TestIONotFoundError,
    TestIOResponseError,
    TestIOUnavailableError,
)

__all__ = [
    "BugBody",
    "ClientStats",
    "FeatureCatalog",
    "SkippedRecord",
    "TestIOAuthError",
    "TestIOClient",
    "TestIOError",
    "TestIOHTTPError",
    "TestIONotFoundError",
    "TestIOResponseError",
    "TestIOUnavailableError",
]
