"""Bugs as a columnar table (numpy), drawn per batch of tests in one vectorised pass.

A bug's whole life is drawn with it: `reported_at` within its test's run, a fate (accepted by
the customer, auto-accepted after 10 days, rejected) and the time of that decision. Until then
the bug is `forwarded`. Cosmetic fields (title, steps, devices, ...) come from a per-bug
`flavor` at render time, so generating `large` stays fast and its memory flat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from testio_pipeline.testio.simulator.config import (
    AUTO_ACCEPT_DAYS,
    BUG_EXPORTED_RATE,
    BUG_FATE_MIX,
    BUG_KNOWN_RATE,
    BUG_SEVERITY_MIX,
    BUG_TEST_FEATURE_MISSING_RATE,
    BUG_TEST_FEATURE_NULL_RATE,
    BUGS_PER_TEST_MEAN,
    DAY,
    ID_GAP_MAX,
)
from testio_pipeline.testio.simulator.timeline import Test

SEVERITIES = tuple(BUG_SEVERITY_MIX)
FATES = ("accepted", "auto_accepted", "rejected")
FATE_ACCEPTED, FATE_AUTO, FATE_REJECTED = 0, 1, 2
STATE_FORWARDED = 3  # state code of an undecided bug; states 0..2 are the fates once decided
TF_PRESENT, TF_MISSING, TF_NULL = 0, 1, 2

COLUMNS: dict[str, type] = {
    "id": np.int64,
    "test_index": np.int32,
    "tf_slot": np.int8,  # index into the test's features; -1 when the bug has no test_feature
    "tf_mode": np.int8,
    "severity": np.int8,
    "fate": np.int8,
    "reported_at": np.int64,
    "decided_at": np.int64,
    "author": np.int32,
    "known": np.bool_,
    "exported": np.bool_,
    "flavor": np.uint32,
}


class BugTable:
    """All bugs of the account, one row each, ordered by id (rows of one test are contiguous)."""

    def __init__(self) -> None:
        self.cols: dict[str, np.ndarray] = {name: np.empty(0, dtype) for name, dtype in COLUMNS.items()}

    def __len__(self) -> int:
        return int(self.cols["id"].shape[0])

    def extend(self, cols: dict[str, np.ndarray]) -> None:
        self.cols = {name: np.concatenate([self.cols[name], cols[name]]) for name in COLUMNS}

    def row_of(self, bug_id: int) -> int | None:
        ids = self.cols["id"]
        row = int(np.searchsorted(ids, bug_id))
        return row if row < len(ids) and int(ids[row]) == bug_id else None

    def states_at(self, t: int) -> np.ndarray:
        """State code per row at `t`: the fate once decided, STATE_FORWARDED before."""
        return np.where(t < self.cols["decided_at"], STATE_FORWARDED, self.cols["fate"]).astype(np.int8)


def _mix_codes(rng: np.random.Generator, weights: Sequence[float], size: int) -> np.ndarray:
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    cumulative /= cumulative[-1]
    codes = np.searchsorted(cumulative, rng.random(size), side="right")
    return np.minimum(codes, len(weights) - 1).astype(np.int8)


def generate_bugs(
    rng: np.random.Generator, tests: list[Test], last_id: int, first_row: int, n_testers: int
) -> tuple[dict[str, np.ndarray], int]:
    """Bugs of `tests` (only tests that run get any); sets each test's bug_lo/bug_hi.

    Returns the new columns and the last bug id used.
    """
    n = len(tests)
    runs = np.fromiter((t.runs for t in tests), bool, n)
    start = np.fromiter((t.life.start_at for t in tests), np.int64, n)
    end = np.fromiter((t.life.end_at for t in tests), np.int64, n)
    n_features = np.fromiter((len(t.features) for t in tests), np.int64, n)
    # bug counts vary a lot between tests: poisson around a gamma-distributed mean
    lam = rng.gamma(2.0, BUGS_PER_TEST_MEAN / 2.0, n) * runs
    counts = rng.poisson(lam)
    total = int(counts.sum())
    bounds = first_row + np.concatenate([[0], np.cumsum(counts)])
    for i, test in enumerate(tests):
        test.bug_lo, test.bug_hi = int(bounds[i]), int(bounds[i + 1])

    rel = np.repeat(np.arange(n), counts)
    reported = start[rel] + (rng.random(total) * (end - start)[rel]).astype(np.int64)
    order = np.lexsort((reported, rel))
    rel, reported = rel[order], reported[order]
    ids = last_id + np.cumsum(rng.integers(1, ID_GAP_MAX + 1, total))

    fate = _mix_codes(rng, [BUG_FATE_MIX[f] for f in FATES], total)
    delay = np.where(
        fate == FATE_AUTO,
        AUTO_ACCEPT_DAYS * DAY,
        (rng.uniform(0.02, 9.9, total) * DAY).astype(np.int64),
    )
    tf_roll = rng.random(total)
    tf_mode = np.where(
        tf_roll < BUG_TEST_FEATURE_MISSING_RATE,
        TF_MISSING,
        np.where(tf_roll < BUG_TEST_FEATURE_MISSING_RATE + BUG_TEST_FEATURE_NULL_RATE, TF_NULL, TF_PRESENT),
    ).astype(np.int8)
    tf_slot = (rng.random(total) * n_features[rel]).astype(np.int8)
    cols = {
        "id": ids.astype(np.int64),
        # tests of one batch have consecutive indices
        "test_index": ((tests[0].index if n else 0) + rel).astype(np.int32),
        "tf_slot": np.where(tf_mode == TF_PRESENT, tf_slot, -1).astype(np.int8),
        "tf_mode": tf_mode,
        "severity": _mix_codes(rng, list(BUG_SEVERITY_MIX.values()), total),
        "fate": fate,
        "reported_at": reported,
        "decided_at": reported + delay,
        # a few prolific testers report most bugs
        "author": (n_testers * rng.random(total) ** 1.6).astype(np.int32),
        "known": rng.random(total) < BUG_KNOWN_RATE,
        "exported": (fate == FATE_ACCEPTED) & (rng.random(total) < BUG_EXPORTED_RATE),
        "flavor": rng.integers(0, 2**32, total, dtype=np.uint32),
    }
    return cols, int(ids[-1]) if total else last_id
