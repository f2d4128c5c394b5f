"""The tests listing of one product, page by page: look-ahead, deduplication, explicit stops.

The listing is page-number based with no metadata (API reference §5.2): it ends at the first
empty or short page, newest test first. Pages are fetched a few ahead of the consumer, each
through `bisection.fetch_window`, which works around poisoned records (§5.4) and hands back
the positions it could not serve as holes; here every hole becomes a `SkippedRecord`, dated
by its served neighbours, never silently. Everything here talks to the API only through a
`PageFetch` callable, so the bookkeeping is independent of HTTP.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from testio_pipeline.testio.bisection import Hole, PageFetch, Slot, fetch_window
from testio_pipeline.testio.bodies import ListedTest
from testio_pipeline.testio.errors import TestIOResponseError
from testio_pipeline.testio.models import parse_timestamp
from testio_pipeline.testio.settings import TESTS_PAGES_AHEAD_MAX, TESTS_STALE_PAGES_LIMIT


@dataclass(frozen=True)
class SkippedRecord:
    """One listing position the API refused to serve even after retries and bisection.

    `end_at_before` / `end_at_after` are the `end_at` of the nearest served records (that
    carry one) before and after the hole; the listing is newest first, so the missing test
    ended between them. None when there is no such neighbour.
    """

    endpoint: str
    product_id: int
    position: int
    end_at_before: datetime | None
    end_at_after: datetime | None
    reason: str
    # what was wrong with a record that was served but cannot be stored (None for a hole)
    record_id: int | None = None
    field: str | None = None
    value: str | None = None
    test_id: int | None = None  # the test a skipped bug belongs to


def _end_at(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except TestIOResponseError:
        return None


def look_ahead(base: int, pages_done: int, expected_pages: int = 0) -> int:
    """How many pages of one listing to keep in flight after `pages_done` pages.

    `base` for a short listing, then a quarter of the pages seen so far, up to
    `TESTS_PAGES_AHEAD_MAX`: one product with 5,000 tests would otherwise list at `base`
    pages per round trip while the other products' slots sit idle, and the pages requested
    past its end (at most look-ahead - 1) stay under a quarter of the pages it really has.

    `expected_pages`: how many pages the listing had last time (the tests stored for the
    product). Those and one more are asked at once: a product listed again takes one round
    of requests instead of one per look-ahead (its longest listing was the critical path of
    an incremental sync), and at most one page is asked past its end if nothing was added.
    """
    remaining = expected_pages + 1 - pages_done
    return max(base, min(TESTS_PAGES_AHEAD_MAX, pages_done // 4), remaining)


async def iter_test_pages(
    fetch: PageFetch,
    *,
    endpoint: str,
    product_id: int,
    per_page: int,
    pages_ahead: int,
    expected_tests: int = 0,
    on_skip: Callable[[SkippedRecord], None],
    info: Callable[[str], None],
    warn: Callable[[str], None],
    progress_every: int,
) -> AsyncIterator[list[ListedTest]]:
    """Yield every page of a product's tests, newest first, deduplicated by id. No page cap.

    Keeps `pages_ahead` pages in flight, more for a long listing or one of `expected_tests`
    (`look_ahead`), and stops at the first empty or short page (holes count as positions). A
    test inserted at the top while listing shifts records down by one, so a record can
    reappear on the next page: ids already yielded are dropped. Several full
    pages in a row without a new id mean the API ignores `page`: that raises instead of
    looping forever. A page longer than `per_page` (a host that ignores pagination and
    returns everything) is taken as the whole listing, with a warning.
    """
    # a listing of n tests has n // per_page + 1 pages (the last one short or empty)
    expected_pages = expected_tests // per_page + 1 if expected_tests > 0 else 0
    seen: set[int] = set()
    pending: deque[asyncio.Future[list[Slot]]] = deque()
    next_page = 1
    pages = yielded = stale = 0
    last_end_at: datetime | None = None
    open_holes: list[SkippedRecord] = []  # holes still waiting for their following neighbour

    def close_holes(end_at_after: datetime | None) -> None:
        for hole in open_holes:
            on_skip(replace(hole, end_at_after=end_at_after))
        open_holes.clear()

    try:
        while True:
            while len(pending) < look_ahead(pages_ahead, pages, expected_pages):
                pending.append(asyncio.ensure_future(fetch_window(fetch, next_page, per_page)))
                next_page += 1
            slots = await pending.popleft()
            pages += 1
            fresh: list[ListedTest] = []
            for index, slot in enumerate(slots):
                position = (pages - 1) * per_page + index
                if isinstance(slot, Hole):
                    hole = SkippedRecord(
                        endpoint, product_id, slot.position, last_end_at, None, slot.reason
                    )
                elif slot.id is None:
                    # served, but without an id the record cannot be stored or told apart
                    hole = SkippedRecord(
                        endpoint, product_id, position, last_end_at, None,
                        "the test has no valid integer id", field="id", value=slot.bad_id,
                    )
                else:
                    hole = None
                if hole is not None:
                    open_holes.append(hole)
                    warn(
                        f"tests: product {product_id}: skipping the test at position "
                        f"{hole.position}: {hole.reason}"
                        + (f" ({hole.value})" if hole.value else "")
                    )
                    continue
                end_at = _end_at(slot.end_at)
                if end_at is not None:
                    close_holes(end_at)
                    last_end_at = end_at
                if slot.id in seen:
                    continue
                seen.add(slot.id)
                fresh.append(replace(slot, listing_position=position))
            if fresh:
                yielded += len(fresh)
                yield fresh
            if pages % progress_every == 0:
                info(f"tests: product {product_id}: {pages:,} pages, {yielded:,} tests")
            if len(slots) > per_page:
                warn(
                    f"tests: product {product_id}: page {pages} returned {len(slots)} tests for "
                    f"per_page={per_page}; the host ignores pagination, taking it as the whole list"
                )
                break
            if len(slots) < per_page:
                break
            stale = 0 if fresh or any(isinstance(s, Hole) for s in slots) else stale + 1
            if stale >= TESTS_STALE_PAGES_LIMIT:
                raise TestIOResponseError(
                    f"{endpoint}: {stale} full pages in a row (up to page {pages}) of product "
                    f"{product_id} repeated only tests already listed; the API appears to "
                    f"ignore the page parameter"
                )
    finally:
        close_holes(None)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
