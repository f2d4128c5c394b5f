"""Retry policy of the client: which failures retry, how long it waits, when it gives up."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from testio_pipeline.testio.errors import (
    TestIOAuthError,
    TestIOHTTPError,
    TestIONotFoundError,
    TestIOResponseError,
    TestIOUnavailableError,
)
from testio_pipeline.testio.retries import backoff_delay, parse_retry_after

from .fake_api import FakeTestIO, SleepRecorder, broken_json, error, make_client, raises, run

PRODUCTS = [{"id": 18559, "name": "Canva", "sections": [], "sections_with_default": []}]


class FixedRandom(random.Random):
    """A jitter source that always draws the same fraction."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def list_products_with(api: FakeTestIO, sleeps: SleepRecorder, **options: object) -> list:
    async def scenario() -> list:
        async with make_client(api, sleeps, **options) as client:
            return await client.list_products()

    return run(scenario())


def test_requests_carry_the_token_and_the_base_path() -> None:
    api = FakeTestIO(products=PRODUCTS)
    assert list_products_with(api, SleepRecorder()) == PRODUCTS
    (request,) = api.requests
    assert str(request.url) == "https://api.test.io/customer/v2/products"
    assert request.headers["authorization"] == f"Token {api.token}"


def test_retry_after_in_seconds_is_honoured() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(429, "slow down", {"Retry-After": "7"}))
    assert list_products_with(api, sleeps) == PRODUCTS
    assert sleeps.delays == [7.0]


def test_retry_after_as_http_date_is_honoured() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    when = datetime.now(timezone.utc) + timedelta(seconds=50)
    api.fail("/products", error(429, "slow down", {"Retry-After": format_datetime(when, usegmt=True)}))
    list_products_with(api, sleeps)
    # the header has whole-second resolution and the clock moves on, so allow slack; the
    # range still excludes both the 30 s default and the 60 s cap
    assert len(sleeps.delays) == 1 and 35.0 < sleeps.delays[0] <= 50.0


def test_retry_after_http_date_is_measured_from_now() -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now=now) == 0.0
    assert parse_retry_after("12.5") == 12.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_429_without_retry_after_waits_the_default() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(429, "slow down"))
    list_products_with(api, sleeps)
    assert sleeps.delays == [30.0]


def test_a_429_without_retry_after_waits_the_default_within_the_cap() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(429, "slow down"))
    list_products_with(api, sleeps, retry_after_cap_seconds=10.0)
    assert sleeps.delays == [10.0]


@pytest.mark.parametrize(
    "header", ["3600", format_datetime(datetime.now(timezone.utc) + timedelta(hours=2), usegmt=True)]
)
def test_a_retry_after_beyond_the_cap_is_not_knocked_early_but_reported(header: str) -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(429, "slow down", {"Retry-After": header}))
    with pytest.raises(TestIOUnavailableError, match=r"asked to wait \d+ s .* longer than the 60 s"):
        list_products_with(api, sleeps, retry_after_cap_seconds=60.0)
    assert sleeps.delays == [] and len(api.requests) == 1


def test_control_characters_of_an_api_message_are_escaped() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(404, "gone\x00\x1b[31m"))
    with pytest.raises(TestIONotFoundError) as caught:
        list_products_with(api, sleeps)
    assert "gone\\x00\\x1b[31m" in str(caught.value) and "\x00" not in str(caught.value)


def test_5xx_backoff_doubles_up_to_the_maximum() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", *[error(503, "maintenance")] * 6)
    list_products_with(
        api, sleeps, max_attempts=7, backoff_base_seconds=0.5, backoff_max_seconds=8.0,
        rng=FixedRandom(0.5),
    )
    assert sleeps.delays == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_backoff_jitter_stays_within_zero_and_the_ceiling() -> None:
    rng = random.Random(99)
    for retry in range(1, 12):
        ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
        draws = [backoff_delay(retry, base=0.5, cap=8.0, rng=rng) for _ in range(200)]
        assert all(0.0 <= d < ceiling for d in draws)
        # full jitter spreads over the whole range, not a band at the top
        assert min(draws) < ceiling * 0.1 and max(draws) > ceiling * 0.9


def test_retry_after_on_a_5xx_is_honoured_too() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(503, "maintenance", {"Retry-After": "3"}))
    list_products_with(api, sleeps)
    assert sleeps.delays == [3.0]


def test_persistent_5xx_gives_up_after_max_attempts_with_a_typed_error() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", *[error(502, "bad gateway")] * 10)
    with pytest.raises(TestIOUnavailableError) as caught:
        list_products_with(api, sleeps, max_attempts=4)
    exc = caught.value
    assert (exc.status, exc.attempts, exc.api_message) == (502, 4, "bad gateway")
    assert exc.endpoint == "GET /products"
    assert len(api.requests) == 4 and len(sleeps.delays) == 3


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, TestIOHTTPError),
        (401, TestIOAuthError),
        (403, TestIOAuthError),
        (404, TestIONotFoundError),
        (422, TestIOHTTPError),
    ],
)
def test_client_errors_are_not_retried(status: int, error_type: type[Exception]) -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", error(status, "nope"))
    with pytest.raises(error_type) as caught:
        list_products_with(api, sleeps)
    assert caught.value.status == status and caught.value.api_message == "nope"
    assert not isinstance(caught.value, TestIOUnavailableError)
    assert len(api.requests) == 1 and sleeps.delays == []


def test_timeouts_and_connection_errors_are_retried() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail(
        "/products",
        raises(httpx.ReadTimeout),
        raises(httpx.ConnectError),
        raises(httpx.RemoteProtocolError),
    )
    async def scenario() -> tuple[list, int]:
        async with make_client(api, sleeps, max_attempts=4) as client:
            return await client.list_products(), client.stats.transport_errors

    products, transport_errors = run(scenario())
    assert products == PRODUCTS
    assert transport_errors == 3 and len(api.requests) == 4 and len(sleeps.delays) == 3


def test_persistent_timeouts_raise_unavailable_without_a_status() -> None:
    api = FakeTestIO(products=PRODUCTS)
    api.fail("/products", *[raises(httpx.ConnectTimeout, "timed out")] * 4)
    with pytest.raises(TestIOUnavailableError, match="ConnectTimeout") as caught:
        list_products_with(api, SleepRecorder(), max_attempts=4)
    assert caught.value.status is None and caught.value.attempts == 4


def test_malformed_json_in_a_200_is_retried() -> None:
    api, sleeps = FakeTestIO(products=PRODUCTS), SleepRecorder()
    api.fail("/products", broken_json)
    assert list_products_with(api, sleeps) == PRODUCTS
    assert len(api.requests) == 2 and len(sleeps.delays) == 1


def test_persistently_malformed_json_raises_a_response_error() -> None:
    api = FakeTestIO(products=PRODUCTS)
    api.fail("/products", *[broken_json] * 3)
    with pytest.raises(TestIOResponseError, match="malformed JSON") as caught:
        list_products_with(api, SleepRecorder(), max_attempts=3)
    assert caught.value.status == 200 and caught.value.attempts == 3


def test_a_body_without_the_envelope_is_a_response_error_without_retry() -> None:
    api = FakeTestIO()
    api.fail("/products", lambda request: httpx.Response(200, json={"items": []}))
    with pytest.raises(TestIOResponseError, match="'products'"):
        list_products_with(api, SleepRecorder())
    assert len(api.requests) == 1


def test_backoff_sleep_does_not_hold_a_request_slot() -> None:
    api = FakeTestIO(products=PRODUCTS)
    api.fail("/products", error(429, "slow down", {"Retry-After": "1"}))
    nested: list[list] = []

    async def scenario() -> list:
        async def sleep_and_request(seconds: float) -> None:
            # with one slot, this request can only run if the backing-off one let go of it;
            # the timeout turns a held slot into a failure instead of a hang
            nested.append(await asyncio.wait_for(client.list_products(), timeout=5))

        async with make_client(api, max_in_flight=1, sleep=sleep_and_request) as client:
            return await client.list_products()

    assert run(scenario()) == PRODUCTS
    assert nested == [PRODUCTS]


def test_errors_name_the_endpoint_template_path_query_and_api_message() -> None:
    api = FakeTestIO(tests={7: []})
    api.fail("/products/7/exploratory_tests", error(404, "Product not found"))

    async def scenario() -> None:
        async with make_client(api) as client:
            async for _ in client.iter_tests(7):
                pass

    with pytest.raises(TestIONotFoundError) as caught:
        run(scenario())
    text = str(caught.value)
    assert "GET /products/{product_id}/exploratory_tests" in text
    assert "/products/7/exploratory_tests?page=1&per_page=25" in text
    assert "HTTP 404" in text and "Product not found" in text


def test_stats_count_requests_retries_and_statuses() -> None:
    api = FakeTestIO(products=PRODUCTS)
    api.fail("/products", error(500, "oops"), error(429, "slow", {"Retry-After": "0"}))

    async def scenario():
        async with make_client(api) as client:
            await client.list_products()
            return client.stats

    stats = run(scenario())
    assert (stats.requests, stats.retries) == (3, 2)
    assert dict(stats.responses_by_status) == {500: 1, 429: 1, 200: 1}
    assert dict(stats.requests_by_endpoint) == {"GET /products": 3}
