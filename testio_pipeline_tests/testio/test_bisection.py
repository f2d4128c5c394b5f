"""Bisecting test pages that keep answering 500 until only the poisoned records are skipped."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from testio_pipeline.testio.bisection import split_size
from testio_pipeline.testio.errors import TestIOUnavailableError
from testio_pipeline.testio.models import parse_timestamp

from .fake_api import FakeTestIO, ListLogger, error, make_client, make_tests, page_requests, run

PRODUCT = 7
PATH = f"/products/{PRODUCT}/exploratory_tests"
ENDPOINT = "GET /products/{product_id}/exploratory_tests"


def listing(count: int, poisoned_positions: set[int], **options: Any) -> tuple[FakeTestIO, list[dict], list[int], Any]:
    """List `count` tests with the given positions poisoned: (api, tests, ids yielded, stats)."""
    tests = make_tests(count)
    api = FakeTestIO(tests={PRODUCT: tests}, poisoned={tests[p]["id"] for p in poisoned_positions})
    listed, stats = listing_of(api, **options)
    return api, tests, listed, stats


def listing_of(api: FakeTestIO, **options: Any) -> tuple[list[int], Any]:
    """The ids listed for PRODUCT from a prepared fake API, and the client's stats."""

    async def scenario() -> tuple[list[int], Any]:
        async with make_client(api, **options) as client:
            return [t.id async for page in client.iter_tests(PRODUCT) for t in page], client.stats

    return run(scenario())


def end_at(tests: list[dict], position: int):
    return parse_timestamp(tests[position]["end_at"])


@pytest.mark.parametrize(("n", "m"), [(25, 5), (24, 12), (23, 1), (2, 1), (9, 3), (10, 5)])
def test_a_window_splits_into_its_largest_proper_divisor(n: int, m: int) -> None:
    assert split_size(n) == m


def test_a_single_poisoned_test_is_the_only_one_skipped() -> None:
    api, tests, listed, stats = listing(60, {30}, max_attempts=4)
    assert listed == [t["id"] for i, t in enumerate(tests) if i != 30]
    (skip,) = stats.skipped
    assert (skip.endpoint, skip.product_id, skip.position) == (ENDPOINT, PRODUCT, 30)
    assert skip.end_at_before == end_at(tests, 29) and skip.end_at_after == end_at(tests, 31)
    assert "HTTP 500" in skip.reason
    requests = page_requests(api)
    # the full page gets every attempt, sub-pages of five one attempt, the lone record all four
    assert requests.count((2, 25)) == 4
    assert sorted(set(r for r in requests if r[1] == 5)) == [(6, 5), (7, 5), (8, 5), (9, 5), (10, 5)]
    assert requests.count((7, 5)) == 1
    assert sorted(set(r for r in requests if r[1] == 1)) == [(p, 1) for p in range(31, 36)]
    assert requests.count((31, 1)) == 4


def test_several_and_adjacent_poisoned_tests_are_isolated() -> None:
    poisoned = {3, 30, 31, 47}
    _, tests, listed, stats = listing(60, poisoned)
    assert listed == [t["id"] for i, t in enumerate(tests) if i not in poisoned]
    by_position = {s.position: s for s in stats.skipped}
    assert sorted(by_position) == sorted(poisoned)
    # neighbours are the nearest served records, so both adjacent holes share them
    for position in (30, 31):
        assert by_position[position].end_at_before == end_at(tests, 29)
        assert by_position[position].end_at_after == end_at(tests, 32)


def test_a_poisoned_test_on_the_last_short_page_is_isolated() -> None:
    api, tests, listed, stats = listing(60, {55})
    assert listed == [t["id"] for i, t in enumerate(tests) if i != 55]
    assert [s.position for s in stats.skipped] == [55]
    assert stats.skipped[0].end_at_after == end_at(tests, 56)
    # only the failing sub-window was split to single records, nothing past the end
    assert {page - 1 for page, size in page_requests(api) if size == 1} == set(range(55, 60))


def test_holes_at_the_edges_of_the_listing_have_one_neighbour() -> None:
    _, tests, listed, stats = listing(40, {0, 39})
    assert listed == [t["id"] for t in tests[1:39]]
    first, last = sorted(stats.skipped, key=lambda s: s.position)
    assert (first.position, first.end_at_before, first.end_at_after) == (0, None, end_at(tests, 1))
    assert (last.position, last.end_at_before, last.end_at_after) == (39, end_at(tests, 38), None)


def test_a_hole_at_the_end_of_a_page_gets_its_neighbour_from_the_next_page() -> None:
    _, tests, _, stats = listing(60, {24})
    (skip,) = stats.skipped
    assert skip.end_at_before == end_at(tests, 23) and skip.end_at_after == end_at(tests, 25)


def test_an_intermittent_500_is_bisected_but_nothing_is_skipped() -> None:
    tests = make_tests(60)
    api = FakeTestIO(tests={PRODUCT: tests})
    api.fail(PATH, *[error(500, "flaky")] * 4, when=lambda r: r.url.params["page"] == "2")
    listed, stats = listing_of(api, max_attempts=4, tests_pages_ahead=1)
    assert listed == [t["id"] for t in tests]
    assert stats.skipped == []
    assert (6, 5) in page_requests(api)


def test_sub_pages_cover_the_failing_window_exactly() -> None:
    api, _, _, stats = listing(70, {30}, tests_per_page=24)
    assert [s.position for s in stats.skipped] == [30]
    sub_requests = {r for r in page_requests(api) if r[1] < 24}
    assert {size for _, size in sub_requests} == {12, 6, 3, 1}
    for page, size in sub_requests:
        start = (page - 1) * size
        assert 24 <= start and start + size <= 48 and 24 % size == 0
    # each level tiles the failing part of its parent: [24,36)+[36,48), [24,30)+[30,36),
    # [30,33)+[33,36), then the single records of [30,33)
    assert sub_requests == {
        (3, 12), (4, 12), (5, 6), (6, 6), (11, 3), (12, 3), (31, 1), (32, 1), (33, 1)
    }


def test_skipped_records_are_logged_as_warnings() -> None:
    log = ListLogger()
    listing(30, {12}, logger=log)
    (warning,) = log.at("warning")
    assert "position 12" in warning and f"product {PRODUCT}" in warning


@pytest.mark.parametrize("seed", range(12))
def test_any_mix_of_poisoned_tests_skips_exactly_those(seed: int) -> None:
    rng = random.Random(seed)
    count = rng.randint(0, 130)
    per_page = rng.choice([1, 2, 7, 10, 24, 25])
    poisoned = {p for p in range(count) if rng.random() < 0.06}
    _, tests, listed, stats = listing(count, poisoned, tests_per_page=per_page, tests_pages_ahead=rng.randint(1, 4))
    assert listed == [t["id"] for i, t in enumerate(tests) if i not in poisoned]
    assert sorted(s.position for s in stats.skipped) == sorted(poisoned)


def test_a_short_sub_page_ends_the_listing_like_a_short_page() -> None:
    tests = make_tests(60)
    api = FakeTestIO(tests={PRODUCT: tests}, poisoned={tests[30]["id"]})
    # the listing shrinks mid-bisection: sub-page [25, 30) answers with three tests only
    short = lambda request: httpx.Response(200, json={"exploratory_tests": tests[25:28]})  # noqa: E731
    api.fail(PATH, short, when=lambda r: (r.url.params["page"], r.url.params["per_page"]) == ("6", "5"))
    listed, stats = listing_of(api, tests_pages_ahead=1)
    assert listed == [t["id"] for t in tests[:28]]
    assert stats.skipped == []
    assert max(page for page, size in page_requests(api) if size == 25) == 2


def test_a_page_whose_every_test_fails_is_an_outage_not_poison() -> None:
    api = FakeTestIO(tests={PRODUCT: make_tests(60)})
    api.fail(PATH, *[error(500, "down")] * 1000)
    with pytest.raises(TestIOUnavailableError, match="outage") as caught:
        listing_of(api, tests_pages_ahead=1)
    assert caught.value.status == 500


def test_a_500_mixed_with_other_failures_still_counts_as_poison() -> None:
    tests = make_tests(30)
    api = FakeTestIO(tests={PRODUCT: tests}, poisoned={tests[7]["id"]})
    def second_attempt_at(page: str, per_page: str):
        count = 0

        def when(request: httpx.Request) -> bool:
            nonlocal count
            if (request.url.params["page"], request.url.params["per_page"]) != (page, per_page):
                return False
            count += 1
            return count == 2

        return when

    # a poisoned record answers 500, but an unrelated 503 can land on the last attempt
    api.fail(PATH, error(503, "busy"), when=second_attempt_at("1", "25"))
    api.fail(PATH, error(503, "busy"), when=second_attempt_at("8", "1"))
    listed, stats = listing_of(api, tests_pages_ahead=1, max_attempts=2)
    assert listed == [t["id"] for i, t in enumerate(tests) if i != 7]
    assert [s.position for s in stats.skipped] == [7]
    assert "HTTP 503" in stats.skipped[0].reason and "answered 500, 503" in stats.skipped[0].reason


def test_exhausted_failures_without_a_500_are_not_bisected() -> None:
    api = FakeTestIO(tests={PRODUCT: make_tests(30)})
    api.fail(PATH, *[error(503, "busy"), error(502, "gateway")] * 2)
    with pytest.raises(TestIOUnavailableError) as caught:
        listing_of(api, tests_pages_ahead=1, max_attempts=4)
    assert caught.value.statuses == (503, 502, 503, 502)
    assert page_requests(api) == [(1, 25)] * 4
