"""`bugs` rows from raw `/bugs` response bodies, parsed by DuckDB: the one definition of a bug row.

Why SQL and not a Python function like the other `*_row` models: volume. A large account has
~220,000 bugs; turning each into a dict and then a row cost ~0.12 ms of client CPU per bug,
more than the API spent serving it. The client now stages each checked body to disk
(`testio_pipeline.testio.bodies`, `testio_pipeline.warehouse.staged_bodies`) and DuckDB reads
the bodies with an explicit schema (`bugs` as `JSON[]`), unnests them and builds the columns in
C, in bounded memory, at write time.

The semantics are those of the warehouse contract and of `models` for the other tables:

- ids come from `id`, `test.id`, `product.id`, `test_feature.id` and `test_feature.feature_id`:
  an integer, or a string of ASCII digits (surrounding whitespace allowed), within BIGINT;
  anything else (bool, float, object, missing) is NULL. A bug that is not an object or has
  no valid `id` is not a row (it is quarantined, see `bug_rows_sql`); `test_feature` missing,
  null or empty gives NULL links and the bug is kept; a bug whose `test.id` is not among the
  tests asked for is kept too;
- `auto_accepted` / `known` are JSON booleans, anything else NULL;
- `reported_at` / `exported_at`: null, missing or blank is NULL; an ISO-8601 string with an
  offset (`+02:00`, `+0200`, `+02`, `Z`) becomes that UTC instant, one without an offset is
  taken as UTC; a non-string or an unparseable string makes the bug a quarantined record;
- `author_name` is `author.name` when it is a string;
- `steps` is a list of strings without blank entries: a list is kept (non-string items as
  their JSON text, nulls dropped), a string is split on line breaks with each line stripped,
  null or missing is `[]`, any other value is the one-item list of its JSON text;
- `expected_result` / `actual_result` are NULL unless a non-blank string (kept unstripped);
- `title`, `severity`, `status`, `language`, `location` are the string (other JSON values as
  their JSON text);
- `raw` is the bug object as compact JSON text, non-ASCII kept as is;
- a bug id seen more than once keeps the occurrence in the last body (by body id, which the
  stage gives in arrival order), and within a body the last one.

"Whitespace" and "line break" follow Python's `str.strip` / `str.splitlines`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path

from testio_pipeline.testio.json_sql import (
    OFFSET,
    WS,
    first_problem,
    json_bool,
    json_id,
    json_kind,
    json_string,
    json_text,
    literal,
    not_blank,
    staged_bodies_sql,
    strip,
    timestamptz_literal,
)

# the JSON reader needs a whole body in one buffer and allocates about twice this per thread:
# DuckDB's own default (16 MB) unless the caller knows its largest body (~100 KB for 15 tests)
DEFAULT_MAX_BODY_BYTES = 16 << 20
MIN_MAX_BODY_BYTES = 1 << 20

# python's str.splitlines boundaries
_LINE_BREAK = r"\r\n|[\n\r\v\f\x{1c}-\x{1e}\x{85}\x{2028}\x{2029}]"

# the fields a row needs, each kept as JSON so its type can be checked before it is used;
# json_transform parses a bug once and gives NULL where a parent is not an object
_STRUCTURE = (
    '{"id": "JSON", "test": {"id": "JSON"}, "product": {"id": "JSON"}, '
    '"test_feature": {"id": "JSON", "feature_id": "JSON"}, "title": "JSON", '
    '"severity": "JSON", "status": "JSON", "auto_accepted": "JSON", "known": "JSON", '
    '"reported_at": "JSON", "author": {"name": "JSON"}, "language": "JSON", '
    '"location": "JSON", "steps": "JSON", "expected_result": "JSON", '
    '"actual_result": "JSON", "exported_at": "JSON"}'
)


def _timestamp(name: str) -> str:
    # reads the columns <name>_type (JSON type) and <name>_text (the stripped string)
    kind, text = f"{name}_type", f"{name}_text"
    return f"CASE WHEN {kind} = 'VARCHAR' AND {text} <> '' THEN {_parsed(text)} END"


def _timestamp_invalid(name: str) -> str:
    kind, text = f"{name}_type", f"{name}_text"
    return (
        f"(NOT ({kind} = 'NULL' OR coalesce({text} = '', false)) "
        f"AND (CASE WHEN {kind} = 'VARCHAR' THEN {_parsed(text)} END) IS NULL)"
    )


def _parsed(text: str) -> str:
    return (
        f"CASE WHEN regexp_matches({text}, '{OFFSET}') THEN TRY_CAST({text} AS TIMESTAMPTZ) "
        f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMP)) END"
    )


def _steps(value: str) -> str:
    from_list = (
        f"list_filter(list_transform(TRY_CAST({value} AS JSON[]), s -> {json_text('s')}), "
        f"s -> NOT regexp_full_match(s, '{WS}*'))"
    )
    from_text = (
        f"list_filter(list_transform(regexp_split_to_array({value} ->> '$', '{_LINE_BREAK}'), "
        f"s -> {strip('s')}), s -> s <> '')"
    )
    return (
        f"CASE {json_kind(value)} WHEN 'ARRAY' THEN {from_list} WHEN 'VARCHAR' THEN {from_text} "
        f"WHEN 'NULL' THEN []::VARCHAR[] ELSE [{value}::VARCHAR] END"
    )


def _deduplicated(relation: str, duplicate_ids: Collection[int] | None) -> str:
    last = "QUALIFY row_number() OVER (PARTITION BY id ORDER BY filename DESC, position DESC) = 1"
    if duplicate_ids is None:
        # bugs without an id are no duplicates of each other: each is quarantined on its own
        return (
            f"SELECT * FROM {relation} WHERE id IS NULL "
            f"UNION ALL SELECT * FROM {relation} WHERE id IS NOT NULL {last}"
        )
    if not duplicate_ids:
        return f"SELECT * FROM {relation}"
    ids = "[" + ", ".join(str(int(i)) for i in sorted(set(duplicate_ids))) + "]::BIGINT[]"
    # NOT MATERIALIZED above: each branch reads the files again instead of DuckDB keeping a
    # copy of every bug in memory; this path only runs when the API repeated a bug
    return (
        f"SELECT * FROM {relation} WHERE id IS NULL OR NOT list_contains({ids}, id) "
        f"UNION ALL SELECT * FROM {relation} WHERE list_contains({ids}, id) {last}"
    )


def bug_rows_sql(
    files: str | Path | Sequence[str | Path],
    customer_id: int,
    synced_at: datetime,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    duplicate_ids: Collection[int] | None = None,
    with_problems: bool = False,
) -> str:
    """A SELECT of exactly the `bugs` columns (in `BUGS` order), one row per bug id.

    `files` is a glob or a list of `StagedBodies` files, whose bodies are `/bugs` responses
    (a JSON object with a `bugs` array) of at most `max_body_bytes`; the semantics are those of
    the module docstring. A bug that cannot be a row (not an object, no valid id, a broken
    timestamp) is left out; with `with_problems` every bug is kept and four columns follow
    the `bugs` columns: `body_file` and `body_position` (where it was), `problem_field` and
    `problem_value` (NULL for a good row), so the caller can quarantine the bad ones. Values
    are inlined (file names quoted), so the SQL can be handed to `merge` as a source as is.

    Deduplication needs a window over every bug, which DuckDB cannot spill, so a caller that
    knows which ids occur more than once (the client decodes every id anyway) passes them as
    `duplicate_ids`, and only those bugs go through the window; None means "unknown": every
    bug does. Passing too few duplicates makes the result repeat an id, which `merge`
    rejects loudly.
    """
    synced = timestamptz_literal(synced_at)
    max_object = max(int(max_body_bytes), MIN_MAX_BODY_BYTES)
    problem_field, problem_value = first_problem(
        [
            (f"{json_kind('bug')} <> 'OBJECT'", "bug", "coalesce(bug::VARCHAR, 'null')"),
            ("id IS NULL", "id", "coalesce(f.id::VARCHAR, left(bug::VARCHAR, 200))"),
            (_timestamp_invalid("reported_at"), "reported_at", "f.reported_at"),
            (_timestamp_invalid("exported_at"), "exported_at", "f.exported_at"),
        ]
    )
    kept = (
        ", filename AS body_file, position AS body_position, problem_field, problem_value"
        if with_problems
        else ""
    )
    return f"""
WITH bodies AS (
    {staged_bodies_sql(files, "bugs", max_object)}
),
items AS (
    SELECT filename, unnest(bugs) AS bug, unnest(range(len(bugs))) AS position FROM bodies
),
fields AS (
    SELECT filename, position, bug, json_transform(bug, {literal(_STRUCTURE)}) AS f
    FROM items
),
keyed AS NOT MATERIALIZED (
    SELECT *, {json_id("f.id")} AS id FROM fields
),
latest AS (
    {_deduplicated("keyed", duplicate_ids)}
),
prepared AS (
    SELECT *,
        {json_kind("f.reported_at")} AS reported_at_type,
        {strip(json_string("f.reported_at"))} AS reported_at_text,
        {json_kind("f.exported_at")} AS exported_at_type,
        {strip(json_string("f.exported_at"))} AS exported_at_text,
        {json_string("f.expected_result")} AS expected_text,
        {json_string("f.actual_result")} AS actual_text
    FROM latest
),
checked AS (
    SELECT *, {problem_field} AS problem_field, {problem_value} AS problem_value FROM prepared
)
SELECT
    CAST({int(customer_id)} AS BIGINT) AS customer_id,
    id,
    {json_id("f.test.id")} AS test_id,
    {json_id("f.product.id")} AS product_id,
    {json_id("f.test_feature.id")} AS test_feature_id,
    {json_id("f.test_feature.feature_id")} AS feature_id,
    {json_text("f.title")} AS title,
    {json_text("f.severity")} AS severity,
    {json_text("f.status")} AS status,
    {json_bool("f.auto_accepted")} AS auto_accepted,
    {json_bool("f.known")} AS known,
    {_timestamp("reported_at")} AS reported_at,
    {json_string("f.author.name")} AS author_name,
    {json_text("f.language")} AS language,
    {json_text("f.location")} AS location,
    {_steps("f.steps")} AS steps,
    {not_blank("expected_text")} AS expected_result,
    {not_blank("actual_text")} AS actual_result,
    {_timestamp("exported_at")} AS exported_at,
    {synced} AS synced_at,
    CAST(bug AS JSON) AS raw
    {kept}
FROM checked
{"" if with_problems else "WHERE problem_field IS NULL"}
"""
