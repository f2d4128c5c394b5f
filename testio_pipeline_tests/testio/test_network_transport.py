"""The real-network path (aiohttp under httpx) against scripted local sockets.

Every other client test injects an httpx transport; these drive the default one, so a failure
aiohttp raises must come out as the httpx exception `_send` retries, and then as the client's
typed error, without the token.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from testio_pipeline.testio.client import TestIOClient
from testio_pipeline.testio.errors import TestIONotFoundError, TestIOUnavailableError
from testio_pipeline.testio.http import ResponseTooLargeError

from .fake_api import TOKEN, SleepRecorder, run

Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"products":[]}'


def answer(raw: bytes, *, close: bool = False) -> Reply:
    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        if close:
            writer.close()

    return reply


async def hang(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


class ScriptedServer:
    """Answers the n-th request with `replies[n]` (the last one repeats); keeps connections."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                await self.replies[min(len(self.requests), len(self.replies)) - 1](writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/customer/v2"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


def client(base_url: str, **options: object) -> TestIOClient:
    defaults: dict[str, object] = {"token": TOKEN, "max_attempts": 3, "sleep": SleepRecorder()}
    return TestIOClient(base_url, **{**defaults, **options})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_token(exc: BaseException) -> None:
    assert TOKEN not in f"{exc} {exc!r} {exc.__cause__!r} {exc.__context__!r}"


def test_refused_connections_are_retried_then_raise_unavailable() -> None:
    async def scenario() -> tuple[TestIOUnavailableError, TestIOClient]:
        async with client(f"http://127.0.0.1:{free_port()}/customer/v2") as c:
            with pytest.raises(TestIOUnavailableError) as caught:
                await c.list_products()
            return caught.value, c

    error, c = run(scenario())
    assert error.attempts == 3 and error.statuses == (None, None, None)
    assert "ConnectError" in str(error)
    assert c.stats.transport_errors == 3 and c.stats.retries == 2
    assert_no_token(error)


def test_a_silent_server_times_out_and_is_retried() -> None:
    async def scenario() -> TestIOUnavailableError:
        async with ScriptedServer(hang) as url, client(url, timeout_seconds=0.2) as c:
            with pytest.raises(TestIOUnavailableError) as caught:
                await c.list_products()
            return caught.value

    error = run(scenario())
    assert "ReadTimeout" in str(error) and error.attempts == 3
    assert_no_token(error)


@pytest.mark.parametrize(
    ("broken", "client_retries"),
    [
        (answer(b"garbage\r\n\r\n", close=True), 2),  # no status line
        # closed before answering: aiohttp resends an idempotent request once at once (RFC 9112
        # 9.3.1, meant for a kept-alive connection the server closed), so the client sees 1 failure
        (answer(b"", close=True), 1),
        (answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", close=True), 2),  # cut short
    ],
    ids=["malformed", "disconnected", "truncated"],
)
def test_broken_answers_are_retried_on_a_new_connection(broken: Reply, client_retries: int) -> None:
    server = ScriptedServer(broken, broken, answer(OK))

    async def scenario() -> list[object]:
        async with server as url, client(url) as c:
            products = await c.list_products()
            assert c.stats.retries == c.stats.transport_errors == client_retries
            return products

    assert run(scenario()) == []
    assert server.connections == 3


def test_retry_after_4xx_keep_alive_and_what_is_sent() -> None:
    busy = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"
    missing = b'HTTP/1.1 404 Not Found\r\nContent-Length: 17\r\n\r\n{"error":"gone!"}'
    bugs = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"bugs":[]}'
    server = ScriptedServer(answer(busy), answer(OK), answer(missing), answer(bugs))
    sleeps = SleepRecorder()

    async def scenario() -> None:
        async with server as url, client(url, sleep=sleeps) as c:
            assert await c.list_products() == []
            with pytest.raises(TestIONotFoundError) as caught:  # 4xx: at once, no retry
                await c.list_products()
            assert caught.value.attempts == 1 and caught.value.api_message == "gone!"
            body = await c.fetch_bug_body([3, 1, 2])
            assert body.error is None

    run(scenario())
    assert sleeps.delays == [7.0]  # the server's Retry-After
    assert server.connections == 1  # one kept-alive connection served all four requests
    first, *_, last = (r.decode() for r in server.requests)
    assert first.startswith("GET /customer/v2/products HTTP/1.1\r\n")
    assert f"\r\nauthorization: token {TOKEN.lower()}\r\n" in first.lower()
    assert last.startswith("GET /customer/v2/bugs?filter_test_cycle_ids=3%2C1%2C2 HTTP/1.1\r\n")


def _big_body(size: int, *, announced: bool) -> bytes:
    body = b'{"products":[' + b'"' + b"x" * size + b'"]}'
    if announced:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body
    chunked = b"".join(
        f"{len(body[i:i + 65536]):x}\r\n".encode() + body[i:i + 65536] + b"\r\n"
        for i in range(0, len(body), 65536)
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + chunked + b"0\r\n\r\n"


@pytest.mark.parametrize("announced", [True, False])
def test_a_body_above_the_maximum_fails_its_request_clearly_without_retry(announced: bool) -> None:
    server = ScriptedServer(answer(_big_body(3 << 20, announced=announced)))

    async def scenario() -> None:
        async with server as base_url, client(base_url, max_response_bytes=1 << 20) as c:
            await c.list_products()

    with pytest.raises(ResponseTooLargeError, match="larger than the 1 MB allowed.*TESTIO_MAX_RESPONSE_MB") as caught:
        run(scenario())
    assert len(server.requests) == 1
    assert_no_token(caught.value)
