"""In-process httpx transport: no port, no thread; works with any host in the URL.

Latency and slow answers sleep with `asyncio.sleep` in `handle_async_request` (so concurrent
requests overlap like they do over the network) and with `time.sleep` in `handle_request`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from testio_pipeline.testio.simulator.api import ApiResponse
    from testio_pipeline.testio.simulator.simulator import Simulator


class SimulatorTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serves a `Simulator` to `httpx.Client(transport=...)` and `httpx.AsyncClient(transport=...)`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def _answer(self, request: httpx.Request) -> ApiResponse:
        return self.sim.handle(
            request.method, request.url.path, request.url.query.decode("ascii", "replace"), request.headers
        )

    @staticmethod
    def _to_httpx(request: httpx.Request, answer: ApiResponse) -> httpx.Response:
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        answer = self._answer(request)
        if answer.delay_seconds > 0:
            time.sleep(answer.delay_seconds)
        return self._to_httpx(request, answer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        answer = self._answer(request)
        if answer.delay_seconds > 0:
            await asyncio.sleep(answer.delay_seconds)
        return self._to_httpx(request, answer)
