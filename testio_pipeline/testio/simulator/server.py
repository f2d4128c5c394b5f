"""The simulator over real HTTP: a threading HTTP/1.1 server with keep-alive.

One thread per connection, so injected latency (a `time.sleep` in that thread) never serialises
concurrent requests; responses go out in a single write with Nagle disabled, so keep-alive
connections do not stall on delayed ACKs. Use `run_server_in_thread` inside a test process, or
`spawn_server_process` (the `python -m testio_pipeline.testio.simulator` CLI) for benchmarks.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from testio_pipeline.testio.simulator.config import API_PREFIX
from testio_pipeline.testio.simulator.simulator import Simulator

IDLE_CONNECTION_SECONDS = 60  # an idle keep-alive connection is closed after this long


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def handle_error(self, request, client_address) -> None:
        # a client that gave up (timeout, reset) is routine for a fault-injecting server
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Drop open keep-alive connections so their threads end now."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_SECONDS
    server: SimulatorHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        answer = self.server.sim.handle(self.command, unquote(parts.path), parts.query, self.headers)
        if answer.delay_seconds > 0:
            time.sleep(answer.delay_seconds)
        try:
            reason = HTTPStatus(answer.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {answer.status} {reason}", f"Content-Length: {len(answer.body)}"]
        lines += [f"{name}: {value}" for name, value in answer.headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # request logs would drown benchmark output


def make_server(sim: Simulator, port: int = 0, host: str = "127.0.0.1") -> SimulatorHTTPServer:
    """A bound (not yet serving) server for `sim`; port 0 picks a free port."""
    return SimulatorHTTPServer((host, port), sim)


def run_server_in_thread(
    sim: Simulator, port: int = 0, host: str = "127.0.0.1"
) -> tuple[str, Callable[[], None]]:
    """Serve `sim` from a background thread; returns (base URL, stop). `stop` is idempotent."""
    server = make_server(sim, port, host)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)

    return server.base_url, stop


class ServerProcess:
    """A simulator CLI running in a subprocess; `stop()` sends SIGTERM and waits."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    @property
    def admin_url(self) -> str:
        return self.base_url.removesuffix(API_PREFIX) + "/_simulator"

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_server_process(args: Sequence[str] = (), startup_timeout: float = 60.0) -> ServerProcess:
    """Start `python -m testio_pipeline.testio.simulator --port 0 *args`; wait for its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "testio_pipeline.testio.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE, text=True,
    )
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(startup_timeout)
    line = box[0].strip() if box else ""
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return ServerProcess(process, line.removeprefix("listening on "))
