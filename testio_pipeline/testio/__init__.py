"""The TestIO API layer: async client, typed errors, row models, constants. No Dagster here."""

from __future__ import annotations

from testio_pipeline.testio.bodies import BugBody
from testio_pipeline.testio.client import TestIOClient
from testio_pipeline.testio.errors import (
    TestIOAuthError,
    TestIOError,
    TestIOHTTPError,
    TestIONotFoundError,
    TestIOResponseError,
    TestIOUnavailableError,
)
from testio_pipeline.testio.feature_catalog import FeatureCatalog
from testio_pipeline.testio.pagination import SkippedRecord
from testio_pipeline.testio.stats import ClientStats

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
