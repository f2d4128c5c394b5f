"""Async client of the TestIO Customer API v2 (read path): products, features, tests, bugs.

One `httpx.AsyncClient` with keep-alive, sized to `max_in_flight`; every GET goes through one
`RetryingGetter` (retries.py), the one place that owns retries and the request slots all
calls sharing the client compete for. This module owns the endpoints: which paths and
queries each listing sends, how a product's feature catalog is read, how the tests listing
(pagination.py) and the `/bugs` batches are driven.

The token travels only in the `Authorization` header (masked in httpx reprs) and is redacted
from any server or network text that ends up in an error or log line. No Dagster here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from testio_pipeline.testio import settings
from testio_pipeline.testio.bodies import BugBody, ListedTest, check_bug_body, check_test_page
from testio_pipeline.testio.concurrency import bounded_as_completed, run_all
from testio_pipeline.testio.errors import (
    RequestInfo,
    TestIOError,
    TestIOHTTPError,
    TestIOResponseError,
)
from testio_pipeline.testio.feature_catalog import FeatureCatalog, merge_feature_listings
from testio_pipeline.testio.models import required_id, section_layout
from testio_pipeline.testio.pagination import SkippedRecord, iter_test_pages
from testio_pipeline.testio.retries import AttemptCounter, RetryingGetter, RetryPolicy, Sleep
from testio_pipeline.testio.stats import ClientStats

__all__ = ["BugBody", "ClientStats", "FeatureCatalog", "SkippedRecord", "TestIOClient"]

RawObject = dict[str, Any]


def _checked_bug_body(body: bytes) -> tuple[bytes, tuple[int, ...]]:
    return body, check_bug_body(body)


class TestIOClient:
    """Async TestIO API client; use as `async with TestIOClient(...) as client:`.

    One instance may serve many concurrent calls (products, pages, batches); they all share
    its `max_in_flight` request slots. `transport` replaces the network (simulator, mock);
    `sleep` and `rng` make the retry waits observable in tests; `logger` is anything with
    `info` / `warning` taking one preformatted string (a `logging.Logger`, Dagster's
    `context.log`). `tests_pages_ahead` is the look-ahead of `iter_tests`.
    """

    __test__ = False

    def __init__(
        self,
        base_url: str = settings.DEFAULT_BASE_URL,
        token: str = "",
        *,
        max_in_flight: int = settings.MAX_IN_FLIGHT,
        timeout_seconds: float = settings.TIMEOUT_SECONDS,
        max_attempts: int = settings.MAX_ATTEMPTS,
        backoff_base_seconds: float = settings.BACKOFF_BASE_SECONDS,
        backoff_max_seconds: float = settings.BACKOFF_MAX_SECONDS,
        retry_after_cap_seconds: float = settings.RETRY_AFTER_CAP_SECONDS,
        retry_after_default_seconds: float = settings.RETRY_AFTER_DEFAULT_SECONDS,
        tests_per_page: int = settings.TESTS_PER_PAGE,
        tests_pages_ahead: int = settings.TESTS_PAGES_AHEAD,
        bug_batch_size: int = settings.BUGS_TEST_IDS_PER_REQUEST,
        max_response_bytes: int = settings.MAX_RESPONSE_MB << 20,
        transport: httpx.AsyncBaseTransport | None = None,
        logger: Any = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        for name, value in (
            ("max_in_flight", max_in_flight),
            ("max_attempts", max_attempts),
            ("tests_per_page", tests_per_page),
            ("tests_pages_ahead", tests_pages_ahead),
            ("bug_batch_size", bug_batch_size),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self._base_url = base_url
        self._max_in_flight = max_in_flight
        self._tests_per_page = tests_per_page
        self._tests_pages_ahead = tests_pages_ahead
        # numbers every test-list response, so a consumer can store each page once
        self._page_numbers = itertools.count()
        self._bug_batch_size = bug_batch_size
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self.stats = ClientStats()
        # the network goes through aiohttp's pool (see `http.py`: a fraction of httpcore's CPU per
        # request), sized to the request slots; an injected transport (simulator, mock) replaces it
        if transport is None:
            # imported here: aiohttp is a tenth of a second of every process's start-up (the
            # UI's code server, a run on the embedded simulator) that only the network needs
            from testio_pipeline.testio.http import AiohttpTransport

            transport = AiohttpTransport(
                max_connections=max_in_flight, max_body_bytes=max_response_bytes
            )
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Token {token}",
                "Accept": "application/json",
                "User-Agent": settings.USER_AGENT,
            },
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
        )
        policy = RetryPolicy(
            max_attempts=max_attempts,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
            retry_after_cap_seconds=retry_after_cap_seconds,
            retry_after_default_seconds=retry_after_default_seconds,
        )
        self._getter = RetryingGetter(
            self._http,
            policy,
            token=token,
            max_in_flight=max_in_flight,
            stats=self.stats,
            log=self._log,
            sleep=sleep,
            rng=rng if rng is not None else random.Random(),
        )

    def __repr__(self) -> str:
        return f"TestIOClient(base_url={self._base_url!r}, max_in_flight={self._max_in_flight})"

    async def __aenter__(self) -> TestIOClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def list_products(self) -> list[RawObject]:
        """Every product of the account (`GET /products`), raw."""
        info = RequestInfo("GET", settings.PRODUCTS_PATH, settings.PRODUCTS_PATH)
        return await self._get_list(info, "products")

    async def fetch_feature_catalog(self, product: Mapping[str, Any]) -> FeatureCatalog:
        """The complete feature catalog of one raw product, deduplicated by feature id.

        Sections are detected as in the API reference §3.1. Every request asks for
        `includes[]=user_stories`. Raises when any request fails after retries (one failing
        section fails the whole catalog), so the caller keeps its previous rows for the product.
        """
        product_id = required_id(product, "product")
        has_sections, section_ids = section_layout(product)
        counter = AttemptCounter()
        includes = tuple(("includes[]", name) for name in settings.FEATURE_INCLUDES)
        listings: list[tuple[tuple[int, ...], list[RawObject]]] | None = None
        # the warehouse must list every section a feature appears in, and only the per-section
        # endpoints say that: the whole-product endpoint (all features in 2026, 422 for
        # sectioned products in 2025) serves only products without sections. Their single
        # default section is no real section (reference §5.6), so their features list none.
        if not has_sections:
            template = settings.PRODUCT_FEATURES_PATH
            info = RequestInfo("GET", template, template.format(product_id=product_id), includes)
            try:
                listings = [((), await self._get_list(info, "features", counter=counter))]
            except TestIOHTTPError as exc:
                if exc.status != 422 or not section_ids:
                    raise
                self._log.info(
                    f"features: product {product_id} answered 422 ({exc.api_message}); "
                    f"reading its {len(section_ids)} section(s) instead"
                )
        if listings is None:
            template = settings.SECTION_FEATURES_PATH

            async def section(sid: int) -> tuple[tuple[int, ...], list[RawObject]]:
                path = template.format(product_id=product_id, section_id=sid)
                info = RequestInfo("GET", template, path, includes)
                listed = await self._get_list(info, "features", counter=counter)
                return ((sid,) if has_sections else ()), listed

            listings = await run_all(section(sid) for sid in section_ids)
        features = merge_feature_listings(listings, f"feature of product {product_id}")
        return FeatureCatalog(product_id, features, section_ids, has_sections, counter.count)

    def iter_tests(
        self, product_id: int, *, per_page: int | None = None, expected_tests: int = 0
    ) -> AsyncIterator[list[ListedTest]]:
        """Every exploratory test of a product, newest first, one list per page; no page cap.
        `expected_tests` (how many the product had last time) lets the listing ask for its
        pages at once (`pagination.look_ahead`).

        Tests come as `ListedTest`s: id, `end_at` and the raw page they are on (the rows are
        built from the raw pages, see `test_rows`). A page can hold tests a later page
        repeats or records bisected out, so consumers go by each `ListedTest`, not by page.
        Poisoned records are bisected out and recorded in `stats.skipped` (see pagination).
        Exhausted failures other than the poisoned-page 500 (429, 502-504, timeouts, 4xx)
        propagate: bisecting cannot help an overloaded or unreachable API.
        """
        size = per_page or self._tests_per_page
        template = settings.PRODUCT_TESTS_PATH
        # story objects with their execution outcomes (2026): ~35 % more bytes a page, no
        # extra request (measured on the simulator's small and medium accounts)
        includes = tuple(("includes[]", name) for name in settings.TEST_INCLUDES)
        path = template.format(product_id=product_id)

        async def fetch(page: int, page_size: int, retry_poisoned: bool) -> list[ListedTest]:
            query = (("page", str(page)), ("per_page", str(page_size)), *includes)
            info = RequestInfo("GET", template, path, query)
            number = next(self._page_numbers)
            return await self._getter.get(
                info,
                retry_poisoned=retry_poisoned,
                parse=lambda body: check_test_page(body, number),
            )

        return iter_test_pages(
            fetch,
            endpoint=f"GET {template}",
            product_id=product_id,
            per_page=size,
            pages_ahead=self._tests_pages_ahead,
            expected_tests=expected_tests,
            on_skip=self.stats.skipped.append,
            info=self._log.info,
            warn=self._log.warning,
            progress_every=settings.TESTS_PROGRESS_EVERY_PAGES,
        )

    async def iter_bug_bodies(
        self, test_ids: Iterable[int], *, batch_size: int | None = None
    ) -> AsyncIterator[BugBody]:
        """The bugs of these tests as raw bodies, one `BugBody` per `/bugs` request as each
        completes; see `testio_pipeline.testio.bodies` for what is checked.

        Test ids (deduplicated) go `batch_size` (default `bug_batch_size`) at a time into
        `filter_test_cycle_ids` (a CSV string). At most 2 x max_in_flight batches are
        scheduled at once, so memory stays bounded however many tests there are. A batch that
        fails after retries comes back with `error` set and the other batches go on; bugs are
        not deduplicated across batches (the warehouse transform does that).
        """
        ids = list(dict.fromkeys(int(test_id) for test_id in test_ids))
        size = self._bug_batch_size if batch_size is None else batch_size
        if size < 1:
            raise ValueError(f"batch_size must be at least 1, got {size}")
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        limit = self._max_in_flight * settings.BUGS_PENDING_BATCHES_PER_SLOT
        done = found = 0
        results = bounded_as_completed((self._bug_batch_outcome(b) for b in batches), limit)
        try:
            async for batch in results:
                done += 1
                found += batch.bug_count
                if done % settings.BUGS_PROGRESS_EVERY_BATCHES == 0 or (
                    done == len(batches) and done >= settings.BUGS_PROGRESS_EVERY_BATCHES
                ):
                    self._log.info(f"bugs: {done:,}/{len(batches):,} batches, {found:,} bugs")
                yield batch
        finally:
            await results.aclose()

    async def fetch_bug_body(self, test_ids: Sequence[int]) -> BugBody:
        """One `/bugs` request for these test ids, checked; raises `TestIOError` on failure."""
        query = (("filter_test_cycle_ids", ",".join(str(i) for i in test_ids)),)
        info = RequestInfo("GET", settings.BUGS_PATH, settings.BUGS_PATH, query)
        body, bug_ids = await self._getter.get(info, parse=_checked_bug_body)
        return BugBody(tuple(test_ids), body, bug_ids)

    async def _bug_batch_outcome(self, test_ids: Sequence[int]) -> BugBody:
        try:
            return await self.fetch_bug_body(test_ids)
        except TestIOError as error:
            return BugBody(tuple(test_ids), error=error)

    async def _get_list(
        self, info: RequestInfo, envelope: str, *, retry_poisoned: bool = True,
        counter: AttemptCounter | None = None,
    ) -> list[RawObject]:
        body = await self._getter.get(info, retry_poisoned=retry_poisoned, counter=counter)
        items = body.get(envelope) if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TestIOResponseError(
                f"expected a JSON object with a list of objects under {envelope!r}",
                request=info,
            )
        return items
