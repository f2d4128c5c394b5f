"""The simulated account: products, catalog, tests and bugs, generated deterministically.

History (everything created up to the clock start) is generated at construction. Later entities
are generated lazily in weekly chunks, each from its own random stream and in order, so the
account at any instant is the same however the clock got there. Every query takes the instant
`t` explicitly; nothing here knows the current clock.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from itertools import accumulate

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.bugs import BugTable, generate_bugs
from testio_pipeline.testio.simulator.catalog import Feature, IdCounter, Product
from testio_pipeline.testio.simulator.catalog_gen import (
    apply_chunk_catalog_events,
    build_history_catalog,
    build_products,
)
from testio_pipeline.testio.simulator.config import (
    BUG_ID_START,
    CHUNK_DAYS,
    CLOCK_START_EPOCH,
    DAY,
    FEATURE_ID_START,
    FUTURE_TESTS_PER_DAY_SHARE,
    SECTION_ID_START,
    STORY_ID_START,
    TEST_FEATURE_ID_START,
    TEST_ID_START,
    UNKNOWN_STATUS_ALIASES,
    Sizes,
    SimulatorConfig,
)
from testio_pipeline.testio.simulator.seeding import np_rng, py_rng, uniforms
from testio_pipeline.testio.simulator.timeline import (
    Test,
    draw_targets,
    future_life,
    history_life,
    materialize,
)

TESTING_TYPES = tuple(names.TESTING_TYPES)
_TYPE_CUM_WEIGHTS = list(accumulate(names.TESTING_TYPE_WEIGHTS))


class Account:
    """All entities of one simulated customer account, queried by instant."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.seed = config.seed
        self.unknown_status_rate = config.unknown_status_rate
        self.sizes = Sizes.for_scale(config.scale)
        self.t0 = CLOCK_START_EPOCH
        self._lock = threading.RLock()
        seed = self.seed

        self.section_ids = IdCounter(SECTION_ID_START, py_rng(seed, "ids", "section"))
        self.feature_ids = IdCounter(FEATURE_ID_START, py_rng(seed, "ids", "feature"))
        self.story_ids = IdCounter(STORY_ID_START, py_rng(seed, "ids", "story"))
        self.test_ids = IdCounter(TEST_ID_START, py_rng(seed, "ids", "test"))
        self.test_feature_ids = IdCounter(TEST_FEATURE_ID_START, py_rng(seed, "ids", "test_feature"))
        self.last_bug_id = BUG_ID_START

        catalog_rng = py_rng(seed, "catalog")
        self.products: list[Product] = build_products(catalog_rng, self.sizes.products, self.section_ids)
        self.products_by_id: dict[int, Product] = {p.id: p for p in self.products}
        build_history_catalog(catalog_rng, self.products, self.t0, self.feature_ids, self.story_ids)
        self.customers = [names.customer_name(i) for i in range(self.sizes.customers)]
        self.testers = [names.tester_name(i) for i in range(self.sizes.testers)]
        self._cum_weights = list(accumulate(p.weight for p in self.products))

        self.tests: list[Test] = []
        self.tests_by_id: dict[int, Test] = {}
        self.bugs = BugTable()
        self._tests_by_product: dict[int, list[Test]] = {p.id: [] for p in self.products}
        self._visible_cache: dict[tuple[int, int], list[Test]] = {}

        rng = py_rng(seed, "history-tests")
        plans = []
        for target in draw_targets(rng, self.sizes.tests):
            product = rng.choices(self.products, cum_weights=self._cum_weights)[0]
            testing_type = rng.choices(TESTING_TYPES, cum_weights=_TYPE_CUM_WEIGHTS)[0]
            plans.append((history_life(rng, target, self.t0, testing_type), product))
        self._add_tests(rng, plans, np_rng(seed, "history-bugs"))
        self.generated_until = self.t0
        self._chunks = 0
        self.tests_per_second = self.sizes.tests * FUTURE_TESTS_PER_DAY_SHARE / DAY

    def _add_tests(self, rng, plans, bug_rng) -> None:
        tests = materialize(rng, plans, len(self.tests), self.test_ids, self.test_feature_ids, self.customers)
        cols, self.last_bug_id = generate_bugs(
            bug_rng, tests, self.last_bug_id, len(self.bugs), len(self.testers)
        )
        self.bugs.extend(cols)
        self.tests.extend(tests)
        grouped: dict[int, list[Test]] = defaultdict(list)
        for test in tests:
            self.tests_by_id[test.id] = test
            grouped[test.product.id].append(test)
        for pid, new in grouped.items():
            # newest first by end_at, ties by id: the order of the live API (quirk 5.3); a new
            # list, not an in-place sort, so a concurrent reader never sees it half sorted
            merged = self._tests_by_product[pid] + new
            self._tests_by_product[pid] = sorted(merged, key=lambda x: (-x.life.end_at, -x.id))
        self._visible_cache.clear()

    def ensure(self, t: int) -> None:
        """Generate every chunk up to instant `t` (idempotent, thread-safe)."""
        if t <= self.generated_until:
            return
        with self._lock:
            while self.generated_until < t:
                self._generate_chunk()

    def _generate_chunk(self) -> None:
        k = self._chunks
        start = self.generated_until
        end = start + CHUNK_DAYS * DAY
        rng = py_rng(self.seed, "chunk", k)
        apply_chunk_catalog_events(rng, self.products, start, self.feature_ids, self.story_ids)
        plans = []
        t = float(start)
        while True:
            t += rng.expovariate(self.tests_per_second)
            if t > end:
                break
            product = rng.choices(self.products, cum_weights=self._cum_weights)[0]
            testing_type = rng.choices(TESTING_TYPES, cum_weights=_TYPE_CUM_WEIGHTS)[0]
            plans.append((future_life(rng, max(int(t), start + 1), testing_type), product))
        self._add_tests(rng, plans, np_rng(self.seed, "chunk-bugs", k))
        self._chunks = k + 1
        self.generated_until = end

    def status_of(self, test: Test, t: int) -> str:
        """The status the API shows: the life's status, or an undocumented alias for some tests."""
        status = test.status_at(t)
        alias = UNKNOWN_STATUS_ALIASES.get(status)
        if alias is not None and self.unknown_status_rate > 0:
            if uniforms(self.seed, "unknown-status", test.id, count=1)[0] < self.unknown_status_rate:
                return alias
        return status

    def product(self, product_id: int) -> Product | None:
        return self.products_by_id.get(product_id)

    def catalog_at(self, t: int) -> list[Feature]:
        """Every feature in the catalog at `t`, ordered by id."""
        return sorted((f for p in self.products for f in p.features_at(t)), key=lambda f: f.id)

    def product_tests_at(self, product_id: int, t: int) -> list[Test]:
        """Tests of a product that exist at `t`, newest first (end_at desc, id desc)."""
        key = (product_id, t)
        cached = self._visible_cache.get(key)
        if cached is None:
            cached = [x for x in self._tests_by_product.get(product_id, ()) if x.life.created_at <= t]
            if len(self._visible_cache) > 4096:
                self._visible_cache.clear()
            self._visible_cache[key] = cached
        return cached

    def tests_at(self, t: int) -> list[Test]:
        """Every test that exists at `t`, in creation order."""
        return [x for x in self.tests if x.life.created_at <= t]

    def test_at(self, test_id: int, t: int) -> Test | None:
        test = self.tests_by_id.get(test_id)
        return test if test is not None and test.life.created_at <= t else None
