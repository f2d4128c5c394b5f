"""Exploratory tests and their lives: every transition time is drawn when the test is created.

A test's status at any instant is a pure function of the clock:
initialized -> waiting (launched) -> running (start_at) -> locked (end_at) -> customer_finalized
-> archived; `cancelled` is terminal, drafts stay initialized. Tests that exist at the clock start
are drawn *conditioned on* a target status so the account starts with the mix of reference §4;
tests created later follow the same transitions unconditioned.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.catalog import Feature, IdCounter, Product, Story
from testio_pipeline.testio.simulator.config import (
    AUTO_ACCEPT_DAYS,
    CREATED_BY_NULL_RATE,
    DAY,
    DRAFT_SHARE,
    FEATURE_ENABLE_NULL_RATE,
    FUTURE_CANCEL_RATE,
    FUTURE_DRAFT_RATE,
    HISTORY_DAYS,
    HOUR,
    LOCKED_DURATION_MIX,
    SUBMITTED_BY_NULL_RATE,
    TEST_FEATURE_STORIES_NULL_RATE,
    TEST_FEATURES_PER_TEST_WEIGHTS,
    TEST_STATUS_MIX,
)
from testio_pipeline.testio.simulator.seeding import between

T = TypeVar("T")
_FEATURES_CUMULATIVE = list(accumulate(TEST_FEATURES_PER_TEST_WEIGHTS))
NEVER = 2**62  # a transition that never happens
# the statuses a test never leaves: its bugs never change again (API reference §4). Stated
# here from the reference, not imported from the pipeline, so the truth stays independent
TERMINAL_STATUSES = frozenset({"archived", "cancelled"})

# a test is archived only after every bug is decided: the last bug is reported by end_at and
# decided at the latest AUTO_ACCEPT_DAYS later
ARCHIVE_MIN_AFTER_END = AUTO_ACCEPT_DAYS * DAY + 2 * HOUR


@dataclass(slots=True, frozen=True)
class TestFeature:
    """A snapshot of a catalog feature inside one test (`title` as it was at test creation)."""

    __test__ = False  # not a pytest test class

    id: int
    feature_id: int
    title: str
    description: str | None
    howtofind: str | None
    stories: tuple[Story, ...] | None  # None renders as `"user_stories": null`
    enable_default: bool | None
    enable_content: bool | None
    enable_visual: bool | None


@dataclass(slots=True)
class Life:
    created_at: int
    launched_at: int
    start_at: int
    end_at: int
    finalized_at: int
    archived_at: int
    cancelled_at: int
    testing_type: str


@dataclass(slots=True)
class Test:
    """An exploratory test: its product and section, feature snapshots, life and bug rows."""

    __test__ = False  # not a pytest test class

    id: int
    index: int  # position in the account's test list (creation order)
    product: Product
    section_id: int
    title: str
    life: Life
    created_by: str | None
    submitted_by: str | None  # shown once the test is launched
    features: tuple[TestFeature, ...]
    flavor: int  # picks cosmetic fields (goal, environment, ...) at render time
    bug_lo: int = 0  # bugs of this test are rows bug_lo..bug_hi-1 of the bug table
    bug_hi: int = 0

    def status_at(self, t: int) -> str:
        life = self.life
        if t >= life.cancelled_at:
            return "cancelled"
        if t < life.launched_at:
            return "initialized"
        if t < life.start_at:
            return "waiting"
        if t < life.end_at:
            return "running"
        if t < life.finalized_at:
            return "locked"
        if t < life.archived_at:
            return "customer_finalized"
        return "archived"

    def submitted_by_at(self, t: int) -> str | None:
        return self.submitted_by if t >= self.life.launched_at else None

    @property
    def runs(self) -> bool:
        """Whether the test ever reaches `running` (only such tests get bugs)."""
        return self.life.cancelled_at == NEVER and self.life.launched_at != NEVER


def _hour(t: int) -> int:
    """`t` rounded down to the hour: tests start and end on the hour, so end_at ties happen."""
    return t - t % HOUR


def _run_seconds(rng: random.Random, testing_type: str) -> int:
    low, high = {"rapid": (2, 8), "focused": (24, 48), "usability": (48, 120)}.get(testing_type, (24, 72))
    return between(rng, low, high) * HOUR


def _locked_seconds(rng: random.Random) -> int:
    roll = rng.random()
    for share, low, high in LOCKED_DURATION_MIX:
        if roll < share:
            return int(rng.uniform(low, high) * DAY)
        roll -= share
    return int(LOCKED_DURATION_MIX[-1][2] * DAY)


def _after_end(rng: random.Random, life: Life) -> Life:
    """Draw finalization and archiving after the run (archived only once every bug is decided)."""
    life.finalized_at = life.end_at + _locked_seconds(rng)
    archive_after_finalized = life.finalized_at + between(rng, DAY // 2, 14 * DAY)
    life.archived_at = max(archive_after_finalized, life.end_at + ARCHIVE_MIN_AFTER_END)
    return life


def _natural_life(rng: random.Random, created: int, testing_type: str) -> Life:
    """A life for a test created at `created`, with no condition on its status."""
    launched = created + between(rng, DAY // 2, 10 * DAY)
    start = _hour(launched + between(rng, HOUR, DAY)) + HOUR
    end = start + _run_seconds(rng, testing_type)
    return _after_end(rng, Life(created, launched, start, end, NEVER, NEVER, NEVER, testing_type))


def _cancelled(life: Life, rng: random.Random, latest: int) -> Life:
    # cancelled before it starts, so it never gets bugs
    life.cancelled_at = min(life.created_at + int(rng.random() * (life.start_at - life.created_at)), latest)
    if rng.random() < 0.5 or life.launched_at >= life.cancelled_at:
        life.launched_at = NEVER
    life.finalized_at = life.archived_at = NEVER
    return life


def _draft(life: Life) -> Life:
    life.launched_at = life.finalized_at = life.archived_at = NEVER
    return life


def history_life(rng: random.Random, target: str, t0: int, testing_type: str) -> Life:
    """A life whose status at `t0` is `target`."""
    history_start = t0 - HISTORY_DAYS * DAY
    now_hour = _hour(t0)
    run = _run_seconds(rng, testing_type)
    wait_hours = between(rng, 2, 24)
    wait = wait_hours * HOUR
    lead = between(rng, DAY // 2, 10 * DAY)
    if target in ("running", "waiting", "initialized"):
        if target == "running":
            start = now_hour - between(rng, 0, run // HOUR - 1) * HOUR  # ends after t0
        elif target == "waiting":
            start = now_hour + between(rng, 1, wait_hours - 1) * HOUR  # launched before t0
        else:
            start = now_hour + between(rng, 2, 240) * HOUR + wait  # launched after t0
        launched = start - wait
        created = min(launched - lead, t0 - HOUR)
        life = _after_end(rng, Life(created, launched, start, start + run, NEVER, NEVER, NEVER, testing_type))
        if target == "initialized" and rng.random() < DRAFT_SHARE:
            life.start_at = _hour(created + between(rng, DAY, 40 * DAY))  # a stale draft keeps its plan
            life.end_at = life.start_at + run
            return _draft(life)
        return life
    if target == "cancelled":
        created = between(rng, history_start - 10 * DAY, t0 - 2 * DAY)
        return _cancelled(_natural_life(rng, created, testing_type), rng, t0 - 60)
    if target == "archived":
        end = _hour(between(rng, history_start, t0 - 12 * DAY))
        slack = min(t0 - end - ARCHIVE_MIN_AFTER_END, 30 * DAY)  # archived before t0
        archived = end + ARCHIVE_MIN_AFTER_END + int(rng.random() * 0.95 * slack)
        finalized = end + HOUR + int(rng.random() * (archived - end - 2 * HOUR))
    elif target == "locked":
        end = _hour(between(rng, history_start, t0 - HOUR))
        finalized = t0 + _locked_seconds(rng)
        archived = max(finalized + between(rng, DAY // 2, 14 * DAY), end + ARCHIVE_MIN_AFTER_END)
    else:  # customer_finalized
        end = _hour(between(rng, t0 - 120 * DAY, t0 - DAY))
        finalized = between(rng, end + HOUR, t0 - HOUR)
        archived = max(t0 + between(rng, DAY // 2, 30 * DAY), end + ARCHIVE_MIN_AFTER_END)
    start = end - run
    launched = start - wait
    return Life(launched - lead, launched, start, end, finalized, archived, NEVER, testing_type)


def future_life(rng: random.Random, created: int, testing_type: str) -> Life:
    """A life for a test created after the clock start."""
    life = _natural_life(rng, created, testing_type)
    roll = rng.random()
    if roll < FUTURE_DRAFT_RATE:
        return _draft(life)
    if roll < FUTURE_DRAFT_RATE + FUTURE_CANCEL_RATE:
        return _cancelled(life, rng, NEVER)
    return life


def draw_targets(rng: random.Random, n: int) -> list[str]:
    """`n` statuses in the mix of TEST_STATUS_MIX (largest-remainder rounding, then shuffled)."""
    quotas = {s: share * n for s, share in TEST_STATUS_MIX.items()}
    counts = {s: int(q) for s, q in quotas.items()}
    for s in sorted(quotas, key=lambda s: quotas[s] - counts[s], reverse=True)[: n - sum(counts.values())]:
        counts[s] += 1
    targets = [s for s, c in counts.items() for _ in range(c)]
    rng.shuffle(targets)
    return targets


def materialize(
    rng: random.Random,
    plans: list[tuple[Life, Product]],
    first_index: int,
    test_ids: IdCounter,
    test_feature_ids: IdCounter,
    customers: list[str],
) -> list[Test]:
    """Turn (life, product) plans into tests, ids growing with creation time."""
    plans.sort(key=lambda plan: (plan[0].created_at, plan[1].index))
    tests: list[Test] = []
    for offset, (life, product) in enumerate(plans):
        created = life.created_at
        if product.has_sections:
            section_id = _pick(rng, product.sections_with_default).id
        else:
            section_id = product.sections_with_default[0].id
        candidates = product.features_at(created, section_id)
        k = 1 + bisect_right(_FEATURES_CUMULATIVE, rng.random() * _FEATURES_CUMULATIVE[-1])
        chosen = sorted(rng.sample(candidates, min(k, len(candidates))), key=lambda f: f.id)
        snapshots = tuple(_snapshot(rng, f, created, test_feature_ids) for f in chosen)
        # each product has a few customer users who create most of its tests
        creator = customers[(product.index + between(rng, 0, 2)) % len(customers)]
        if rng.random() < CREATED_BY_NULL_RATE:
            creator = None
        submitter = creator if creator and rng.random() < 0.7 else _pick(rng, customers)
        if rng.random() < SUBMITTED_BY_NULL_RATE:
            submitter = None
        focus = snapshots[0].title.split("] ", 1)[-1] if snapshots else product.name
        template = _pick(rng, names.TEST_TITLE_TEMPLATES)
        title = template.format(n=between(rng, 1, 60), m=between(rng, 0, 9), k=between(rng, 1, 9), f=focus)
        tests.append(
            Test(
                id=test_ids.next(), index=first_index + offset, product=product, section_id=section_id,
                title=title, life=life, created_by=creator, submitted_by=submitter, features=snapshots,
                flavor=rng.getrandbits(32),
            )
        )
    return tests


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    return items[int(rng.random() * len(items))]


def _flag(rng: random.Random, p_true: float) -> bool | None:
    roll = rng.random()
    if roll < FEATURE_ENABLE_NULL_RATE:
        return None  # quirk 5.9: enable_* flags may be null
    return roll < FEATURE_ENABLE_NULL_RATE + p_true * (1 - FEATURE_ENABLE_NULL_RATE)


def _snapshot(rng: random.Random, feature: Feature, at: int, ids: IdCounter) -> TestFeature:
    stories = None if rng.random() < TEST_FEATURE_STORIES_NULL_RATE else feature.stories
    return TestFeature(
        id=ids.next(), feature_id=feature.id, title=feature.title_at(at), description=feature.description,
        howtofind=feature.howtofind, stories=stories, enable_default=_flag(rng, 0.95),
        enable_content=_flag(rng, 0.6), enable_visual=_flag(rng, 0.7),
    )
