"""The API token never shows up in an error, a repr or a log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from testio_pipeline.testio.errors import TestIOError

from .fake_api import TOKEN, FakeTestIO, error, make_client, make_tests, raises, run


def scenarios(api: FakeTestIO, client_options: dict[str, Any]) -> tuple[list[BaseException], list[str]]:
    """Drive the client through failures of every kind; the errors raised and reprs seen."""
    caught: list[BaseException] = []
    reprs: list[str] = []

    async def attempt(coro: Any) -> None:
        try:
            await coro
        except TestIOError as exc:
            caught.append(exc)

    async def list_all(client: Any, product_id: int) -> None:
        async for _ in client.iter_tests(product_id):
            pass

    async def scenario() -> None:
        async with make_client(api, **client_options) as client:
            reprs.extend([repr(client), str(client), repr(client.stats)])
            # the server echoes the token back in its error message
            api.fail("/products", error(401, f"Invalid token {TOKEN}"))
            await attempt(client.list_products())
            # retries exhausted on network errors whose text includes the token
            api.fail("/products", *[raises(httpx.ConnectError, f"refused for {TOKEN}")] * 2)
            await attempt(client.list_products())
            api.fail("/products", *[error(503, f"down ({TOKEN})")] * 2)
            await attempt(client.list_products())
            # a poisoned test: retries, bisection and a skip warning are all logged
            await attempt(list_all(client, 7))
            reprs.extend([repr(client), repr(client.stats), repr(client.stats.skipped)])

    run(scenario())
    return caught, reprs


def test_the_token_never_reaches_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    tests = make_tests(30)
    api = FakeTestIO(tests={7: tests}, poisoned={tests[12]["id"]})
    caplog.set_level(logging.DEBUG)
    caught, reprs = scenarios(api, {"max_attempts": 2, "logger": None})

    # the scenarios really ran: the token was sent, errors raised, retries and skips logged
    assert all(r.headers["authorization"] == f"Token {TOKEN}" for r in api.requests)
    assert len(caught) == 3
    messages = [record.getMessage() for record in caplog.records]
    assert any("retrying" in m for m in messages) and any("skipping" in m for m in messages)

    texts = reprs + messages
    for exc in caught:
        texts += [str(exc), repr(exc), repr(exc.args), str(exc.api_message), repr(exc.request)]
    texts += [repr(r) + repr(r.headers) for r in api.requests]
    leaks = [text for text in texts if TOKEN in text]
    assert leaks == []
    # the echoed token was replaced, not the whole message dropped
    assert any("Invalid token [redacted]" in str(exc) for exc in caught)
