"""Bugs: CSV batches of test ids, concurrent but bounded, streamed, deduplicated."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from testio_pipeline.testio.client import BugBatch
from testio_pipeline.testio.errors import TestIOHTTPError
from testio_pipeline.testio.pagination import bounded_as_completed

from .fake_api import FakeTestIO, ListLogger, error, make_client, run


def bug(bug_id: int, test_id: int) -> dict[str, Any]:
    return {"id": bug_id, "title": f"bug {bug_id}", "test": {"id": test_id}}


def api_with_bugs(test_ids: range, per_test: int = 2) -> FakeTestIO:
    return FakeTestIO(
        bugs={t: [bug(t * 10 + k, t) for k in range(per_test)] for t in test_ids}
    )


def batches_of(api: FakeTestIO, test_ids: list[int], **options: Any) -> list[BugBatch]:
    async def scenario() -> list[BugBatch]:
        async with make_client(api, **options) as client:
            return [batch async for batch in client.iter_bugs(test_ids)]

    return run(scenario())


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
    assert sum(len(b) for b in batches) == 80


def test_fetch_bugs_returns_every_bug_once() -> None:
    api = api_with_bugs(range(1, 21))
    # the same bug served for two tests (or by two batches) is kept once
    api.bugs[20].append(bug(11, 1))

    async def scenario() -> list[dict]:
        async with make_client(api, bug_batch_size=4) as client:
            return await client.fetch_bugs([*range(1, 21), 3, 3])

    bugs = run(scenario())
    assert sorted(b["id"] for b in bugs) == sorted(t * 10 + k for t in range(1, 21) for k in range(2))
    # duplicate test ids are asked for once
    assert len(api.requests) == 5


def test_tests_without_bugs_still_come_back_as_an_empty_batch() -> None:
    api = FakeTestIO()
    (batch,) = batches_of(api, [7, 8])
    assert list(batch) == [] and batch.test_ids == (7, 8)


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
            async for batch in client.iter_bugs(list(range(1, 201))):
                requested.append(len(api.requests))
                # every task alive besides this scenario's own is a scheduled batch
                tasks.append(len(asyncio.all_tasks()) - 1)
                count += len(batch)
        return count

    assert run(scenario()) == 200
    assert len(api.requests) == 100
    # the first batch reached the caller while most of the 100 were not even requested
    assert requested[0] <= 2 * 2
    # never more than 2 x max_in_flight batches scheduled, not one task per batch
    assert max(tasks) <= 2 * 2


def test_bounded_as_completed_never_schedules_more_than_the_limit() -> None:
    pulled = 0
    outstanding: list[int] = []

    async def job(i: int) -> int:
        for _ in range(i % 4):
            await asyncio.sleep(0)
        return i

    def jobs():
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield job(i)

    async def scenario() -> list[int]:
        results = []
        async for value in bounded_as_completed(jobs(), limit=5):
            outstanding.append(pulled - len(results))
            results.append(value)
        return results

    assert sorted(run(scenario())) == list(range(50))
    # at each yield, at most `limit` jobs were started and not yet handed out
    assert max(outstanding) <= 5


def test_a_failing_batch_raises_and_cancels_the_rest() -> None:
    api = api_with_bugs(range(1, 61))
    api.fail("/bugs", error(400, "bad filter"))
    with pytest.raises(TestIOHTTPError, match="bad filter"):
        batches_of(api, list(range(1, 61)), bug_batch_size=3, max_in_flight=2)
    # the bounded window stops scheduling: nowhere near all 20 batches were requested
    assert len(api.requests) <= 2 * 2 + 2


def test_long_bug_fetches_log_progress() -> None:
    log = ListLogger()
    api = api_with_bugs(range(1, 61), per_test=1)
    batches_of(api, list(range(1, 61)), bug_batch_size=1, logger=log)
    assert log.at("info") == ["bugs: 50/60 batches, 50 bugs", "bugs: 60/60 batches, 60 bugs"]
