"""`python -m testio_pipeline.testio.simulator`: serve a simulated account over HTTP.

Prints one line, `listening on http://127.0.0.1:PORT/customer/v2`, then serves until SIGTERM or
SIGINT, and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from testio_pipeline.testio.simulator.config import DEFAULT_TOKEN, FaultConfig, SimulatorConfig
from testio_pipeline.testio.simulator.server import make_server
from testio_pipeline.testio.simulator.simulator import Simulator


def _size(value: str) -> str | float:
    try:
        return float(value)
    except ValueError:
        return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m testio_pipeline.testio.simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--size", type=_size, default="small", help="small | medium | large | a float scale")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--token", default=DEFAULT_TOKEN)
    p.add_argument("--features-endpoint", choices=("legacy_422", "returns_all"), default="legacy_422")
    p.add_argument("--ignore-includes", action="store_true", help="includes[]=user_stories yields strings")
    p.add_argument("--api-2025", action="store_true",
                   help="serve the older API: no execution outcomes on test features, no analytics")
    p.add_argument("--no-truncate", action="store_true", help="serve every test without `page`")
    p.add_argument("--unknown-status-rate", type=float, default=0.0,
                   help="share of tests shown as 'completed' / 'pending' instead of locked / initialized")
    p.add_argument("--advance-hours", type=float, default=0.0, help="move the clock before serving")
    p.add_argument("--keep-bug-bodies", action="store_true",
                   help="render every bug at start and serve kept bodies (benchmarks: ~1 KB a bug)")
    p.add_argument("--keep-test-bodies", action="store_true",
                   help="render every test at start and keep every test body (benchmarks: "
                   "~3.3 KB a test)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--error-rate-5xx", type=float, default=0.0)
    p.add_argument("--error-rate-429", type=float, default=0.0)
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds, sent in Retry-After")
    p.add_argument("--poison-rate", type=float, default=0.0)
    p.add_argument("--slow-rate", type=float, default=0.0)
    p.add_argument("--slow-seconds", type=float, default=60.0)
    p.add_argument("--malformed-rate", type=float, default=0.0)
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        size=args.size, seed=args.seed, token=args.token, features_endpoint=args.features_endpoint,
        honour_includes=not args.ignore_includes, truncate_unpaged_tests=not args.no_truncate,
        api_2026=not args.api_2025,
        unknown_status_rate=args.unknown_status_rate,
        faults=FaultConfig(
            latency_ms=args.latency_ms, jitter_ms=args.jitter_ms, error_rate_5xx=args.error_rate_5xx,
            error_rate_429=args.error_rate_429, retry_after_seconds=args.retry_after,
            poison_rate=args.poison_rate, slow_rate=args.slow_rate, slow_seconds=args.slow_seconds,
            malformed_rate=args.malformed_rate,
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sim = Simulator(config_from_args(args))
    if args.advance_hours:
        sim.advance(hours=args.advance_hours)
    if args.keep_bug_bodies:
        sim.keep_bug_bodies()
    if args.keep_test_bodies:
        sim.keep_test_bodies()
    server = make_server(sim, args.port, args.host)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    print(f"listening on {server.base_url}", flush=True)
    while not stop.wait(0.5):
        pass
    # shutdown() must run outside the serving thread; the signal only sets the event
    server.shutdown()
    server.close_connections()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
