"""Listing a product's tests: explicit pages, stop rules, no cap, look-ahead, dedupe, guards."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from testio_pipeline.testio.errors import (
    TestIONotFoundError,
    TestIOResponseError,
    TestIOUnavailableError,
)

from testio_pipeline.testio.pagination import look_ahead
from testio_pipeline.testio.settings import TESTS_PAGES_AHEAD_MAX

from .fake_api import FakeTestIO, ListLogger, error, make_client, make_tests, page_requests, run

PRODUCT = 7
PATH = f"/products/{PRODUCT}/exploratory_tests"


def list_tests(
    api: FakeTestIO, expected_tests: int = 0, **options: Any
) -> tuple[list[list[dict]], Any]:
    """Every page yielded for PRODUCT, and the client's stats."""

    async def scenario() -> tuple[list[list[dict]], Any]:
        async with make_client(api, **options) as client:
            listing = client.iter_tests(PRODUCT, expected_tests=expected_tests)
            return [page async for page in listing], client.stats

    return run(scenario())


def ids(pages: list[list[dict]]) -> list[int]:
    return [t.id for page in pages for t in page]


def test_every_request_names_page_and_per_page() -> None:
    api = FakeTestIO(tests={PRODUCT: make_tests(30)})
    list_tests(api)
    assert api.requests
    for request in api.requests:
        assert {"page", "per_page"} <= set(request.url.params.keys())
        assert request.url.params["per_page"] == "25"


def test_listing_stops_after_a_short_page() -> None:
    tests = make_tests(60)
    api = FakeTestIO(tests={PRODUCT: tests})
    pages, _ = list_tests(api, tests_pages_ahead=3)
    assert ids(pages) == [t["id"] for t in tests]
    assert [len(p) for p in pages] == [25, 25, 10]
    # page 3 is short; look-ahead may have asked for pages 4 and 5, never beyond
    assert max(page for page, _ in page_requests(api)) <= 5


def test_a_long_listing_keeps_more_pages_in_flight_without_wasting_many() -> None:
    tests = make_tests(25 * 100 + 5)  # 101 pages, the last one short
    api = FakeTestIO(tests={PRODUCT: tests})
    pages, _ = list_tests(api, tests_pages_ahead=3, max_in_flight=20)
    assert ids(pages) == [t["id"] for t in tests]
    requested = [page for page, _ in page_requests(api)]
    # the look-ahead grew to a quarter of the pages seen (capped): past page 101 at most
    # that many - 1 were requested, and never a page twice
    assert max(requested) - 101 <= TESTS_PAGES_AHEAD_MAX - 1
    assert max(requested) > 101 + 2 and len(requested) == len(set(requested))
    assert [look_ahead(3, n) for n in (0, 12, 40, 1000)] == [3, 3, 10, TESTS_PAGES_AHEAD_MAX]


@pytest.mark.parametrize("stored", [310, 400, 200])
def test_a_listing_of_known_length_asks_for_its_pages_at_once(stored: int) -> None:
    # 310 tests stored last time: 13 pages, asked together with one more (nothing was added);
    # stored more (tests deleted since) or fewer (tests added) still lists exactly what is there
    tests = make_tests(310)
    api = FakeTestIO(tests={PRODUCT: tests})
    pages, _ = list_tests(api, expected_tests=stored, tests_pages_ahead=1, max_in_flight=50)
    assert ids(pages) == [t["id"] for t in tests]
    requested = [page for page, _ in page_requests(api)]
    assert len(requested) == len(set(requested))
    expected_pages = stored // 25 + 1
    assert api.peak_in_flight >= min(expected_pages + 1, 14)
    # past the end: the pages expected and one more, or the usual look-ahead once they ran out
    growth = 0 if stored >= len(tests) else TESTS_PAGES_AHEAD_MAX - 1
    assert max(requested) <= max(expected_pages + 1, 14 + growth)
    assert look_ahead(1, 0, expected_pages=13) == 14
    assert look_ahead(1, 0) == 1


def test_listing_stops_at_an_empty_page() -> None:
    tests = make_tests(50)
    api = FakeTestIO(tests={PRODUCT: tests})
    pages, _ = list_tests(api, tests_pages_ahead=1)
    assert [len(p) for p in pages] == [25, 25]
    assert page_requests(api) == [(1, 25), (2, 25), (3, 25)]


def test_an_empty_product_yields_nothing() -> None:
    api = FakeTestIO(tests={PRODUCT: []})
    pages, _ = list_tests(api)
    assert pages == []


def test_listing_has_no_page_cap() -> None:
    tests = make_tests(3000)
    api = FakeTestIO(tests={PRODUCT: tests})
    pages, stats = list_tests(api)
    assert len(pages) == 120
    assert ids(pages) == [t["id"] for t in tests]
    assert stats.skipped == []


def test_a_short_listing_keeps_the_base_look_ahead_in_flight() -> None:
    api = FakeTestIO(tests={PRODUCT: make_tests(250)})
    list_tests(api, tests_pages_ahead=3, max_in_flight=10)
    assert api.peak_in_flight == 3


def test_a_test_shifted_onto_the_next_page_is_yielded_once() -> None:
    tests = make_tests(60, first_id=1000)
    original_ids = [t["id"] for t in tests]
    api = FakeTestIO(tests={PRODUCT: list(tests)})
    newcomer = make_tests(1, first_id=9999)[0]

    def insert_then_serve(request: httpx.Request) -> httpx.Response:
        # a test created between page 1 and page 2 pushes everything down by one
        api.tests[PRODUCT].insert(0, newcomer)
        return api._route(request)

    api.fail(PATH, insert_then_serve, when=lambda r: r.url.params["page"] == "2")
    pages, _ = list_tests(api, tests_pages_ahead=1)
    listed = ids(pages)
    # the newcomer sits above the pages already read: it is for the next run to pick up
    assert listed == original_ids


def test_a_host_ignoring_page_numbers_raises_instead_of_looping() -> None:
    tests = make_tests(100)
    api = FakeTestIO(tests={PRODUCT: tests})
    first_page = lambda request: httpx.Response(200, json={"exploratory_tests": tests[:25]})  # noqa: E731
    api.fail(PATH, *[first_page] * 50)
    with pytest.raises(TestIOResponseError, match="ignore the page parameter"):
        list_tests(api, tests_pages_ahead=1)
    assert len(api.requests) == 4


def test_a_page_longer_than_requested_is_taken_as_the_whole_listing() -> None:
    tests = make_tests(40)
    api = FakeTestIO(tests={PRODUCT: tests})
    everything = lambda request: httpx.Response(200, json={"exploratory_tests": tests})  # noqa: E731
    api.fail(PATH, *[everything] * 10)
    log = ListLogger()
    pages, _ = list_tests(api, logger=log)
    assert ids(pages) == [t["id"] for t in tests]
    assert any("ignores pagination" in line for line in log.at("warning"))


def test_other_exhausted_server_errors_propagate_without_bisection() -> None:
    api = FakeTestIO(tests={PRODUCT: make_tests(30)})
    api.fail(PATH, *[error(503, "maintenance")] * 4, when=lambda r: r.url.params["page"] == "1")
    with pytest.raises(TestIOUnavailableError) as caught:
        list_tests(api, max_attempts=4, tests_pages_ahead=1)
    assert caught.value.status == 503
    assert all(per_page == 25 for _, per_page in page_requests(api))


def test_not_found_propagates() -> None:
    api = FakeTestIO(tests={PRODUCT: make_tests(30)})
    api.fail(PATH, error(404, "Product not found"))
    with pytest.raises(TestIONotFoundError):
        list_tests(api, tests_pages_ahead=1)


def test_long_listings_log_progress() -> None:
    log = ListLogger()
    list_tests(FakeTestIO(tests={PRODUCT: make_tests(1000)}), logger=log)
    assert f"tests: product {PRODUCT}: 20 pages, 500 tests" in log.at("info")
