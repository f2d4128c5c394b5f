"""DuckDB SQL fragments that read raw API JSON with the semantics of `models`.

The row builders that run in DuckDB (`bug_rows`, `test_rows`) share these, so an id, a string
or a timestamp means the same thing in every table whichever side parsed it:

- an id is an integer, or a string of ASCII digits (surrounding whitespace allowed), within
  BIGINT; anything else (bool, float, object, missing) is NULL;
- a timestamp is null, missing or blank (NULL), or an ISO-8601 string with an offset (`+02:00`,
  `+0200`, `+02`, `Z`, that UTC instant) or without one (taken as UTC); anything else is
  invalid: the row builders mark the record with a problem (`first_problem`) instead of
  failing, and the sync quarantines it;
- "whitespace" follows Python's `str.strip`.

Each helper takes a SQL expression of type JSON (NULL for a missing key) and returns SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path


# python's str.isspace set (what str.strip removes), as an RE2 class
WS = r"[\s\v\x{1c}-\x{1f}\x{85}\p{Z}]"
# an ISO-8601 UTC offset at the end of a timestamp
OFFSET = r"(Z|[+-][0-9]{2}(:?[0-9]{2}){0,2}(\.[0-9]+)?)$"


def literal(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def timestamptz_literal(value: datetime) -> str:
    """An aware datetime as a TIMESTAMPTZ literal (in UTC)."""
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value!r} must be timezone-aware")
    return f"CAST({literal(value.astimezone(timezone.utc).isoformat())} AS TIMESTAMPTZ)"


def files_list(files: str | Path | Sequence[str | Path]) -> str:
    """A glob or a list of paths as the first argument of `read_json`."""
    if isinstance(files, (str, Path)):
        return literal(str(files))
    return "[" + ", ".join(literal(str(f)) for f in files) + "]::VARCHAR[]"


# `warehouse.staged_bodies` stores each body as one document {"seq": <n>, "body": <body>}
# (testio does not import warehouse: the format is stated on both sides and tested together)
_BODY_ENVELOPE_BYTES = 64
_BODY_ID_DIGITS = 8


def staged_bodies_sql(
    files: str | Path | Sequence[str | Path], field: str, max_body_bytes: int
) -> str:
    """A SELECT of (filename, <field>) over staged body files: `filename` is the body's id
    (`<file>#<seq>`, as `staged_bodies.body_id` names it) and `<field>` the body's top-level
    array `field` as JSON[]. `max_body_bytes` bounds a body (the reader needs one whole)."""
    if not field.isidentifier():
        raise ValueError(f"not a plain field name: {field!r}")
    max_object = int(max_body_bytes) + _BODY_ENVELOPE_BYTES
    return (
        f"SELECT filename || '#' || lpad(CAST(seq AS VARCHAR), {_BODY_ID_DIGITS}, '0') "
        f"AS filename, body.{field} AS {field} "
        f"FROM read_json({files_list(files)}, "
        f"columns = {{seq: 'BIGINT', body: 'STRUCT({field} JSON[])'}}, format = 'unstructured', "
        f"filename = true, maximum_object_size = {max_object})"
    )


def json_kind(value: str) -> str:
    """The JSON type name; SQL NULL (missing key, non-object parent) and JSON null read 'NULL'."""
    return f"coalesce(json_type({value}), 'NULL')"


def json_id(value: str) -> str:
    return (
        f"CASE json_type({value}) WHEN 'UBIGINT' THEN TRY_CAST({value} AS BIGINT) "
        f"WHEN 'BIGINT' THEN TRY_CAST({value} AS BIGINT) "
        f"WHEN 'VARCHAR' THEN TRY_CAST(regexp_extract({value} ->> '$', "
        f"'^{WS}*([0-9]+){WS}*$', 1) AS BIGINT) END"
    )


def json_array_items(value: str) -> str:
    """The items of a JSON array as JSON[]; NULL when `value` is not an array."""
    return f"CASE WHEN json_type({value}) = 'ARRAY' THEN TRY_CAST({value} AS JSON[]) END"


def json_id_list(value: str) -> str:
    """The ids of a JSON array (each as `json_id`; an item that is no id is left out); NULL
    when the value is not an array (a missing key: the API did not send the list)."""
    return (
        f"list_filter(list_transform({json_array_items(value)}, i -> {json_id('i')}), "
        "i -> i IS NOT NULL)"
    )


def json_text(value: str) -> str:
    """A string unquoted; any other JSON value as its text; null as NULL."""
    return f"CASE WHEN {json_kind(value)} <> 'NULL' THEN {value} ->> '$' END"


def json_string(value: str) -> str:
    """A string unquoted; anything else NULL."""
    return f"CASE WHEN json_type({value}) = 'VARCHAR' THEN {value} ->> '$' END"


def json_bool(value: str) -> str:
    """A JSON boolean; anything else NULL."""
    return f"CASE WHEN json_type({value}) = 'BOOLEAN' THEN {value} = 'true' END"


def json_truthy(value: str) -> str:
    """Python's `bool()` of the decoded value: false, null, 0, "" and empty containers are false."""
    return (
        f"CASE {json_kind(value)} WHEN 'NULL' THEN false WHEN 'BOOLEAN' THEN {value} = 'true' "
        f"WHEN 'VARCHAR' THEN ({value} ->> '$') <> '' "
        f"WHEN 'ARRAY' THEN json_array_length({value}) > 0 "
        f"WHEN 'OBJECT' THEN {value}::VARCHAR <> '{{}}' "
        f"ELSE TRY_CAST({value} ->> '$' AS DOUBLE) <> 0 END"
    )


def not_blank(text: str) -> str:
    return f"CASE WHEN NOT regexp_full_match({text}, '{WS}*') THEN {text} END"


def strip(text: str) -> str:
    return f"regexp_replace({text}, '^{WS}+|{WS}+$', '', 'g')"


def _parsed_timestamp(value: str) -> tuple[str, str]:
    """(the stripped string of `value`, that string as TIMESTAMPTZ or NULL)."""
    text = strip(json_string(value))
    parsed = (
        f"CASE WHEN regexp_matches({text}, '{OFFSET}') THEN TRY_CAST({text} AS TIMESTAMPTZ) "
        f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMP)) END"
    )
    return text, parsed


def json_timestamp(value: str) -> str:
    """`value` as TIMESTAMPTZ per the module docstring; NULL where `json_timestamp_invalid`."""
    text, parsed = _parsed_timestamp(value)
    return (
        f"CASE WHEN {json_kind(value)} = 'NULL' OR {text} = '' THEN NULL "
        f"WHEN json_type({value}) = 'VARCHAR' THEN {parsed} END"
    )


def json_timestamp_invalid(value: str) -> str:
    """True where `value` is present but not a timestamp (the record is quarantined)."""
    text, parsed = _parsed_timestamp(value)
    return (
        f"(NOT ({json_kind(value)} = 'NULL' OR coalesce({text} = '', false)) "
        f"AND (CASE WHEN json_type({value}) = 'VARCHAR' THEN {parsed} END) IS NULL)"
    )


def first_problem(checks: Sequence[tuple[str, str, str]]) -> tuple[str, str]:
    """SQL (field, value) of the first failing check, NULL when all pass.

    Each check is (SQL boolean "this field is broken", field name, SQL of the raw value). A
    record with a problem is not stored: it becomes a `skipped_records` row naming the field
    and the value, so one bad record never stops the rest (see `sync.quarantine`).
    """
    field = "CASE " + " ".join(f"WHEN {bad} THEN {literal(name)}" for bad, name, _ in checks)
    value = "CASE " + " ".join(f"WHEN {bad} THEN {_raw_value(raw)}" for bad, _, raw in checks)
    return field + " END", value + " END"


def problem_value(checks: Sequence[tuple[str, str, str]], field: str) -> str:
    """SQL of the raw value of the check a column `field` (holding `first_problem`'s field)
    names: each check's condition is evaluated once, for the field, not again for its value
    (a check that parses a whole list was a third of a test page's SQL when run twice)."""
    return "CASE " + " ".join(
        f"WHEN {field} = {literal(name)} THEN {_raw_value(raw)}" for _, name, raw in checks
    ) + " END"


# how much of a broken value `skipped_records.raw_value` keeps
RAW_VALUE_CHARS = 500


def _raw_value(raw: str) -> str:
    return f"left(({raw})::VARCHAR, {RAW_VALUE_CHARS})"


# what `story_texts` reads of a story object
STORY_TEXT_FIELDS = '{"title": "JSON", "path": "JSON"}'


def parsed_stories(items: str, fields: str = STORY_TEXT_FIELDS) -> str:
    """A story list (`items`: JSON[], NULL for no list) with each story parsed once: per story
    a struct of its JSON type (`kind`), the story (`story`) and its `fields` (`f`, a
    json_transform structure naming at least `title` and `path`). The test features' texts
    and their story rows read the same parse (they parsed every story each, ~30 % of a
    chunk's SQL)."""
    return (
        f"list_transform({items}, s -> {{'kind': json_type(s), 'story': s, "
        f"'f': json_transform(s, {literal(fields)})}})"
    )


def story_texts(value: str) -> str:
    """`user_stories` as texts (`models.user_story_texts`): strings kept, an object gives its
    `title` if truthy, else its `path`, when that is a string; null or a non-list is []."""
    return story_texts_of(parsed_stories(json_array_items(value)))


def story_texts_of(parsed: str) -> str:
    """`story_texts` of a `parsed_stories` list."""
    title, path = "x.f.title", "x.f.path"
    # python's `title or path`, kept only when the chosen value is a string
    chosen = (
        f"CASE WHEN {json_truthy(title)} THEN {json_string(title)} ELSE {json_string(path)} END"
    )
    text = f"CASE x.kind WHEN 'VARCHAR' THEN x.story ->> '$' WHEN 'OBJECT' THEN {chosen} END"
    return (
        f"coalesce(list_filter(list_transform({parsed}, x -> {text}), s -> s IS NOT NULL), "
        f"[]::VARCHAR[])"
    )
