"""Helpers to vary raw API records in tests: a record with some fields changed or dropped,
and UTC instants to compare parsed timestamps with."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def with_(raw: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**raw, **changes}


def without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != key}
