"""The network transport of the TestIO client: httpx's API over aiohttp's connection pool.

Why: a large sync makes ~2,700 requests of 20-200 KB, and httpx's own transport (httpcore +
anyio + h11) costs ~2.5-3.5 ms of client CPU each (pool bookkeeping, `current_async_library`,
cancel shields, a readability poll per reuse, pure-Python parsing), ~8 s per sync. aiohttp's
pool and C parser do the same for ~0.65 ms per request through httpx (measured against the
HTTP simulator, 20 in flight, 50 ms latency). uvloop was measured too and saved under 5 % on
top of this, so the syncs keep the standard event loop. Written here rather than taken from
the `httpx-aiohttp` package because that one (0.2) lets a malformed response escape as a raw
aiohttp error (which would fail a sync instead of being retried) and reports resets and
disconnects as connect timeouts.

The client keeps the httpx API (`httpx.AsyncClient`, `httpx.Response`, httpx exceptions):
`AiohttpTransport` is an `httpx.AsyncBaseTransport`, used only when no transport is injected,
so the in-process simulator and test mocks replace it as before. Every aiohttp failure is
raised as the httpx exception httpx's own transport raises for the same failure, which is
what `retries.RetryingGetter._send` sorts into retried (timeouts, network and protocol errors) and
fatal (bad URL) ones. One difference: when a connection drops before any answer (reset, or
closed without a response), aiohttp resends the GET once at once on a fresh connection (RFC
9112 9.3.1, for a kept-alive connection the server closed while idle) before the client sees
a failure and applies its own retry policy; httpcore fails that attempt instead.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from testio_pipeline.testio.errors import TestIOResponseError


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.HTTPError | None:
    """The httpx exception httpx's own transport would raise for this aiohttp failure."""
    text = str(exc) or type(exc).__name__
    # order matters: the aiohttp timeout classes are also connection errors
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError,
                        aiohttp.ServerDisconnectedError)):
        # truncated body, unparseable status line / headers, closed before the answer
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):  # reset, broken pipe, ...
        return httpx.ReadError(text, request=request)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(text, request=request)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.TransportError(text, request=request)
    return None


class ResponseTooLargeError(TestIOResponseError):
    """A response body beyond the configured maximum (`TESTIO_MAX_RESPONSE_MB`): not read whole,
    not retried (the same request would answer the same)."""

    def __init__(self, request: httpx.Request, size: int, limit: int) -> None:
        super().__init__(
            f"GET {request.url.path}: the response is larger than the {limit >> 20} MB allowed "
            f"({size >> 20} MB or more); raise TESTIO_MAX_RESPONSE_MB if the API really answers "
            "this much, or lower TESTIO_BUG_BATCH_SIZE for /bugs"
        )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp session: keep-alive pool of `max_connections`.

    The session is made on first use, inside the running loop (aiohttp binds to it). The
    body is read whole before returning, like `AsyncClient.get` does anyway, in one call
    instead of chunk by chunk. httpx still decodes any `Content-Encoding`
    (aiohttp's decompression is off) and still owns redirects (off here), auth and cookies.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float = 5.0,
        max_body_bytes: int | None = None,
    ) -> None:
        self._max_connections = max_connections
        # a body larger than this is refused while it arrives (`ResponseTooLargeError`)
        self._max_body_bytes = max_body_bytes
        self._keepalive_expiry = keepalive_expiry  # httpx's default
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str | None, int | None], tuple[URL | None, object]] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            # the same CA bundle and SSL_CERT_FILE handling as httpx's default transport
            ssl=httpx.create_ssl_context(),
        )
        # no trust_env: it re-reads the proxy variables and ~/.netrc on every request;
        # `_proxy` reads the variables once per origin instead
        return aiohttp.ClientSession(connector=connector, auto_decompress=False)

    def _proxy(self, url: URL) -> tuple[URL | None, object]:
        """(proxy, proxy auth) from HTTP(S)_PROXY / NO_PROXY, as httpx's default client honours."""
        origin = (url.scheme, url.host, url.port)
        if origin not in self._proxies:
            try:
                self._proxies[origin] = get_env_proxy_for_url(url)
            except LookupError:
                self._proxies[origin] = (None, None)
        return self._proxies[origin]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._new_session()
        timeout = request.extensions.get("timeout", {})
        url = URL(str(request.url), encoded=True)  # httpx has encoded it: send it as is
        proxy, proxy_auth = self._proxy(url)
        try:
            async with self._session.request(
                request.method,
                url,
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                proxy=proxy,
                proxy_auth=proxy_auth,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),  # aiohttp: waiting for a pooled connection
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as response:
                body = await self._read(response, request)
        except ResponseTooLargeError:
            raise
        except Exception as exc:
            mapped = _mapped(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (response.reason or "").encode()},
        )

    async def _read(self, response: aiohttp.ClientResponse, request: httpx.Request) -> bytes:
        """The body, refused once it exceeds the limit: up front when the server announces
        its length (the common case, read in one call), else while it streams in."""
        limit = self._max_body_bytes
        if limit is None or (response.content_length is not None and response.content_length <= limit):
            return await response.read()
        if response.content_length is not None:
            raise ResponseTooLargeError(request, response.content_length, limit)
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(1 << 20):
            size += len(chunk)
            if size > limit:
                raise ResponseTooLargeError(request, size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
