"""Bisection of poisoned test pages: serve every record of a page around the ones that fail.

Some records make every page containing them answer 500 (API reference §5.4). A page that
still answers 500 after the client's retries is bisected: for a window [a, a+n) with
a % n == 0, sub-pages of size m (m divides n, m < n) cover it exactly, since sub-page q of
size m is [(q-1)m, qm). Failing sub-windows recurse down to size 1, where a position that
still fails after full retries is a `Hole`; the listing (pagination.py) reports each hole as
a skipped record, never silently. Kept apart from the listing because it is the one part
with its own arithmetic and recursion; like the listing it talks to the API only through a
`PageFetch` callable, so it is independent of HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from testio_pipeline.testio.bodies import ListedTest
from testio_pipeline.testio.concurrency import run_all
from testio_pipeline.testio.errors import TestIOError, TestIOUnavailableError
from testio_pipeline.testio.settings import POISON_OUTAGE_MIN_PAGE, POISONED_PAGE_STATUS

# fetch(page, per_page, retry_poisoned_status) -> the tests of that page. With
# retry_poisoned_status False a 500 raises at once: used for sub-pages larger than one record,
# where splitting further is cheaper than retrying and cannot cause a false skip.
PageFetch = Callable[[int, int, bool], Awaitable[list[ListedTest]]]


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
