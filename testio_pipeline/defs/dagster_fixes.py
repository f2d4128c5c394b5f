"""A fix for Dagster 1.13.27's in-process executor, which spins a core while a step waits for
a pool slot, and a progress line while it waits.

`InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns
`min([0, *seconds_until_each_retry])`, which is 0 whenever a claim is pending, so
`ActiveExecution.sleep_til_ready` never sleeps and the run loops at 100 % CPU for as long as
the slot is taken (measured: 99 % of a core for 20 s behind a held `duckdb_writer` slot; after
the fix, under 1 %). The fix returns the time until the next retry is due (`max(0, min(...))`)
as the surrounding code intends; the executor then sleeps 1 s, growing to 15 s, between
claims. While a claim stays blocked, the run's event log says so every
`WAIT_REPORT_SECONDS`, naming who holds the pool.

Applied only to the Dagster version it was written against (`FIXED_VERSION`); on any other
version it does nothing, so an upgrade never runs a stale patch: check whether the upstream
method still has the bug and move `FIXED_VERSION` or delete this module.
"""

from __future__ import annotations

import time

import dagster
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

FIXED_VERSION = "1.13.27"
WAIT_REPORT_SECONDS = 30.0


def _interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    if not self._pending_claims:
        return 0.0
    now = time.time()
    due = [ready_at - now for ready_at in self._pending_timeouts.values()]
    return max(0.0, min(due)) if due else 0.0


def _reporting_claim(original):
    def claim(self: InstanceConcurrencyContext, concurrency_key: str, step_key: str, *args, **kwargs):
        claimed = original(self, concurrency_key, step_key, *args, **kwargs)
        waits = self.__dict__.setdefault("_testio_waits", {})
        if claimed:
            waits.pop(step_key, None)
            return claimed
        now = time.monotonic()
        since, last_report = waits.setdefault(step_key, (now, now))
        if now - last_report >= WAIT_REPORT_SECONDS:
            waits[step_key] = (since, now)
            _report_wait(self, concurrency_key, step_key, now - since)
        return claimed

    return claim


def _report_wait(
    context: InstanceConcurrencyContext, pool: str, step_key: str, waited: float
) -> None:
    info = context._instance.event_log_storage.get_concurrency_info(pool)
    holders = ", ".join(f"run {s.run_id} step {s.step_key}" for s in info.claimed_slots) or "?"
    run = context._instance.get_run_by_id(context._run_id)
    if run is not None:
        context._instance.report_engine_event(
            f"step {step_key} has waited {waited:.0f} s for pool {pool}, held by {holders}",
            run,
        )


def apply() -> bool:
    """Install the fix if this is the Dagster version it was written for; whether it did."""
    if dagster.__version__ != FIXED_VERSION:
        return False
    if getattr(InstanceConcurrencyContext, "_testio_fixed", False):
        return True
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (
        _interval_to_next_pending_claim_check
    )
    InstanceConcurrencyContext.claim = _reporting_claim(InstanceConcurrencyContext.claim)
    InstanceConcurrencyContext._testio_fixed = True
    return True
