"""A fix for Dagster 1.13.27's in-process executor, which spins a core while a step waits for
a pool slot, and a progress line while it waits.

`InstanceConcurrencyContext.interval_to_next_pending_claim_check` returns
`min([0, *seconds_until_each_retry])`, which is 0 whenever a claim is pending, so
`ActiveExecution.sleep_til_ready` never sleeps and the run loops at 100 % CPU for as long as
the slot is taken (measured with a CLI run waiting behind a stopped holder of `duckdb_writer`,
15 s, three times: 70-97 %, median 95 % of a core; with the fix 1.1-1.5 %). The fix returns the time until the next retry is due (`max(0, min(...))`)
as the surrounding code intends; the executor then sleeps 1 s, growing to 15 s, between
claims. While a claim stays blocked, the run says so at once and then every
`WAIT_REPORT_SECONDS` (an engine event: the run's event log and the CLI's console), naming who
holds the pool; before each report it frees the pool's holders whose process is gone
(`run_recovery`), so a holder killed while this run waits never blocks it, with or without a
daemon.

Applied only to the Dagster version it was written against (`FIXED_VERSION`); on any other
version it does nothing, so an upgrade never runs a stale patch: check whether the upstream
method still has the bug and move `FIXED_VERSION` or delete this module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

from testio_pipeline.defs.run_recovery import WORKER_TAG, recover_dead_runs

FIXED_VERSION = "1.13.27"
WAIT_REPORT_SECONDS = 30.0


def _interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    if not self._pending_claims:
        return 0.0
    now = time.time()
    due = [ready_at - now for ready_at in self._pending_timeouts.values()]
    return max(0.0, min(due)) if due else 0.0


def _reporting_claim(original):
    def claim(
        self: InstanceConcurrencyContext, concurrency_key: str, step_key: str, *args, **kwargs
    ):
        claimed = original(self, concurrency_key, step_key, *args, **kwargs)
        waits = self.__dict__.setdefault("_testio_waits", {})
        if claimed:
            waits.pop(step_key, None)
            return claimed
        now = time.monotonic()
        # the first blocked claim reports at once, then every WAIT_REPORT_SECONDS
        since, next_report = waits.setdefault(step_key, (now, now))
        if now >= next_report:
            waits[step_key] = (since, now + WAIT_REPORT_SECONDS)
            if _check_wait(self, concurrency_key, step_key, now - since):
                # a dead holder was freed: claim again at the next turn, not after the backoff
                self._pending_timeouts[step_key] = 0.0
        return claimed

    return claim


def _check_wait(
    context: InstanceConcurrencyContext, pool: str, step_key: str, waited: float
) -> bool:
    """Free the pool's dead holders (see `run_recovery`), else note who holds it; whether a
    holder was freed. The notes are logged by `_reporting_event_iterator`."""
    instance = context._instance
    notes = context.__dict__.setdefault("_testio_notes", [])
    storage = instance.event_log_storage
    pool_info = storage.get_concurrency_info(pool)
    # a dead run's queued step counts too: a freed slot may be assigned to it, and an assigned
    # step keeps the slot from every other claimer until it claims or is removed
    holders = {slot.run_id for slot in pool_info.claimed_slots} | {
        step.run_id for step in pool_info.pending_steps
    }

    def note(message: str) -> None:
        notes.append((step_key, message))

    if recover_dead_runs(instance, note, current_run_id=context._run_id, run_ids=holders):
        return True
    info = storage.get_concurrency_info(pool)
    held_by = "; ".join(
        _describe_holder(instance, slot.run_id, slot.step_key) for slot in info.claimed_slots
    )
    note(
        f"step {step_key} has waited {waited:.0f} s for pool {pool} ({info.slot_count} slot(s)), "
        f"held by {held_by or 'nobody (being assigned)'}"
    )
    return False


def _reporting_event_iterator(original):
    # the executor loop passes its run context only here: events yielded here reach the run's
    # event log (UI) and the CLI's console, like Dagster's own "blocked by limit" event
    def concurrency_event_iterator(
        self: ActiveExecution, plan_context: PlanExecutionContext | PlanOrchestrationContext
    ) -> Iterator[DagsterEvent]:
        yield from original(self, plan_context)
        context = self._instance_concurrency_context
        notes = context.__dict__.pop("_testio_notes", []) if context is not None else []
        for step_key, message in notes:
            step_context = plan_context.for_step(self.get_step_by_key(step_key))
            yield DagsterEvent.engine_event(step_context, message, EngineEventData())

    return concurrency_event_iterator


def _describe_holder(instance: dagster.DagsterInstance, run_id: str, step_key: str) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"run {run_id} step {step_key}"
    worker = run.tags.get(WORKER_TAG, "an unrecorded process")
    return f"run {run_id} step {step_key} ({run.status.value}, process {worker})"


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
    ActiveExecution.concurrency_event_iterator = _reporting_event_iterator(
        ActiveExecution.concurrency_event_iterator
    )
    InstanceConcurrencyContext._testio_fixed = True
    return True
