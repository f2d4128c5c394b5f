"""Raw `/bugs` bodies: checked at fetch time, kept as bytes, parsed later in DuckDB.

A large account answers ~220,000 bugs. Building a Python dict per bug (orjson) and then a row
per bug cost the client more CPU than the API spent producing them, so the client no longer
parses bugs: it checks each body just enough to decide between "retry", "fail loudly" and
"keep", hands the bytes on, and `testio_pipeline.testio.bug_rows` turns the stored bodies into
rows in DuckDB at write time.

The check decodes with msgspec into one single-field struct per bug, in C: ~1.5 µs a bug,
against ~10 µs for `orjson.loads` and ~7-11 µs for a `json_valid` round trip through an
in-memory DuckDB connection (measured on a 91-bug body of the simulator). It guarantees:

- the body is UTF-8 JSON, else `MalformedBody` (a `ValueError`: the client retries it like any
  broken 2xx);
- the body is an object whose `bugs` is a list of objects, else `TestIOResponseError`;
- every bug has a valid integer `id` (an integer, or a string of ASCII digits, within BIGINT),
  else `TestIOResponseError` naming the bug's position. `bug_rows` applies the same rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

import msgspec

from testio_pipeline.testio.errors import TestIOError, TestIOResponseError

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


class MalformedBody(ValueError):
    """A 2xx body that is not UTF-8 JSON: a transport accident, worth retrying."""


class _BugKey(msgspec.Struct, gc=False):
    # everything but the id is skipped by the decoder (still checked to be well-formed JSON)
    id: Union[int, str]


class _BugsEnvelope(msgspec.Struct, gc=False):
    bugs: list[_BugKey]


_DECODER = msgspec.json.Decoder(_BugsEnvelope)


@dataclass(frozen=True)
class BugBody:
    """The outcome of one `/bugs` request: its checked body, or the error it ended with.

    `test_ids` are the ids the request asked for, including tests that have no bugs, so a
    caller can mark them synced. On success `body` holds the response bytes as received and
    `bug_ids` the id of each of its bugs, in order; on failure (after the client's retries)
    `error` is set and `body` is empty.
    """

    test_ids: tuple[int, ...]
    body: bytes = b""
    bug_ids: tuple[int, ...] = ()
    error: TestIOError | None = None

    @property
    def bug_count(self) -> int:
        """How many bugs the body holds."""
        return len(self.bug_ids)


def valid_id(value: int | str) -> int | None:
    """A decoded `id` as `bug_rows` stores it (digits only, within BIGINT), else None."""
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value)
    return value if BIGINT_MIN <= value <= BIGINT_MAX else None


def _records(decoder: msgspec.json.Decoder, body: bytes, key: str, what: str) -> list:
    """The records under `key` of a body, after the module docstring's checks of encoding and
    shape (`what` names one record in messages: "bug", "exploratory test"); every record's
    `id` is then `valid_id`-checked by `_record_id`."""
    try:
        # msgspec skips unknown strings without checking their encoding; the api promises UTF-8
        body.decode("utf-8")
        envelope = decoder.decode(body)
    except msgspec.ValidationError as exc:
        # msgspec names the offending path: a missing id is reported at `$.<key>[n]`, a
        # mistyped one at `$.<key>[n].id`
        path = re.search(rf"`\$\.{key}\[(\d+)\](\.id)?`", str(exc))
        if path and (path.group(2) or "field `id`" in str(exc)):
            raise TestIOResponseError(
                f"{what} at $.{key}[{path.group(1)}] has no valid integer 'id': {exc}"
            ) from None
        raise TestIOResponseError(
            f"expected a JSON object with a list of {what} objects under '{key}': {exc}"
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"malformed JSON: {exc}") from None
    return getattr(envelope, key)


def _record_id(value: int | str, position: int, key: str, what: str) -> int:
    record_id = valid_id(value)
    if record_id is None:
        raise TestIOResponseError(
            f"{what} at $.{key}[{position}] has no valid integer 'id': {value!r:.80}"
        )
    return record_id


def check_bug_body(body: bytes) -> tuple[int, ...]:
    """The ids of the bugs in a raw `/bugs` body, in order, after the module docstring's checks."""
    bugs = _records(_DECODER, body, "bugs", "bug")
    return tuple(_record_id(bug.id, n, "bugs", "bug") for n, bug in enumerate(bugs))


# --- test-list pages -------------------------------------------------------------------------
# Pagination needs only each listed test's id (to drop repeats) and `end_at` (to place a
# skipped record between its neighbours); the rows are built later from the stored page by
# `testio_pipeline.testio.test_rows`. The same msgspec check costs ~4 µs a test against ~13 µs
# for `orjson.loads` plus ~60 µs to build rows in Python.


class _TestKey(msgspec.Struct, gc=False):
    id: Union[int, str]
    # any JSON value: a broken end_at is the row builder's error to report, not the listing's
    end_at: Any = None


class _TestsEnvelope(msgspec.Struct, gc=False):
    exploratory_tests: list[_TestKey]


_TESTS_DECODER = msgspec.json.Decoder(_TestsEnvelope)


@dataclass(frozen=True, eq=False)
class TestPage:
    """One test-list response as received; `number` tells pages of one listing apart."""

    number: int
    body: bytes


@dataclass(frozen=True, eq=False)
class ListedTest:
    """A test of a listing: its id and `end_at` (as decoded), and where its record is."""

    id: int
    end_at: Any
    page: TestPage
    position: int


def check_test_page(body: bytes, number: int) -> list[ListedTest]:
    """The tests of a raw test-list page body, in order, after the same checks as
    `check_bug_body` (malformed: `MalformedBody`; wrong shape or id: `TestIOResponseError`)."""
    key, what = "exploratory_tests", "exploratory test"
    page = TestPage(number, body)
    return [
        ListedTest(_record_id(test.id, n, key, what), test.end_at, page, n)
        for n, test in enumerate(_records(_TESTS_DECODER, body, key, what))
    ]


# pytest would otherwise collect these classes where test modules import them
TestPage.__test__ = False  # type: ignore[attr-defined]
