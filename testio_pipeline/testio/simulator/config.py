"""Configuration of the simulator: account size, switches for API behaviours, injected faults.

Every number the generator relies on (status mix, severity mix, id ranges, durations) lives here
as an UPPER_CASE constant, so a reader tunes the simulated account in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal, Union

SIMULATOR_BASE_URL = "http://testio-simulator.local/customer/v2"
API_PREFIX = "/customer/v2"
ADMIN_PREFIX = "/_simulator"
DEFAULT_TOKEN = "simulator-token"

# the clock starts at a fixed, seed-independent instant so every run is reproducible
CLOCK_START = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
CLOCK_START_EPOCH = int(CLOCK_START.timestamp())

HOUR = 3600
DAY = 86400

SIZE_SCALES: dict[str, float] = {"small": 1.0, "medium": 8.0, "large": 60.0}
TESTS_PER_SCALE = 400  # tests that exist at the clock start, per unit of scale
PRODUCTS_PER_SCALE = 10  # products = PRODUCTS_PER_SCALE * scale ** PRODUCTS_EXPONENT
PRODUCTS_EXPONENT = 0.6
HISTORY_DAYS = 540  # tests at the clock start ended within this many days
CHUNK_DAYS = 7  # future entities are generated lazily, one week at a time
# new tests per day after the clock start, as a share of the tests at the start: a busy account
# (the reference's mix, 5 % running, implies even more), so a day of time travel shows new tests
FUTURE_TESTS_PER_DAY_SHARE = 0.01

# ids of the live system are global across customers, so one account sees gaps
PRODUCT_ID_RANGE = (54, 25073)
SECTION_ID_START = 21855
FEATURE_ID_START = 177038
STORY_ID_START = 60011
TEST_ID_START = 94105
TEST_FEATURE_ID_START = 1040113
BUG_ID_START = 904417
ID_GAP_MAX = 3  # consecutive ids of one account differ by 1..ID_GAP_MAX

# status mix at the clock start (reference §4): waiting takes a sliver of initialized
TEST_STATUS_MIX: dict[str, float] = {
    "running": 0.05,
    "locked": 0.30,
    "archived": 0.475,
    "customer_finalized": 0.09,
    "initialized": 0.065,
    "waiting": 0.01,
    "cancelled": 0.01,
}
DRAFT_SHARE = 0.25  # initialized tests that are never launched (stale drafts)
FUTURE_DRAFT_RATE = 0.02
FUTURE_CANCEL_RATE = 0.01
# how long a test stays locked before the customer finalizes it: (share, min days, max days)
LOCKED_DURATION_MIX = ((0.55, 0.5, 7.0), (0.30, 7.0, 60.0), (0.15, 60.0, 400.0))

# fates of a bug once reviewed; at the clock start ~3% are still forwarded (undecided)
BUG_FATE_MIX = {"accepted": 0.53, "auto_accepted": 0.20, "rejected": 0.27}
AUTO_ACCEPT_DAYS = 10  # a forwarded bug nobody reviewed is auto-accepted after 10 days
BUG_SEVERITY_MIX: dict[str, float] = {
    "critical": 0.10, "high": 0.35, "low": 0.30, "visual": 0.15, "content": 0.08, "custom": 0.02,
}
BUGS_PER_TEST_MEAN = 10.5
BUG_TEST_FEATURE_MISSING_RATE = 0.02  # key absent
BUG_TEST_FEATURE_NULL_RATE = 0.02  # key present, value null
BUG_KNOWN_RATE = 0.05
BUG_EXPORTED_RATE = 0.3  # accepted bugs exported to the customer's tracker when accepted
BUG_STEPS_AS_STRING_RATE = 0.1
BUG_BLANK_RESULT_RATE = 0.08

TEST_FEATURES_PER_TEST_WEIGHTS = (0.25, 0.25, 0.2, 0.15, 0.1, 0.05)  # 1..6
FEATURE_ENABLE_NULL_RATE = 0.1
TEST_FEATURE_STORIES_NULL_RATE = 0.15
CREATED_BY_NULL_RATE = 0.04
SUBMITTED_BY_NULL_RATE = 0.04

FEATURE_ADDED_SHARE = 0.25  # features created during the history rather than before it
FEATURE_RENAME_SHARE = 0.3  # features renamed once during the history
FEATURE_DELETE_SHARE = 0.2  # features removed from the catalog during the history
# after the clock start catalogs change with every release: expected events per alive feature
# and week (at least CATALOG_MIN_WEEKLY_EVENTS per product), so a few days of time travel
# already show renames, removals and additions
WEEKLY_RENAME_RATE = 0.02
WEEKLY_DELETE_RATE = 0.015
WEEKLY_ADD_RATE = 0.015
CATALOG_MIN_WEEKLY_EVENTS = 0.1
FEATURE_SHARED_SECTION_RATE = 0.2  # features listed under two sections
FEATURE_NULL_DESCRIPTION_RATE = 0.15
FEATURE_NULL_HOWTOFIND_RATE = 0.25
FEATURE_STORIES_RATE = 0.7

UNKNOWN_STATUS_ALIASES = {"locked": "completed", "initialized": "pending"}
UNPAGED_TESTS_LIMIT = 150  # without `page` the API returns only the newest 150 tests
DEFAULT_PER_PAGE = 25

FeaturesEndpointMode = Literal["legacy_422", "returns_all"]


@dataclass(frozen=True)
class FaultConfig:
    """Faults injected into API answers (never into admin paths); all off by default.

    Rates are probabilities per request, drawn from a hash of (seed, method, path + sorted
    query, occurrence number) so a retry gets a fresh draw and any interleaving of clients sees
    the same faults. `poison_rate` marks a fraction of tests whose test pages (and single GET)
    always answer 500.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate_5xx: float = 0.0
    error_rate_429: float = 0.0
    retry_after_seconds: float = 1.0
    poison_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 60.0
    malformed_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate_5xx", "error_rate_429", "poison_rate", "slow_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        for name in ("latency_ms", "jitter_ms", "retry_after_seconds", "slow_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True)
class SimulatorConfig:
    """What account the simulator generates and how its API behaves.

    `size` is "small" | "medium" | "large" or a float scale (1.0 == small). The same
    (size, seed) and the same clock give byte-identical response bodies.
    """

    size: Union[str, float] = "small"
    seed: int = 1
    token: str = DEFAULT_TOKEN
    features_endpoint: FeaturesEndpointMode = "legacy_422"
    honour_includes: bool = True
    # the 2026 API (Feb 2026 docs): test features and their stories carry execution outcomes
    # (`execution_status`, tester / bug counts, `bug_ids`) and the single GET an `analytics`
    # block; False serves the older shapes without them
    api_2026: bool = True
    truncate_unpaged_tests: bool = True
    # share of tests shown with a status outside the documented enum while they are locked or
    # initialized ("completed", "pending": the getting-started guide's words, never observed)
    unknown_status_rate: float = 0.0
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if self.features_endpoint not in ("legacy_422", "returns_all"):
            raise ValueError(f"unknown features_endpoint {self.features_endpoint!r}")
        if not 0.0 <= self.unknown_status_rate <= 1.0:
            raise ValueError("unknown_status_rate must be within [0, 1]")
        self.scale  # validates size

    @property
    def scale(self) -> float:
        """The size as a float scale (1.0 == small)."""
        if isinstance(self.size, str):
            if self.size in SIZE_SCALES:
                return SIZE_SCALES[self.size]
            try:
                value = float(self.size)
            except ValueError:
                raise ValueError(f"unknown size {self.size!r}") from None
        else:
            value = float(self.size)
        if not value > 0 or math.isinf(value):
            raise ValueError(f"size must be a positive scale, got {self.size!r}")
        return value


@dataclass(frozen=True)
class Sizes:
    """Entity counts derived from a scale."""

    products: int
    tests: int
    testers: int
    customers: int

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        return cls(
            products=max(3, round(PRODUCTS_PER_SCALE * scale**PRODUCTS_EXPONENT)),
            tests=max(20, round(TESTS_PER_SCALE * scale)),
            testers=max(12, round(60 * scale**0.5)),
            customers=max(3, round(6 * scale**0.4)),
        )
