"""Awaiting many requests at once: all of them in order, or as they complete within a bound.

The client fans out the sections of a feature catalog and the `/bugs` batches, and bisection
fans out the sub-pages of a poisoned page; all of them need the same two guarantees, kept
here so no listing module has to import another for them: the first error cancels the rest
and reaps it (no "exception was never retrieved" noise), and no coroutine is left un-awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


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
