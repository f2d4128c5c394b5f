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
- the body is an object whose `bugs` is a list, else `TestIOResponseError`;
- the ids of the bugs that have a valid integer `id` (an integer, or a string of ASCII digits,
  within BIGINT). A bug without one (or not an object at all) is not an error of the body:
  `bug_rows` quarantines it, and the rest of the body is stored.
"""

from __future__ import annotations

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


class _RawBugsEnvelope(msgspec.Struct, gc=False):
    bugs: list[msgspec.Raw]


_DECODER = msgspec.json.Decoder(_BugsEnvelope)
_RAW_DECODER = msgspec.json.Decoder(_RawBugsEnvelope)
_BUG_KEY_DECODER = msgspec.json.Decoder(_BugKey)


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


def _records(decoders: tuple[msgspec.json.Decoder, ...], body: bytes, key: str, what: str) -> list:
    """The records under `key` of a body, after the module docstring's checks of encoding and
    shape (`what` names one record in messages: "bug", "exploratory test").

    `decoders` are (the fast decoder of the envelope with every record's key struct, the
    envelope with raw records, the key struct of one record): when a record does not fit
    the fast one, the records are decoded one by one and those that do not fit come back as
    `msgspec.Raw` (one bad record must not cost the rest of the body)."""
    fast, raw, one = decoders
    try:
        # msgspec skips unknown strings without checking their encoding; the api promises UTF-8
        body.decode("utf-8")
        return getattr(fast.decode(body), key)
    except msgspec.ValidationError:
        pass
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"malformed JSON: {exc}") from None
    try:
        records = getattr(raw.decode(body), key)
    except msgspec.ValidationError as exc:
        raise TestIOResponseError(
            f"expected a JSON object with a list of {what} objects under '{key}': {exc}"
        ) from None
    decoded: list = []
    for record in records:
        try:
            decoded.append(one.decode(record))
        except msgspec.ValidationError:
            decoded.append(record)
    return decoded


def _record_id(record: Any) -> int | None:
    """A decoded record's valid id, else None (a raw record or an invalid id)."""
    if isinstance(record, msgspec.Raw):
        return None
    return valid_id(record.id)


def raw_text(record: Any, limit: int = 500) -> str:
    """What a record that could not be used looked like, for `skipped_records`."""
    if isinstance(record, msgspec.Raw):
        return bytes(record).decode("utf-8", "replace")[:limit]
    return repr(record.id)[:limit]


def check_bug_body(body: bytes) -> tuple[int, ...]:
    """The valid ids of the bugs in a raw `/bugs` body, in order, after the module
    docstring's checks (bugs without one are left to `bug_rows` to quarantine)."""
    bugs = _records((_DECODER, _RAW_DECODER, _BUG_KEY_DECODER), body, "bugs", "bug")
    return tuple(i for i in map(_record_id, bugs) if i is not None)


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


class _RawTestsEnvelope(msgspec.Struct, gc=False):
    exploratory_tests: list[msgspec.Raw]


_TESTS_DECODERS = (
    msgspec.json.Decoder(_TestsEnvelope),
    msgspec.json.Decoder(_RawTestsEnvelope),
    msgspec.json.Decoder(_TestKey),
)


@dataclass(frozen=True, eq=False)
class TestPage:
    """One test-list response as received; `number` tells pages of one listing apart."""

    number: int
    body: bytes


@dataclass(frozen=True, eq=False)
class ListedTest:
    """A test of a listing: its id and `end_at` (as decoded), and where its record is.

    `id` is None for a record without a valid id (`bad_id` shows what it was): the listing
    skips it and reports it. `listing_position` is its 0-based place in the product's
    listing, set by the listing (pages are fetched out of order)."""

    id: int | None
    end_at: Any
    page: TestPage
    position: int
    bad_id: str | None = None
    listing_position: int = -1


def check_test_page(body: bytes, number: int) -> list[ListedTest]:
    """The tests of a raw test-list page body, in order, after the same checks as
    `check_bug_body` (malformed: `MalformedBody`; wrong shape: `TestIOResponseError`)."""
    key, what = "exploratory_tests", "exploratory test"
    page = TestPage(number, body)
    listed = []
    for n, test in enumerate(_records(_TESTS_DECODERS, body, key, what)):
        test_id = _record_id(test)
        if test_id is None:
            listed.append(ListedTest(None, None, page, n, bad_id=raw_text(test)))
        else:
            listed.append(ListedTest(test_id, test.end_at, page, n))
    return listed


# pytest would otherwise collect these classes where test modules import them
TestPage.__test__ = False  # type: ignore[attr-defined]
