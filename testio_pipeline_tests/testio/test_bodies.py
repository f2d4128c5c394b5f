"""The fetch-time check of raw `/bugs` bodies: malformed is retryable, a broken envelope is
not, and a broken bug is left to the row builder to quarantine (the rest is kept)."""

from __future__ import annotations

import pytest

from testio_pipeline.testio.bodies import BugBody, MalformedBody, check_bug_body, valid_id
from testio_pipeline.testio.errors import TestIOResponseError


def test_a_good_body_gives_its_bug_ids_in_order() -> None:
    body = b'{"bugs": [{"id": 3, "steps": ["a"]}, {"id": "12", "x": {"y": [1, null]}}, {"id": 1}]}'
    assert check_bug_body(body) == (3, 12, 1)
    assert check_bug_body(b'{"bugs": [], "meta": {"total": 0}}') == ()


@pytest.mark.parametrize(
    "body",
    [
        b'{"bugs": [{"id": 1, "title": "cut off mid-str',
        b'{"bugs": [{"id": 1, "title": tru}]}',
        b'{"bugs": [{"id": 1}]} trailing',
        b'{"bugs": [{"id": 1, "title": "\xff\xfe"}]}',
        b"",
    ],
)
def test_malformed_bodies_raise_a_retryable_value_error(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        check_bug_body(body)
    assert issubclass(MalformedBody, ValueError)


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"other": []}', b'{"bugs": {"id": 1}}', b'{"bugs": null}'],
)
def test_a_body_without_a_list_of_bugs_is_a_response_error(body: bytes) -> None:
    with pytest.raises(TestIOResponseError, match="list of bug objects under 'bugs'"):
        check_bug_body(body)


@pytest.mark.parametrize(
    "bug",
    [b'{"title": "no id"}', b'{"id": null}', b'{"id": true}', b'{"id": 1.0}', b'{"id": "abc"}',
     b'{"id": "-4"}', b'{"id": 99999999999999999999}', b"1", b'"a string"', b"[1, 2]"],
)
def test_a_bug_without_a_valid_id_is_left_out_of_the_ids_and_the_others_kept(bug: bytes) -> None:
    assert check_bug_body(b'{"bugs": [{"id": 7}, ' + bug + b', {"id": 8}]}') == (7, 8)


def test_valid_ids_follow_the_warehouse_rule() -> None:
    assert [valid_id(v) for v in (5, -5, " 17 ", "17", 2**63 - 1)] == [5, -5, 17, 17, 2**63 - 1]
    assert [valid_id(v) for v in ("1 7", "", "١٢", 2**63)] == [None, None, None, None]


def test_a_bug_body_counts_its_bugs_and_carries_no_error_when_fetched() -> None:
    body = BugBody((1, 2), b'{"bugs": []}', (10, 11, 12))
    assert (body.bug_count, body.error) == (3, None)
    assert BugBody((1,)).bug_count == 0
