"""`tests` and `test_features` rows from raw test-list pages, parsed by DuckDB.

Why SQL and not Python like products and features: volume and memory. A large account lists
24,000 tests of ~3.3 KB each (their `features[]` snapshots make ~65,000 test features); as
dicts, then rows, then Arrow, that was ~0.15 ms of client CPU per test and the largest Python
peak of a sync. The client now checks each page just enough to paginate (`bodies.
check_test_page`: ids and `end_at`), the page is staged to disk as it arrives
(`StagedBodies`), and DuckDB builds the rows from the staged files, in C, in bounded memory.

Which listed record becomes a row is decided by the listing (duplicates across pages and
products, holes): the caller passes it as a table `selection(filename, position, product_id)`,
one row per test to keep, where `filename` is the page's id in the stage. The semantics are
those of the warehouse contract (ids, strings and timestamps as in `json_sql`):

- tests: `product_id` is the product whose listing returned the test; `section_id` is
  `section.id`; `title` is `title`, or `test_title` when `title` is empty or missing;
  `is_final` is true for the `FINAL_TEST_STATUSES` only (unknown statuses are kept verbatim);
  `raw` is the test as compact JSON text; `bugs_synced_*` belong to the bugs step (NULL);
- test features: one row per item of the test's `features[]` (a null list gives none);
  `product_id` is the test's embedded `product.id`; `howtofind` falls back to `location`;
  `user_stories` are texts; `enable_*` nulls are false; an id seen twice keeps the last
  occurrence in listing order; the 2026 execution fields (`execution_status`,
  `tester_count`, `bugs_found`, `bug_ids`) are NULL where the API omits them;
- test feature stories: one row per story object of a test feature (the 2026 shape of
  `includes[]=user_stories`) with its execution outcome; a story without a valid id, or
  given as a plain text (older API), makes no row;
- a test without a valid `id`, with a broken `start_at` / `end_at`, or with a test feature
  without a valid `id` is not a row: it is quarantined (`rejected_tests_sql` names the field
  and the value) and the rest of its page is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from testio_pipeline.testio.json_sql import (
    first_problem,
    json_id,
    json_id_list,
    json_string,
    json_text,
    json_timestamp,
    json_timestamp_invalid,
    json_truthy,
    literal,
    parsed_stories,
    problem_value,
    staged_bodies_sql,
    story_texts_of,
    timestamptz_literal,
)
from testio_pipeline.testio.settings import FINAL_TEST_STATUSES

# the JSON reader holds a whole page in one buffer; a test page is ~80 KB at 25 tests
MIN_MAX_BODY_BYTES = 1 << 20

# what a row needs of a test and of each item of its `features[]`, each field kept as JSON so
# its type is checked before use. One json_transform parses a test once for everything: it
# gives NULL where a parent is not an object, keeps every item in place (a non-object item
# has NULL fields) and a NULL list where `features` is not an array. (Parsing the test, then
# its `features` again, then each item again was ~40 % of a chunk's SQL.)
_FEATURE_FIELDS = (
    '{"id": "JSON", "feature_id": "JSON", "title": "JSON", "description": "JSON", '
    '"howtofind": "JSON", "location": "JSON", "user_stories": ["JSON"], '
    '"enable_default": "JSON", "enable_content": "JSON", "enable_visual": "JSON", '
    '"execution_status": "JSON", "tester_count": "JSON", "bugs_found": "JSON", "bug_ids": "JSON"}'
)
_TEST_FIELDS = (
    '{"id": "JSON", "title": "JSON", "test_title": "JSON", "status": "JSON", '
    '"review_status": "JSON", "testing_type": "JSON", "section": {"id": "JSON"}, '
    '"product": {"id": "JSON"}, "start_at": "JSON", "end_at": "JSON", '
    '"created_by": "JSON", "submitted_by": "JSON", "features": [' + _FEATURE_FIELDS + "]}"
)
# a story of a test feature in the 2026 shape (includes[]=user_stories)
_STORY_FIELDS = (
    '{"id": "JSON", "path": "JSON", "title": "JSON", "feature_id": "JSON", '
    '"user_story_version_id": "JSON", "execution_status": "JSON", "tested_by_count": "JSON", '
    '"bugs_found": "JSON", "bug_ids": "JSON"}'
)


def listed_tests_sql(
    files: Sequence[str | Path], selection: str | None, *, max_body_bytes: int
) -> str:
    """The selected tests of the staged pages: (filename, position, product_id, test), where
    `test` is the raw test (JSON). The input of `test_rows_sql` and `test_feature_rows_sql`.
    With `selection` None: every record of the pages, `product_id` NULL (see `place`).
    """
    max_object = max(int(max_body_bytes), MIN_MAX_BODY_BYTES)
    if selection is None:
        chosen = "SELECT filename, position, CAST(NULL AS BIGINT) AS product_id, test FROM items"
    else:
        chosen = (
            "SELECT i.filename, i.position, s.product_id, i.test FROM items AS i "
            f"JOIN {selection} AS s ON s.filename = i.filename AND s.position = i.position"
        )
    return f"""
WITH pages AS (
    SELECT filename, exploratory_tests AS tests
    FROM ({staged_bodies_sql(files, "exploratory_tests", max_object)})
),
items AS (
    SELECT filename, unnest(tests) AS test, unnest(range(len(tests))) AS position FROM pages
)
{chosen}
"""


def _test_checks() -> list[tuple[str, str, str]]:
    """What keeps a test from being a row (see `first_problem`), in order. A test feature
    without a valid id is a problem of its test: the snapshot is one record."""
    # the first item without a valid id (1-based), NULL when there is none
    bad_ids = f"list_transform(f.features, x -> ({json_id('x.id')}) IS NULL)"
    broken_item = f"list_position({bad_ids}, true)"
    return [
        (f"{json_id('f.id')} IS NULL", "id", "coalesce(f.id::VARCHAR, left(test::VARCHAR, 200))"),
        (json_timestamp_invalid("f.start_at"), "start_at", "f.start_at"),
        (json_timestamp_invalid("f.end_at"), "end_at", "f.end_at"),
        # the item as listed: read again from the test, for the few records it concerns
        (
            f"{broken_item} IS NOT NULL",
            "features[].id",
            # (a null item is NULL in a JSON[]: named as the JSON it was)
            f"coalesce(TRY_CAST(json_extract(test, '$.features') AS JSON[])[{broken_item}]"
            "::VARCHAR, 'null')",
        ),
    ]


def _test_problem() -> tuple[str, str]:
    """(field, raw value) of the first thing that keeps a test from being a row, else NULLs."""
    return first_problem(_test_checks())


def raw_hash_sql(test: str) -> str:
    """The `tests.raw_hash` of a listed test: a 64-bit hash of its JSON text, as stored."""
    return f"hash(CAST({test} AS VARCHAR))"


def checked_tests_sql(listed: str, known: str | None = None) -> str:
    """`listed` with, per record, `unchanged`, its typed fields `f` (`_TEST_FIELDS`, NULL for
    an unchanged record) and its problem (`problem_field`, `problem_value`; NULL when the
    record is good), parsed and checked once for both the `tests` rows
    and the test feature items of a chunk (`checked=True` there): the check of every test
    feature's id reads the whole features array and was a third of a chunk's SQL when both
    computed it.

    `known(id, raw_hash)`: the tests stored already. A record with the same id and the same
    `raw_hash` is `unchanged`: it was good when stored, so it is neither parsed nor checked
    again (the rows it would give are the stored ones); the caller leaves it out of the rows.
    """
    checks = _test_checks()
    field, _ = first_problem(checks)
    if known is None:
        marked = f"SELECT *, false AS unchanged FROM {listed}"
    else:
        listed_id = json_id("json_extract(l.test, '$.id')")
        marked = (
            f"SELECT l.*, k.id IS NOT NULL AS unchanged FROM {listed} AS l LEFT JOIN {known} AS k "
            f"ON k.raw_hash = {raw_hash_sql('l.test')} AND k.id = {listed_id}"
        )
    # CASE evaluates its branch for the rows that take it only: unchanged records skip the
    # parse; the value is taken for the field found, so no check is evaluated twice
    return (
        f"SELECT *, {problem_value(checks, 'problem_field')} AS problem_value "
        f"FROM (SELECT *, CASE WHEN NOT unchanged THEN {field} END AS problem_field FROM ("
        f"SELECT *, CASE WHEN NOT unchanged THEN json_transform(test, {literal(_TEST_FIELDS)}) "
        f"END AS f FROM ({marked})))"
    )


def changed_records(checked: str) -> str:
    """The records of a `checked_tests_sql` relation that are not `unchanged`."""
    return f"(SELECT * FROM {checked} WHERE NOT unchanged)"


def test_rows_sql(
    listed: str,
    customer_id: int,
    synced_at: datetime,
    *,
    place: bool = False,
    checked: bool = False,
) -> str:
    """A SELECT of exactly the `tests` columns (in `TESTS` order) from `listed`, a relation of
    `listed_tests_sql`'s shape; values inlined, ready to be a `merge` source. Records with a
    problem (no valid id, a broken `start_at` / `end_at`) are left out.

    `place` keeps every record and adds where it was listed (`page_file`, `position`) and its
    problem (`problem_field`, `problem_value`, NULL when the row is good), for rows parsed
    before the listing has chosen its records (`chosen_tests_sql`, `rejected_tests_sql`).
    `checked`: `listed` already has the problem columns (`checked_tests_sql`)."""
    finals = ", ".join(literal(s) for s in sorted(FINAL_TEST_STATUSES))
    problem_field, problem_value = _test_problem()
    # `listed` of `checked_tests_sql` carries the problem columns already
    problems = (
        "" if checked else f", {problem_field} AS problem_field, {problem_value} AS problem_value"
    )
    kept = (
        ", filename AS page_file, position, problem_field, problem_value"
        if place
        else "WHERE problem_field IS NULL"
    )
    return f"""
WITH fields AS ({_with_fields(listed, checked)}),
checked AS (SELECT *{problems} FROM fields)
SELECT
    CAST({int(customer_id)} AS BIGINT) AS customer_id,
    {json_id("f.id")} AS id,
    CAST(product_id AS BIGINT) AS product_id,
    {json_id("f.section.id")} AS section_id,
    CASE WHEN {json_truthy("f.title")} THEN {json_text("f.title")}
         ELSE {json_text("f.test_title")} END AS title,
    {json_text("f.status")} AS status,
    {json_text("f.review_status")} AS review_status,
    {json_text("f.testing_type")} AS testing_type,
    coalesce({json_text("f.status")} IN ({finals}), false) AS is_final,
    {json_timestamp("f.start_at")} AS start_at,
    {json_timestamp("f.end_at")} AS end_at,
    {json_text("f.created_by")} AS created_by,
    {json_text("f.submitted_by")} AS submitted_by,
    {timestamptz_literal(synced_at)} AS synced_at,
    CAST(NULL AS TIMESTAMPTZ) AS bugs_synced_at,
    CAST(NULL AS BOOLEAN) AS bugs_synced_final,
    CAST(test AS JSON) AS raw,
    {raw_hash_sql("test")} AS raw_hash
    {kept if place else ""}
FROM checked
{"" if place else kept}
"""


def test_feature_items_sql(listed: str, *, checked: bool = False) -> str:
    """Every item of every test's `features[]` in `listed`, parsed once, with its place and
    its test's problem: the `items` relation `test_feature_rows_sql` and
    `test_feature_story_rows_sql` take with `place`, so a chunk parses the items once for
    both tables."""
    return f"WITH {_test_feature_items(listed, True, checked=checked)} SELECT * FROM fields"


def test_feature_rows_sql(
    listed: str,
    customer_id: int,
    synced_at: datetime,
    *,
    place: bool = False,
    items: str | None = None,
) -> str:
    """A SELECT of exactly the `test_features` columns (in `TEST_FEATURES` order), one row
    per test feature id, from `listed` (see `test_rows_sql`). Without `place`, only the
    items of records `test_rows_sql` keeps.

    `place` adds where each item was listed (`page_file`, `position`, `item_position`) and
    keeps every item: `chosen_test_features_sql` deduplicates once the listing is done.
    `items` (with `place`): a relation of `test_feature_items_sql(listed)` to read instead."""
    return f"""
WITH {_items_or_parse(listed, place, items)}
SELECT
    CAST({int(customer_id)} AS BIGINT) AS customer_id,
    {json_id("g.id")} AS id,
    test_id,
    {json_id("g.feature_id")} AS feature_id,
    product_id,
    {json_text("g.title")} AS title,
    {json_text("g.description")} AS description,
    CASE WHEN {json_truthy("g.howtofind")} THEN {json_text("g.howtofind")}
         ELSE {json_text("g.location")} END AS howtofind,
    {story_texts_of("stories")} AS user_stories,
    {json_truthy("g.enable_default")} AS enable_default,
    {json_truthy("g.enable_content")} AS enable_content,
    {json_truthy("g.enable_visual")} AS enable_visual,
    {timestamptz_literal(synced_at)} AS synced_at,
    {json_string("g.execution_status")} AS execution_status,
    {json_id("g.tester_count")} AS tester_count,
    {json_id("g.bugs_found")} AS bugs_found,
    {json_id_list("g.bug_ids")} AS bug_ids
    {", filename AS page_file, position, item_position" if place else ""}
FROM fields
{"" if place else _LAST_ITEM.format(id=json_id("g.id"), file="filename")}
"""


def test_feature_story_rows_sql(
    listed: str,
    customer_id: int,
    synced_at: datetime,
    *,
    place: bool = False,
    items: str | None = None,
) -> str:
    """A SELECT of exactly the `test_feature_stories` columns, one row per story object (the
    2026 shape of `includes[]=user_stories`) with a valid id inside a test feature with a
    valid id, from `listed` (see `test_rows_sql`); stories given as texts make no row.
    `title` is `title`, or `path` when the title is empty; `feature_id` is the story's, else
    its test feature's. Without `place`, one row per (test feature, story), the last listed.

    `place` adds where each story was listed (`page_file`, `position`, `item_position`,
    `story_position`) and keeps every one: `chosen_test_feature_stories_sql` deduplicates.
    `items` as in `test_feature_rows_sql`."""
    last = (
        "QUALIFY row_number() OVER (PARTITION BY test_feature_id, user_story_id "
        "ORDER BY filename DESC, position DESC, item_position DESC, story_position DESC) = 1"
    )
    return f"""
WITH {_items_or_parse(listed, place, items)},
stories AS (
    SELECT filename, position, item_position, test_id, product_id,
           {json_id("g.id")} AS test_feature_id, {json_id("g.feature_id")} AS item_feature_id,
           unnest(stories) AS story, unnest(range(len(stories))) AS story_position
    FROM fields
),
typed AS (
    SELECT *, story.f AS s, {json_id("story.f.id")} AS user_story_id
    FROM stories WHERE story.kind = 'OBJECT'
)
SELECT
    CAST({int(customer_id)} AS BIGINT) AS customer_id,
    test_feature_id,
    user_story_id,
    test_id,
    coalesce({json_id("s.feature_id")}, item_feature_id) AS feature_id,
    product_id,
    {json_id("s.user_story_version_id")} AS user_story_version_id,
    CASE WHEN {json_truthy("s.title")} THEN {json_string("s.title")}
         ELSE {json_string("s.path")} END AS title,
    {json_string("s.execution_status")} AS execution_status,
    {json_id("s.tested_by_count")} AS tested_by_count,
    {json_id("s.bugs_found")} AS bugs_found,
    {json_id_list("s.bug_ids")} AS bug_ids,
    {timestamptz_literal(synced_at)} AS synced_at
    {", filename AS page_file, position, item_position, story_position" if place else ""}
FROM typed
WHERE test_feature_id IS NOT NULL AND user_story_id IS NOT NULL
{"" if place else last}
"""


def _items_or_parse(listed: str, place: bool, items: str | None) -> str:
    if items is None:
        return _test_feature_items(listed, place)
    if not place:
        raise ValueError("prepared items hold every item: use them with place=True")
    return f"fields AS (SELECT * FROM {items})"


def _test_feature_items(listed: str, place: bool, *, checked: bool = False) -> str:
    """CTEs ending in `fields`: one row per item of each test's `features[]` (`g`: its typed
    fields) with the test's id and embedded product, and where it was listed (`filename`,
    `position`, `item_position`); without `place` only the items of good records."""
    test_problem = "problem_field" if checked else _test_problem()[0]
    return f"""tests AS (
    SELECT filename, position, {json_id("f.id")} AS test_id,
           {json_id("f.product.id")} AS product_id, f.features AS features,
           {test_problem} AS test_problem
    FROM ({_with_fields(listed, checked)})
),
items AS (
    SELECT filename, position, test_id, product_id, test_problem,
           unnest(features) AS g, unnest(range(len(features))) AS item_position
    FROM tests
),
parsed AS (
    SELECT *, {parsed_stories("g.user_stories", _STORY_FIELDS)} AS stories FROM items
),
fields AS (
    SELECT * FROM parsed {"" if place else _GOOD_ITEMS}
)"""


# without `place`: the items of good records only (the sync leaves the others out through
# its selection, see `rejected_tests_sql`)
_GOOD_ITEMS = "WHERE test_problem IS NULL"


# "an id seen twice keeps the last occurrence in listing order": page files are named in
# arrival order
_LAST_ITEM = (
    "QUALIFY row_number() OVER (PARTITION BY {id} "
    "ORDER BY {file} DESC, position DESC, item_position DESC) = 1"
)


def parquet_relation(files: Sequence[str | Path]) -> str:
    return "read_parquet([" + ", ".join(literal(str(f)) for f in files) + "])"


def chosen_tests_sql(files: Sequence[str | Path], selection: str, columns: Sequence[str]) -> str:
    """`columns` (the `tests` columns) of the records in `selection(filename, position,
    product_id)`, from Parquet `files` of `test_rows_sql(..., place=True)` rows; the product
    is the one the listing chose the record under."""
    selected = ", ".join("s.product_id" if c == "product_id" else f"t.{c}" for c in columns)
    return (
        f"SELECT {selected} FROM {parquet_relation(files)} AS t "
        f"JOIN {selection} AS s ON t.page_file = s.filename AND t.position = s.position "
        f"WHERE t.problem_field IS NULL"
    )


def chosen_test_features_sql(
    files: Sequence[str | Path], selection: str, columns: Sequence[str]
) -> str:
    """`columns` (the `test_features` columns) of the items of the records in `selection`,
    from Parquet `files` of `test_feature_rows_sql(..., place=True)` rows, one row per id.
    `selection` holds only good records (see `rejected_tests_sql`)."""
    selected = ", ".join(f"t.{c}" for c in columns)
    return (
        f"SELECT {selected} FROM {parquet_relation(files)} AS t "
        f"SEMI JOIN {selection} AS s ON t.page_file = s.filename AND t.position = s.position "
        + _LAST_ITEM.format(id="t.id", file="t.page_file")
    )


def chosen_test_feature_stories_sql(
    files: Sequence[str | Path], selection: str, columns: Sequence[str]
) -> str:
    """`columns` (the `test_feature_stories` columns) of the stories of the records in
    `selection`, from Parquet `files` of `test_feature_story_rows_sql(..., place=True)` rows,
    one row per (test feature, story): the last listed."""
    selected = ", ".join(f"t.{c}" for c in columns)
    return (
        f"SELECT {selected} FROM {parquet_relation(files)} AS t "
        f"SEMI JOIN {selection} AS s ON t.page_file = s.filename AND t.position = s.position "
        "QUALIFY row_number() OVER (PARTITION BY t.test_feature_id, t.user_story_id ORDER BY "
        "t.page_file DESC, t.position DESC, t.item_position DESC, t.story_position DESC) = 1"
    )


def rejected_tests_sql(test_files: Sequence[str | Path], selection: str) -> str:
    """The records in `selection` that cannot be rows: the columns of `selection`, then
    `field` and `value` (the first thing wrong), from the Parquet files of `test_rows_sql`
    with `place`."""
    return f"""
SELECT s.*, t.problem_field AS field, t.problem_value AS value
FROM {parquet_relation(test_files)} AS t
JOIN {selection} AS s ON t.page_file = s.filename AND t.position = s.position
WHERE t.problem_field IS NOT NULL
"""


def _with_fields(listed: str, checked: bool = False) -> str:
    """`listed` with `f`, its tests' typed fields (see `_TEST_FIELDS`); a relation of
    `checked_tests_sql` has them already."""
    if checked:
        return f"SELECT * FROM {listed}"
    return f"SELECT *, json_transform(test, {literal(_TEST_FIELDS)}) AS f FROM {listed}"


# pytest would otherwise collect these functions where test modules import them
test_rows_sql.__test__ = False  # type: ignore[attr-defined]
test_feature_rows_sql.__test__ = False  # type: ignore[attr-defined]
test_feature_story_rows_sql.__test__ = False  # type: ignore[attr-defined]
test_feature_items_sql.__test__ = False  # type: ignore[attr-defined]
