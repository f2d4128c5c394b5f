"""Parse raw TestIO API objects into warehouse rows, at the boundary.

Each `*_row` function returns a dict whose keys are exactly the column names of the matching
`TableSpec` in `testio_pipeline.warehouse.schema`, with the semantics of
`shared/warehouse_contract.md`: timestamps become aware UTC datetimes, `raw` keeps the API object
as compact JSON text, and the API's null quirks (§5.9 of the API reference) are normalised here
so no later layer has to know them. Required keys (ids) raise `TestIOResponseError` naming the
object; optional keys are read with `.get` and may be None. Pure functions, no I/O.

Tests, test features and bugs are the exception: there are too many to build Python objects
for, so their rows are built by DuckDB from the raw response bodies, in
`testio_pipeline.testio.test_rows` and `testio_pipeline.testio.bug_rows`.
"""

from __future__ import annotations

import json

import orjson
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from testio_pipeline.testio.errors import TestIOResponseError

Raw = Mapping[str, Any]
Row = dict[str, Any]

# how much of an offending object an error message quotes
_SNIPPET_CHARS = 200


def raw_json(raw: Raw) -> str:
    """The API object as compact JSON text, non-ASCII kept as is (the `raw` column)."""
    try:
        # orjson writes the same compact UTF-8 text as json.dumps, several times faster
        return orjson.dumps(raw).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(raw, separators=(",", ":"), ensure_ascii=False)


def _describe(raw: Any) -> str:
    try:
        text = json.dumps(raw, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(raw)
    return text if len(text) <= _SNIPPET_CHARS else text[:_SNIPPET_CHARS] + "..."


def _as_id(value: Any) -> int | None:
    # bool is an int subclass; a True id is a broken payload, not id 1
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def required_id(raw: Any, what: str, key: str = "id") -> int:
    """`raw[key]` as an int, or a `TestIOResponseError` naming the object."""
    if not isinstance(raw, Mapping):
        raise TestIOResponseError(f"{what} is not a JSON object: {_describe(raw)}")
    value = _as_id(raw.get(key))
    if value is None:
        raise TestIOResponseError(
            f"{what} has no valid integer {key!r}: {_describe(raw)}"
        )
    return value


def parse_timestamp(value: Any, what: str = "timestamp") -> datetime | None:
    """An ISO-8601 timestamp with any offset as an aware UTC datetime; null or "" gives None.

    The API sends local offsets (`+01:00`, `+02:00`) and sometimes `Z`; a timestamp without an
    offset is taken as UTC. Anything unparseable raises `TestIOResponseError`.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TestIOResponseError(f"{what} is not a string: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise TestIOResponseError(f"{what} is not an ISO-8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def section_layout(product: Raw) -> tuple[bool, tuple[int, ...]]:
    """(has_sections, section_ids) of a raw product, by the API reference §3.1 detection.

    `has_sections = len(sections) > 0 or len(sections_with_default) > 1`; the ids are those of
    `sections` when it is non-empty, else of `sections_with_default` (for a product without
    sections that is its single default section). Ids come back sorted and unique.
    """
    sections = product.get("sections") or []
    with_default = product.get("sections_with_default") or []
    has_sections = len(sections) > 0 or len(with_default) > 1
    source = sections if sections else with_default
    ids = {_as_id(s.get("id")) if isinstance(s, Mapping) else _as_id(s) for s in source}
    return has_sections, tuple(sorted(i for i in ids if i is not None))


def user_story_texts(value: Any) -> tuple[list[str], list[int]]:
    """Story texts and ids from a `user_stories` array of strings and/or objects.

    Strings are kept; an object contributes its `title`, falling back to `path`, and its `id`
    (the 2026 `includes[]=user_stories` shape). Null becomes an empty list.
    """
    texts: list[str] = []
    ids: list[int] = []
    for story in value or []:
        if isinstance(story, str):
            texts.append(story)
        elif isinstance(story, Mapping):
            text = story.get("title") or story.get("path")
            if isinstance(text, str):
                texts.append(text)
            story_id = _as_id(story.get("id"))
            if story_id is not None:
                ids.append(story_id)
    return texts, ids


def product_row(raw: Raw, customer_id: int, synced_at: datetime) -> Row:
    """A `products` row from a raw product object."""
    product_id = required_id(raw, "product")
    has_sections, section_ids = section_layout(raw)
    return {
        "customer_id": customer_id,
        "id": product_id,
        "name": raw.get("name"),
        "description": raw.get("description"),
        "type": raw.get("type"),
        "default_section_id": _as_id(raw.get("default_section_id")),
        "has_sections": has_sections,
        "section_ids": list(section_ids),
        "synced_at": synced_at,
        "raw": raw_json(raw),
    }


def feature_row(
    raw_with_section_ids: Raw, product_id: int, customer_id: int, synced_at: datetime
) -> Row:
    """A `features` row from a feature as `TestIOClient.fetch_feature_catalog` returns it.

    The input is the raw API object plus the client's `section_ids`; `raw` stores the API object
    without that added key. A fetched feature is in the catalog, so `is_deleted` is False.
    """
    feature_id = required_id(raw_with_section_ids, "feature")
    raw = {k: v for k, v in raw_with_section_ids.items() if k != "section_ids"}
    texts, story_ids = user_story_texts(raw.get("user_stories"))
    listed_in = (_as_id(s) for s in raw_with_section_ids.get("section_ids") or [])
    section_ids = sorted({i for i in listed_in if i is not None})
    return {
        "customer_id": customer_id,
        "id": feature_id,
        "product_id": product_id,
        "title": raw.get("title"),
        "description": raw.get("description"),
        "howtofind": raw.get("howtofind"),
        "user_stories": texts,
        "user_story_ids": story_ids,
        "section_ids": section_ids,
        "is_deleted": False,
        "deleted_at": None,
        "synced_at": synced_at,
        "raw": raw_json(raw),
    }
