"""Multi-request listings: test pages (with poisoned-record bisection), batches, catalogs.

The tests listing is page-number based with no metadata (API reference §5.2): it ends at the
first empty or short page, newest test first. Some records make every page containing them
answer 500 (§5.4). A page that still answers 500 after the client's retries is bisected:
for a window [a, a+n) with a % n == 0, sub-pages of size m (m divides n, m < n) cover it
exactly, since sub-page q of size m is [(q-1)m, qm). Failing sub-windows recurse down to
size 1, where a position that still fails after full retries is a hole: skipped, reported as
a `SkippedRecord`, never silently. Everything here talks to the API only through a `PageFetch`
callable, so the bookkeeping is independent of HTTP.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from testio_pipeline.testio.bodies import ListedTest
from testio_pipeline.testio.errors import (
    TestIOError,
    TestIOResponseError,
    TestIOUnavailableError,
)
from testio_pipeline.testio.models import parse_timestamp, required_id
from testio_pipeline.testio.settings import (
    POISON_OUTAGE_MIN_PAGE,
    POISONED_PAGE_STATUS,
    TESTS_PAGES_AHEAD_MAX,
    TESTS_STALE_PAGES_LIMIT,
)

T = TypeVar("T")
RawObject = dict[str, Any]
# fetch(page, per_page, retry_poisoned_status) -> the tests of that page. With
# retry_poisoned_status False a 500 raises at once: used for sub-pages larger than one record,
# where splitting further is cheaper than retrying and cannot cause a false skip.
PageFetch = Callable[[int, int, bool], Awaitable[list[ListedTest]]]


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


@dataclass(frozen=True)
class FeatureCatalog:
    """One product's feature catalog as fetched in one go.

    `features` are the raw API objects, each once, plus `section_ids`: every section that
    listed it, sorted; empty for a product without sections. `section_ids` of the catalog are
    the product's (§3.1 detection: its default section for a product without sections).
    `requests` counts the HTTP attempts the catalog took, retries included.
    """

    product_id: int
    features: list[dict[str, Any]]
    section_ids: tuple[int, ...]
    has_sections: bool
    requests: int


def _story_key(story: Any) -> Any:
    if isinstance(story, Mapping):
        return ("id", story["id"]) if story.get("id") is not None else (
            "text", story.get("title") or story.get("path")
        )
    return ("text", story)


def merge_feature_listings(
    listings: Iterable[tuple[Sequence[int], list[RawObject]]], what: str
) -> list[RawObject]:
    """Features of several listings (each with the section ids it stands for), once per id.

    The first occurrence's fields win; `section_ids` collects every listing's sections and
    `user_stories` is the union of all occurrences, so a section that shows a feature with
    other stories loses none of them.
    """
    merged: dict[int, RawObject] = {}
    sections: dict[int, set[int]] = {}
    for section_ids, features in listings:
        for feature in features:
            feature_id = required_id(feature, what)
            if feature_id not in merged:
                merged[feature_id] = dict(feature)
                sections[feature_id] = set()
            else:
                kept = merged[feature_id]
                stories = list(kept.get("user_stories") or [])
                known = {_story_key(s) for s in stories}
                extra = [s for s in feature.get("user_stories") or [] if _story_key(s) not in known]
                if extra:
                    kept["user_stories"] = stories + extra
            sections[feature_id].update(section_ids)
    return [
        {**feature, "section_ids": sorted(sections[feature_id])}
        for feature_id, feature in merged.items()
    ]


@dataclass(frozen=True)
class Hole:
    """A position inside a window that failed at page size 1."""

    position: int
    reason: str


Slot = ListedTest | Hole


def is_poisoned(exc: BaseException) -> bool:
    """Whether a failure may be a poisoned record, the one failure bisection can work around.

    Every attempt failed and at least one answered 500: a poisoned record answers 500 every
    time, but an unrelated 503 or timeout can land on some attempts (the last one included).
    Failures without any 500 (429, 502-504, timeouts only) propagate.
    """
    return isinstance(exc, TestIOUnavailableError) and POISONED_PAGE_STATUS in (
        exc.statuses or (exc.status,)
    )


def split_size(n: int) -> int:
    """The sub-page size used to bisect a window of n: n over its smallest prime factor.

    That is the largest proper divisor of n, so a window splits into the fewest sub-pages
    (25 -> 5 x 5, 24 -> 2 x 12, a prime n -> n x 1).
    """
    if n < 2:
        raise ValueError("a window of one record cannot be split")
    factor = 2
    while factor * factor <= n:
        if n % factor == 0:
            return n // factor
        factor += 1
    return 1


async def run_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Await all concurrently, results in input order; on the first error cancel the rest."""
    tasks = [asyncio.ensure_future(aw) for aw in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        # reap the cancelled siblings so no "exception was never retrieved" noise remains
        await asyncio.gather(*tasks, return_exceptions=True)


async def bounded_as_completed(awaitables: Iterable[Awaitable[T]], limit: int) -> AsyncIterator[T]:
    """Yield results as they complete, with at most `limit` started and not yet handed out.

    `awaitables` is consumed lazily (pass a generator), so a long input never turns into
    thousands of pending tasks, and finished results wait for the consumer only within the
    same bound. The first error propagates and cancels the rest.
    """
    source = iter(awaitables)
    pending: set[asyncio.Future[T]] = set()
    ready: list[asyncio.Future[T]] = []

    def top_up(target: int) -> None:
        while len(pending) < target:
            try:
                pending.add(asyncio.ensure_future(next(source)))
            except StopIteration:
                return

    try:
        top_up(limit)
        while pending:
            done, still = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending = set(still)
            ready = list(done)
            while ready:
                task = ready.pop()
                # start replacements now, so slots stay busy while the consumer works, but
                # only as many as keep the started-and-undelivered count within `limit`
                top_up(limit - len(ready) - 1)
                yield task.result()
            top_up(limit)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, *ready, return_exceptions=True)
        for leftover in source:
            # close never-scheduled coroutines so they do not warn "never awaited"
            close = getattr(leftover, "close", None)
            if close is not None:
                close()


async def fetch_window(fetch: PageFetch, page: int, per_page: int) -> list[Slot]:
    """The slots of page `page`: records and holes, in listing order.

    Fewer than `per_page` slots means the listing ends inside this window.
    """
    try:
        return list(await fetch(page, per_page, True))
    except TestIOError as exc:
        if not is_poisoned(exc):
            raise
        if per_page == 1:
            return [Hole((page - 1) * per_page, str(exc))]
        slots = await _bisect(fetch, (page - 1) * per_page, per_page)
        if len(slots) >= POISON_OUTAGE_MIN_PAGE and all(isinstance(s, Hole) for s in slots):
            raise TestIOUnavailableError(
                f"every one of the {len(slots)} tests of page {page} failed on its own too; "
                f"that is an outage, not poisoned records (first failure: {exc})",
                request=exc.request,
                status=exc.status,
            ) from None
        return slots


async def _bisect(fetch: PageFetch, start: int, size: int) -> list[Slot]:
    sub = split_size(size)
    first_page = start // sub + 1
    parts = await run_all(
        _fetch_sub_window(fetch, page, sub) for page in range(first_page, first_page + size // sub)
    )
    slots: list[Slot] = []
    for part in parts:
        slots.extend(part)
        # a short sub-page is where the listing ends; later sub-pages lie past the end
        if len(part) < sub:
            break
    return slots


async def _fetch_sub_window(fetch: PageFetch, page: int, size: int) -> list[Slot]:
    try:
        # at size 1 a failure means a skipped record, so it gets the full retry budget first
        return list(await fetch(page, size, size == 1))
    except TestIOError as exc:
        if not is_poisoned(exc):
            raise
        if size == 1:
            return [Hole(page - 1, str(exc))]
        return await _bisect(fetch, (page - 1) * size, size)


def _end_at(value: Any) -> datetime | None:
    try:
        return parse_timestamp(value)
    except TestIOResponseError:
        return None


def look_ahead(base: int, pages_done: int) -> int:
    """How many pages of one listing to keep in flight after `pages_done` pages.

    `base` for a short listing, then a quarter of the pages seen so far, up to
    `TESTS_PAGES_AHEAD_MAX`: one product with 5,000 tests would otherwise list at `base`
    pages per round trip while the other products' slots sit idle, and the pages requested
    past its end (at most look-ahead - 1) stay under a quarter of the pages it really has.
    """
    return max(base, min(TESTS_PAGES_AHEAD_MAX, pages_done // 4))


async def iter_test_pages(
    fetch: PageFetch,
    *,
    endpoint: str,
    product_id: int,
    per_page: int,
    pages_ahead: int,
    on_skip: Callable[[SkippedRecord], None],
    info: Callable[[str], None],
    warn: Callable[[str], None],
    progress_every: int,
) -> AsyncIterator[list[ListedTest]]:
    """Yield every page of a product's tests, newest first, deduplicated by id. No page cap.

    Keeps `pages_ahead` pages in flight, more for a long listing (`look_ahead`), and stops
    at the first empty or short page (holes count as positions). A test inserted at the top while listing shifts records down by one,
    so a record can reappear on the next page: ids already yielded are dropped. Several full
    pages in a row without a new id mean the API ignores `page`: that raises instead of
    looping forever. A page longer than `per_page` (a host that ignores pagination and
    returns everything) is taken as the whole listing, with a warning.
    """
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
            while len(pending) < look_ahead(pages_ahead, pages):
                pending.append(asyncio.ensure_future(fetch_window(fetch, next_page, per_page)))
                next_page += 1
            slots = await pending.popleft()
            pages += 1
            fresh: list[ListedTest] = []
            for slot in slots:
                if isinstance(slot, Hole):
                    open_holes.append(
                        SkippedRecord(
                            endpoint, product_id, slot.position, last_end_at, None, slot.reason
                        )
                    )
                    warn(
                        f"tests: product {product_id}: skipping the test at position "
                        f"{slot.position}, the API fails on it: {slot.reason}"
                    )
                    continue
                end_at = _end_at(slot.end_at)
                if end_at is not None:
                    close_holes(end_at)
                    last_end_at = end_at
                if slot.id in seen:
                    continue
                seen.add(slot.id)
                fresh.append(slot)
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
