"""What a complete, correct sync must store, computed from the simulator's own state.

Never from pipeline code: the truth reads the account directly (entities, lives, bug fates) at an
instant. Timestamps are aware UTC datetimes. `users` and `feature_bug_density` are derived from
the entity dicts (per ../shared/warehouse_contract.md), so `excluding_tests` stays right.

Conventions a comparison relies on:
- `features` is the current catalog only; the warehouse also keeps deleted features
  (`is_deleted = true`), which a test composes from history.
- `FeatureTruth.section_ids` lists the sections a feature is listed under for products with
  sections, and is empty for products without sections (their features come from the
  product-wide list).
- `TestTruth.submitted_by` is null until the test is launched (as the API shows it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from testio_pipeline.testio.simulator.bugs import FATE_AUTO, SEVERITIES, TF_PRESENT
from testio_pipeline.testio.simulator.clock import utc_datetime
from testio_pipeline.testio.simulator.execution import (
    NOT_STARTED,
    feature_status,
    story_outcomes,
    story_version_id,
    tester_count,
)
from testio_pipeline.testio.simulator.timeline import TERMINAL_STATUSES
from testio_pipeline.testio.simulator.render_bugs import bug_title, status_name

if TYPE_CHECKING:
    from testio_pipeline.testio.simulator.account import Account


@dataclass(frozen=True, slots=True)
class ProductTruth:
    name: str
    type: str
    has_sections: bool
    section_ids: tuple[int, ...]
    description: str | None
    default_section_id: int


@dataclass(frozen=True, slots=True)
class FeatureTruth:
    product_id: int
    title: str
    description: str | None
    howtofind: str | None
    section_ids: tuple[int, ...]
    user_stories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TestTruth:
    __test__ = False  # not a pytest test class

    product_id: int
    section_id: int
    title: str
    status: str
    is_final: bool
    start_at: datetime
    end_at: datetime
    created_by: str | None
    submitted_by: str | None
    testing_type: str


@dataclass(frozen=True, slots=True)
class TestFeatureTruth:
    __test__ = False  # not a pytest test class

    test_id: int
    feature_id: int
    product_id: int
    title: str
    enable_default: bool
    enable_content: bool
    enable_visual: bool
    user_stories: tuple[str, ...]
    description: str | None
    howtofind: str | None
    # the 2026 API's execution outcome (absent from an account on the older API)
    execution_status: str
    tester_count: int
    bug_ids: tuple[int, ...]  # visible bugs linked to this test feature, ascending

    @property
    def bugs_found(self) -> int:
        return len(self.bug_ids)


@dataclass(frozen=True, slots=True)
class StoryTruth:
    """A user story's outcome inside one test feature (the 2026 API with includes[]=user_stories)."""

    test_id: int
    feature_id: int
    product_id: int
    user_story_version_id: int
    title: str
    execution_status: str
    tested_by_count: int
    bug_ids: tuple[int, ...]  # ascending


@dataclass(frozen=True, slots=True)
class BugTruth:
    test_id: int
    product_id: int
    test_feature_id: int | None
    feature_id: int | None
    severity: str
    status: str
    auto_accepted: bool
    known: bool
    author_name: str
    reported_at: datetime
    title: str


@dataclass(frozen=True, slots=True)
class UserTruth:
    name: str
    kind: str  # 'tester' (bug authors) or 'customer' (created_by / submitted_by)
    bugs_reported: int
    tests_created: int
    tests_submitted: int


@dataclass(frozen=True, slots=True)
class DensityTruth:
    product_id: int
    feature_title: str
    in_catalog: bool
    tests_covered: int
    bugs_total: int
    valid_bugs: int
    accepted_bugs: int
    rejected_bugs: int
    forwarded_bugs: int
    critical_bugs: int
    high_bugs: int
    low_bugs: int
    visual_bugs: int
    content_bugs: int
    custom_bugs: int
    bug_density: float | None


@dataclass(frozen=True)
class GroundTruth:
    """A frozen snapshot at `at` of the tables a complete sync of customer `customer_id` holds."""

    at: datetime
    customer_id: int
    products: dict[int, ProductTruth]
    features: dict[int, FeatureTruth]
    tests: dict[int, TestTruth]
    test_features: dict[int, TestFeatureTruth]
    bugs: dict[int, BugTruth]
    # (test feature id, user story id) -> outcome; stories of test features with stories
    test_feature_stories: dict[tuple[int, int], StoryTruth] = field(default_factory=dict)
    users: dict[tuple[str, str], UserTruth] = field(init=False)
    feature_bug_density: dict[int, DensityTruth] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", derive_users(self.tests.values(), self.bugs.values()))
        density = derive_density(self.features, self.test_features, self.bugs)
        object.__setattr__(self, "feature_bug_density", density)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {
            "products": len(self.products), "features": len(self.features), "tests": len(self.tests),
            "test_features": len(self.test_features), "bugs": len(self.bugs), "users": len(self.users),
            "test_feature_stories": len(self.test_feature_stories),
            "feature_bug_density": len(self.feature_bug_density),
        }

    def excluding_tests(self, test_ids: Iterable[int]) -> GroundTruth:
        """The truth without these tests, their test features and bugs (e.g. poisoned tests)."""
        drop = set(test_ids)
        return GroundTruth(
            at=self.at, customer_id=self.customer_id, products=self.products, features=self.features,
            tests={k: v for k, v in self.tests.items() if k not in drop},
            test_features={k: v for k, v in self.test_features.items() if v.test_id not in drop},
            bugs={k: v for k, v in self.bugs.items() if v.test_id not in drop},
            test_feature_stories={
                k: v for k, v in self.test_feature_stories.items() if v.test_id not in drop
            },
        )

    def excluding_bugs(self, bug_ids: Iterable[int]) -> GroundTruth:
        """The truth without these bugs (e.g. bugs served in a shape that cannot be stored)."""
        drop = set(bug_ids)
        return GroundTruth(
            at=self.at, customer_id=self.customer_id, products=self.products, features=self.features,
            tests=self.tests, test_features=self.test_features,
            bugs={k: v for k, v in self.bugs.items() if k not in drop},
            test_feature_stories=self.test_feature_stories,
        )

    def tests_of_products(self, product_ids: Iterable[int]) -> set[int]:
        """Ids of the tests of these products."""
        wanted = set(product_ids)
        return {k for k, v in self.tests.items() if v.product_id in wanted}

    @property
    def attributed_bug_count(self) -> int:
        """Bugs linked to a feature through `test_feature`."""
        return sum(1 for b in self.bugs.values() if b.feature_id is not None)

    @property
    def unattributed_bug_count(self) -> int:
        return len(self.bugs) - self.attributed_bug_count


def derive_users(tests: Iterable[TestTruth], bugs: Iterable[BugTruth]) -> dict[tuple[str, str], UserTruth]:
    reported = Counter(b.author_name for b in bugs)
    created: Counter[str] = Counter()
    submitted: Counter[str] = Counter()
    for test in tests:
        if test.created_by is not None:
            created[test.created_by] += 1
        if test.submitted_by is not None:
            submitted[test.submitted_by] += 1
    users = {(name, "tester"): UserTruth(name, "tester", n, 0, 0) for name, n in reported.items()}
    for name in set(created) | set(submitted):
        users[(name, "customer")] = UserTruth(name, "customer", 0, created[name], submitted[name])
    return users


def derive_density(
    features: dict[int, FeatureTruth], test_features: dict[int, TestFeatureTruth], bugs: dict[int, BugTruth]
) -> dict[int, DensityTruth]:
    """feature_bug_density per the warehouse contract, from the truth dicts alone."""
    tests_by_feature: dict[int, set[int]] = defaultdict(set)
    latest: dict[int, tuple[int, TestFeatureTruth]] = {}
    for tf_id, tf in test_features.items():
        tests_by_feature[tf.feature_id].add(tf.test_id)
        if tf.feature_id not in latest or tf_id > latest[tf.feature_id][0]:
            latest[tf.feature_id] = (tf_id, tf)
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for bug in bugs.values():
        if bug.feature_id is None:
            continue
        c = counts[bug.feature_id]
        c["total"] += 1
        c[bug.status] += 1
        if bug.status != "rejected":
            c["valid"] += 1
            c[bug.severity] += 1
    rows: dict[int, DensityTruth] = {}
    for fid in sorted(set(features) | set(latest)):
        if fid in features:
            product_id, title, in_catalog = features[fid].product_id, features[fid].title, True
        else:
            tf = latest[fid][1]
            product_id, title, in_catalog = tf.product_id, tf.title, False
        c = counts.get(fid, Counter())
        covered = len(tests_by_feature.get(fid, ()))
        rows[fid] = DensityTruth(
            product_id=product_id, feature_title=title, in_catalog=in_catalog, tests_covered=covered,
            bugs_total=c["total"], valid_bugs=c["valid"], accepted_bugs=c["accepted"],
            rejected_bugs=c["rejected"], forwarded_bugs=c["forwarded"],
            **{f"{s}_bugs": c[s] for s in SEVERITIES},
            bug_density=c["valid"] / covered if covered else None,
        )
    return rows


def compute_ground_truth(account: Account, t: int, customer_id: int) -> GroundTruth:
    """The truth of `account` at instant `t`."""
    account.ensure(t)
    products = {
        p.id: ProductTruth(p.name, p.type, p.has_sections, p.section_ids, p.description, p.default_section_id)
        for p in account.products
    }
    features = {
        f.id: FeatureTruth(f.product_id, f.title_at(t), f.description, f.howtofind, f.section_ids,
                           tuple(s.title for s in f.stories))
        for f in account.catalog_at(t)
    }
    tests: dict[int, TestTruth] = {}
    test_features: dict[int, TestFeatureTruth] = {}
    stories: dict[tuple[int, int], StoryTruth] = {}
    bugs = _bugs_at(account, t)
    linked = _linked_bugs(account, t)
    visible = account.tests_at(t)
    for x in visible:
        status = account.status_of(x, t)
        tests[x.id] = TestTruth(
            x.product.id, x.section_id, x.title, status, status in TERMINAL_STATUSES,
            utc_datetime(x.life.start_at), utc_datetime(x.life.end_at), x.created_by, x.submitted_by_at(t),
            x.life.testing_type,
        )
        # the execution outcome goes by the test's real status, not an alias the API shows
        real_status = x.status_at(t)
        for tf in x.features:
            mine = linked.get(tf.id, [])
            bug_ids = sorted(bug_id for bug_id, _, _ in mine)
            critical = any(severity == "critical" for _, severity, _ in mine)
            execution = feature_status(real_status, tf.id, tf.feature_id, bug_ids, critical)
            testers = tester_count({author for _, _, author in mine}, tf.id, real_status not in NOT_STARTED)
            # nulls of the API become false / empty, as the warehouse stores them
            test_features[tf.id] = TestFeatureTruth(
                x.id, tf.feature_id, x.product.id, tf.title, bool(tf.enable_default),
                bool(tf.enable_content), bool(tf.enable_visual), tuple(s.title for s in tf.stories or ()),
                tf.description, tf.howtofind, execution, testers, tuple(bug_ids),
            )
            for outcome in story_outcomes(tf.stories or (), execution, testers, bug_ids):
                stories[tf.id, outcome.story.id] = StoryTruth(
                    x.id, tf.feature_id, x.product.id, story_version_id(outcome.story),
                    outcome.story.title, outcome.execution_status, outcome.tested_by_count,
                    tuple(sorted(outcome.bug_ids)),
                )
    return GroundTruth(utc_datetime(t), customer_id, products, features, tests, test_features,
                       bugs, stories)


def _linked_bugs(account: Account, t: int) -> dict[int, list[tuple[int, str, int]]]:
    """Test feature id -> (bug id, severity, author index) of the bugs visible at `t` linked to
    it (a bug whose `test_feature` is missing or null belongs to no test feature)."""
    table = account.bugs
    rows = np.flatnonzero(table.cols["reported_at"] <= t)
    names = ("id", "test_index", "tf_slot", "severity", "author")
    cols = {name: table.cols[name][rows].tolist() for name in names}
    linked: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for bug_id, test_index, slot, severity, author in zip(*(cols[n] for n in names)):
        if slot >= 0:
            tf = account.tests[test_index].features[slot]
            linked[tf.id].append((bug_id, SEVERITIES[severity], author))
    return linked


def _bugs_at(account: Account, t: int) -> dict[int, BugTruth]:
    table = account.bugs
    rows = np.flatnonzero(table.cols["reported_at"] <= t)
    states = table.states_at(t)[rows].tolist()
    names = ("id", "test_index", "tf_slot", "tf_mode", "severity", "reported_at", "author", "known", "flavor")
    cols = {name: table.cols[name][rows].tolist() for name in names}
    bugs: dict[int, BugTruth] = {}
    for i, state in enumerate(states):
        test = account.tests[cols["test_index"][i]]
        tf = test.features[cols["tf_slot"][i]] if cols["tf_mode"][i] == TF_PRESENT else None
        status = status_name(state)
        bugs[cols["id"][i]] = BugTruth(
            test.id, test.product.id, tf.id if tf else None, tf.feature_id if tf else None,
            SEVERITIES[cols["severity"][i]], status, state == FATE_AUTO, cols["known"][i],
            account.testers[cols["author"][i]], utc_datetime(cols["reported_at"][i]),
            bug_title(cols["flavor"][i], tf, test.product),
        )
    return bugs
