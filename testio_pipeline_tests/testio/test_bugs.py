"""Bugs: CSV batches of test ids, concurrent but bounded, streamed as checked raw bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from testio_pipeline.testio.bodies import BugBody
from testio_pipeline.testio.errors import TestIOHTTPError

from .fake_api import FakeTestIO, ListLogger, error, make_client, run


def bug(bug_id: int, test_id: int) -> dict[str, Any]:
    return {"id": bug_id, "title": f"bug {bug_id}", "test": {"id": test_id}}


def api_with_bugs(test_ids: range, per_test: int = 2) -> FakeTestIO:
    return FakeTestIO(
        bugs={t: [bug(t * 10 + k, t) for k in range(per_test)] for t in test_ids}
    )


def batches_of(api: FakeTestIO, test_ids: list[int], batch_size: int | None = None, **options: Any) -> list[BugBody]:
    async def scenario() -> list[BugBody]:
        async with make_client(api, **options) as client:
            return [b async for b in client.iter_bug_bodies(test_ids, batch_size=batch_size)]

    return run(scenario())


def bugs_in(body: BugBody) -> list[dict[str, Any]]:
    return json.loads(body.body)["bugs"]


def test_test_ids_go_as_csv_in_batches_of_the_configured_size() -> None:
    api = api_with_bugs(range(1, 41))
    batches = batches_of(api, list(range(1, 41)), bug_batch_size=15)
    sent = sorted(r.url.params["filter_test_cycle_ids"] for r in api.requests)
    assert sent == sorted([
        ",".join(map(str, range(1, 16))),
        ",".join(map(str, range(16, 31))),
        ",".join(map(str, range(31, 41))),
    ])
    assert all(r.url.path.endswith("/bugs") for r in api.requests)
    assert sorted(b.test_ids for b in batches) == [
        tuple(range(1, 16)), tuple(range(16, 31)), tuple(range(31, 41)),
    ]
    assert sum(b.bug_count for b in batches) == 80


def test_a_batch_size_per_call_overrides_the_client_default() -> None:
    api = api_with_bugs(range(1, 11))
    batches = batches_of(api, list(range(1, 11)), batch_size=4, bug_batch_size=15)
    assert sorted(len(b.test_ids) for b in batches) == [2, 4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        batches_of(api, [1], batch_size=-1)


def test_bodies_are_the_bytes_the_api_sent_with_their_bug_ids() -> None:
    api = api_with_bugs(range(1, 4))
    (batch,) = batches_of(api, [1, 2, 3])
    assert json.loads(batch.body) == {"bugs": [bug(t * 10 + k, t) for t in (1, 2, 3) for k in range(2)]}
    assert [b["id"] for b in bugs_in(batch)] == [10, 11, 20, 21, 30, 31]
    assert batch.bug_ids == (10, 11, 20, 21, 30, 31) and batch.error is None


def test_duplicate_test_ids_are_asked_for_once() -> None:
    api = api_with_bugs(range(1, 21))
    batches = batches_of(api, [*range(1, 21), 3, 3], bug_batch_size=4)
    assert len(api.requests) == 5
    assert sorted(t for b in batches for t in b.test_ids) == list(range(1, 21))


def test_tests_without_bugs_still_come_back_as_an_empty_batch() -> None:
    api = FakeTestIO()
    (batch,) = batches_of(api, [7, 8])
    assert (batch.bug_ids, batch.test_ids, batch.error) == ((), (7, 8), None)


def test_no_test_ids_make_no_request() -> None:
    api = FakeTestIO()
    assert batches_of(api, []) == []
    assert api.requests == []


def test_batches_run_concurrently_but_never_beyond_max_in_flight() -> None:
    api = api_with_bugs(range(1, 301))
    batches = batches_of(api, list(range(1, 301)), bug_batch_size=3, max_in_flight=4)
    assert len(batches) == 100
    assert api.peak_in_flight == 4


def test_bug_batches_stream_with_a_bounded_number_of_tasks() -> None:
    api = api_with_bugs(range(1, 201), per_test=1)
    requested: list[int] = []
    tasks: list[int] = []

    async def scenario() -> int:
        count = 0
        async with make_client(api, bug_batch_size=2, max_in_flight=2) as client:
            async for batch in client.iter_bug_bodies(list(range(1, 201))):
                requested.append(len(api.requests))
                # every task alive besides this scenario's own is a scheduled batch
                tasks.append(len(asyncio.all_tasks()) - 1)
                count += batch.bug_count
        return count

    assert run(scenario()) == 200
    assert len(api.requests) == 100
    # the first batch reached the caller while most of the 100 were not even requested
    assert requested[0] <= 2 * 2
    # never more than 2 x max_in_flight batches scheduled, not one task per batch
    assert max(tasks) <= 2 * 2


def test_a_failing_batch_comes_back_with_its_error_and_the_others_still_arrive() -> None:
    api = api_with_bugs(range(1, 61))
    api.fail("/bugs", error(400, "bad filter"), when=lambda r: r.url.params["filter_test_cycle_ids"].startswith("4,"))
    batches = batches_of(api, list(range(1, 61)), bug_batch_size=3, max_in_flight=2)
    failed = [b for b in batches if b.error is not None]
    assert [b.test_ids for b in failed] == [(4, 5, 6)]
    assert isinstance(failed[0].error, TestIOHTTPError) and "bad filter" in str(failed[0].error)
    assert (failed[0].body, failed[0].bug_ids) == (b"", ())
    assert sum(b.bug_count for b in batches) == 120 - 6


def test_a_malformed_body_is_retried_and_then_kept() -> None:
    api = api_with_bugs(range(1, 4))
    api.fail("/bugs", lambda r: httpx.Response(200, content=b'{"bugs": [{"id": 10, "ti'))
    (batch,) = batches_of(api, [1, 2, 3])
    assert batch.error is None and batch.bug_count == 6
    assert len(api.requests) == 2


def test_a_bug_without_an_id_keeps_its_batch_and_is_left_to_the_row_builder() -> None:
    api = FakeTestIO(bugs={1: [{"id": 10}, {"title": "no id"}], 2: [bug(20, 2)]})
    batches = batches_of(api, [1, 2], bug_batch_size=1)
    assert [b.error for b in batches] == [None, None]
    assert sorted(b.bug_ids for b in batches) == [(10,), (20,)]
    assert any(b'"no id"' in b.body for b in batches)
    # a broken record is not retried: one request per batch
    assert len(api.requests) == 2


def test_fetch_bug_body_raises_what_a_batch_would_carry() -> None:
    api = FakeTestIO()
    api.fail("/bugs", error(404, "gone"))

    async def scenario() -> BugBody:
        async with make_client(api) as client:
            return await client.fetch_bug_body([5])

    with pytest.raises(TestIOHTTPError, match="gone"):
        run(scenario())


def test_long_bug_fetches_log_progress() -> None:
    log = ListLogger()
    api = api_with_bugs(range(1, 61), per_test=1)
    batches_of(api, list(range(1, 61)), bug_batch_size=1, logger=log)
    assert log.at("info") == ["bugs: 50/60 batches, 50 bugs", "bugs: 60/60 batches, 60 bugs"]
