"""JSON rendering of products, features and tests in the shapes of reference §3.

Objects become dicts here and the API layer serialises them (orjson); parts that many tests
share (product, section, environment, requirements) are serialised once and embedded as orjson
Fragments. Bugs, the bulk of a sync, are written as bytes directly (render_bugs). Rendering is
lazy (per request) and a pure function of (entity, instant, switches), which keeps bodies
byte-identical for equal seeds and clocks. Cosmetic fields derive from each entity's `flavor` bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from orjson import Fragment

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.account import Account
from testio_pipeline.testio.simulator.bugs import SEVERITIES
from testio_pipeline.testio.simulator.catalog import Feature, Product, Section, Story
from testio_pipeline.testio.simulator.clock import iso_local
from testio_pipeline.testio.simulator.config import HOUR
from testio_pipeline.testio.simulator.encode import dumps
from testio_pipeline.testio.simulator.execution import (
    NOT_STARTED,
    feature_status,
    story_outcomes,
    story_version_id,
    tester_count,
)
from testio_pipeline.testio.simulator.render_bugs import BugRenderer
from testio_pipeline.testio.simulator.timeline import Test, TestFeature

Json = dict[str, Any]
CRITICAL = SEVERITIES.index("critical")
_REQUIREMENT_PARTS = {key: Fragment(dumps([r])) for key, r in names.REQUIREMENTS.items()}


def section_json(section: Section) -> Json:
    return {
        "id": section.id, "name": section.name, "connection": None,
        "test_templates": {"total": 20, "count": section.templates_count},
    }


def product_json(product: Product) -> Json:
    return {
        "id": product.id, "name": product.name, "description": product.description, "type": product.type,
        "default_section_id": product.default_section_id,
        "sections": [section_json(s) for s in product.sections],
        "sections_with_default": [section_json(s) for s in product.sections_with_default],
        "connection": None, "remote_device_testing": product.remote_device_testing,
    }


def environment_json(product: Product, env: int) -> Json:
    """A test's environment: staging (0) or production (1) of its product."""
    return {
        "id": 800 + product.index * 2 + env, "title": ("Staging", "Production")[env],
        "url": f"https://{('staging', 'www')[env]}.example.com/", "username": "", "password": "",
        "access": "", "proxy": False, "allow_orders": False, "access_type": "url",
        "environment_test_information": None, "binary_app": None,
    }


def story_json(story: Story, feature_id: int) -> Json:
    return {"id": story.id, "path": story.title, "title": story.title, "feature_id": feature_id}


def feature_json(feature: Feature, t: int, story_objects: bool) -> Json:
    """A catalog feature; stories are strings unless `includes[]=user_stories` is honoured."""
    stories: list[Any]
    if story_objects:
        stories = [story_json(s, feature.id) for s in feature.stories]
    else:
        stories = [s.title for s in feature.stories]
    return {
        "id": feature.id, "title": feature.title_at(t), "description": feature.description,
        "howtofind": feature.howtofind, "user_stories": stories,
    }


def test_feature_json(
    tf: TestFeature, bug_ids: list[int], testers: int, execution: str, story_objects: bool,
    api_2026: bool,
) -> Json:
    """A test's `features[]` item: the snapshot, plus the execution fields of the 2026 API."""
    stories: list[Any] | None
    if tf.stories is None:
        stories = None  # quirk 5.9: a test feature's user_stories may be null
    elif story_objects and api_2026:
        # the tests endpoint honours includes[]=user_stories since the 2026 API only
        stories = [
            {
                "id": o.story.id, "path": o.story.title, "title": o.story.title,
                "feature_id": tf.feature_id, "user_story_version_id": story_version_id(o.story),
                "execution_status": o.execution_status, "tested_by_count": o.tested_by_count,
                "bugs_found": len(o.bug_ids), "bug_ids": list(o.bug_ids),
            }
            for o in story_outcomes(tf.stories, execution, testers, bug_ids)
        ]
    else:
        stories = [s.title for s in tf.stories]
    body: Json = {
        "id": tf.id, "feature_id": tf.feature_id, "title": tf.title, "description": tf.description,
        "location": tf.howtofind, "howtofind": tf.howtofind, "target_idx": None,
        "enable_default": tf.enable_default, "enable_content": tf.enable_content,
        "enable_visual": tf.enable_visual, "custom_report_configurations": [], "user_stories": stories,
    }
    if api_2026:
        body.update({
            "execution_status": execution, "tester_count": testers,
            "bugs_found": len(bug_ids), "bug_ids": bug_ids,
        })
    return body


def analytics_json(
    outcomes: list[tuple[TestFeature, str]], total_bugs: int, testers: int, started: bool
) -> Json:
    """The single GET's `analytics` block (2026 docs), from each test feature's outcome."""
    tested = [(tf, status) for tf, status in outcomes if status != "not_tested"]

    def stories(items: list[tuple[TestFeature, str]]) -> int:
        return sum(len(tf.stories or ()) for tf, _ in items)

    def stories_with(status: str) -> int:
        # which stories pass or fail does not depend on the bugs, only on the feature's status
        return sum(
            o.execution_status == status
            for tf, feature in tested
            for o in story_outcomes(tf.stories or (), feature, 0, [])
        )

    return {
        "testers_count": testers + (2 if started else 0), "devices_count": testers + (1 if started else 0),
        "total_features": len(outcomes), "tested_features": len(tested),
        "passed_features": sum(status == "passed" for _, status in outcomes),
        "failed_features": sum(status == "failed" for _, status in outcomes),
        "total_user_stories": stories(outcomes), "tested_user_stories": stories(tested),
        "passed_user_stories": stories_with("passed"), "failed_user_stories": stories_with("failed"),
        "blocked_user_stories": stories_with("blocked"), "total_bugs": total_bugs,
    }


class Renderer:
    """Renders entities of one account; holds no clock, every call passes the instant."""

    def __init__(self, account: Account, *, api_2026: bool = True) -> None:
        self.account = account
        # False: the shapes of the 2025 API, without execution fields and analytics
        self.api_2026 = api_2026
        self._products: dict[int, Json] = {p.id: product_json(p) for p in account.products}
        self._sections: dict[int, Json] = {
            s.id: section_json(s) for p in account.products for s in p.sections_with_default
        }
        # parts that many tests share, serialised once and embedded as they are
        self._product_parts = {i: Fragment(dumps(p)) for i, p in self._products.items()}
        self._section_parts = {i: Fragment(dumps(s)) for i, s in self._sections.items()}
        self._environment_parts = {
            (p.id, env): Fragment(dumps(environment_json(p, env))) for p in account.products for env in (0, 1)
        }
        self._bugs = BugRenderer(account)

    def product(self, product: Product) -> Json:
        return self._products[product.id]

    def visible_rows(self, test: Test, t: int) -> range:
        """Bug rows of `test` reported by `t`."""
        reported = self.account.bugs.cols["reported_at"]
        # rows of a test are sorted by reported_at, so the visible ones are a prefix
        hi = test.bug_lo + int(reported[test.bug_lo:test.bug_hi].searchsorted(t, side="right"))
        return range(test.bug_lo, hi)

    def bugs(self, rows: np.ndarray | list[int], t: int) -> list[bytes]:
        """JSON bodies of bug rows at `t` (the hot path: see render_bugs)."""
        return self._bugs.bodies(rows, t)

    def keep_bug_bodies(self, t: int) -> None:
        self._bugs.keep_bodies(t)

    def test(self, test: Test, t: int, story_objects: bool, single: bool, rows: range | None = None) -> Json:
        """An exploratory test as listed; `single` adds the single GET's analytics.

        `rows` are the test's `visible_rows` at `t` when the caller has them already. Shared parts
        are orjson Fragments: serialise with `encode.dumps`, not `json`.
        """
        product, life, flavor, tz = test.product, test.life, test.flavor, test.product.tz_base
        status = test.status_at(t)
        started = status not in NOT_STARTED
        rows = self.visible_rows(test, t) if rows is None else rows
        cols = self.account.bugs.cols
        bug_ids = cols["id"][rows.start:rows.stop].tolist()
        slots = cols["tf_slot"][rows.start:rows.stop].tolist()
        authors = cols["author"][rows.start:rows.stop].tolist()
        severities = cols["severity"][rows.start:rows.stop].tolist()
        # bugs, their authors and whether one is critical per test feature, in one pass
        # (slot -1: a bug without one)
        slot_bugs: list[list[int]] = [[] for _ in test.features]
        slot_authors: list[set[int]] = [set() for _ in test.features]
        slot_critical = [False] * len(test.features)
        for bug_id, slot, author, severity in zip(bug_ids, slots, authors, severities):
            if slot >= 0:
                slot_bugs[slot].append(bug_id)
                slot_authors[slot].add(author)
                slot_critical[slot] = slot_critical[slot] or severity == CRITICAL
        features, outcomes = [], []
        for tf, mine, testers, critical in zip(test.features, slot_bugs, slot_authors, slot_critical):
            execution = feature_status(status, tf.id, tf.feature_id, mine, critical)
            testers_of_feature = tester_count(testers, tf.id, started)
            outcomes.append((tf, execution))
            features.append(
                test_feature_json(tf, mine, testers_of_feature, execution, story_objects, self.api_2026)
            )
        goal, goal_text = names.GOALS[flavor % len(names.GOALS)]
        instructions, instructions_text = names.INSTRUCTIONS[(flavor >> 3) % len(names.INSTRUCTIONS)]
        out_of_scope, out_of_scope_text = names.OUT_OF_SCOPE[(flavor >> 6) % len(names.OUT_OF_SCOPE)]
        launched = life.launched_at <= t
        requirement = names.REQUIREMENT_BY_PRODUCT_TYPE.get(product.type, "computer")
        reviews = [] if not launched else [{
            "status": "successful", "instruction_comment": None, "test_environment_comment": None,
            "feature_comment": None, "bug_type_comment": None,
            "reviewed_at": iso_local(life.launched_at - HOUR, tz),
        }]
        body: Json = {
            "id": test.id, "test_title": test.title, "title": test.title,
            "status": self.account.status_of(test, t),
            "review_status": "review_successful" if launched else None, "reviews": reviews,
            "testing_type": life.testing_type, "goal": goal, "goal_text": goal_text,
            "out_of_scope": out_of_scope, "out_of_scope_text": out_of_scope_text,
            "instructions": instructions, "instructions_text": instructions_text,
            "test_environment": self._environment_parts[product.id, (flavor >> 9) % 2],
            "features": features, "attachments": [],
            "requirements": _REQUIREMENT_PARTS[requirement],
            "report_language": "de" if (flavor >> 10) % 10 == 0 else "en",
            "section": self._section_parts[test.section_id], "product": self._product_parts[product.id],
            "enable_low": True, "enable_high": True, "enable_critical": True,
            "allow_device_clouds_test_scenario": False,
            "created_by": test.created_by, "submitted_by": test.submitted_by_at(t),
            "start_at": iso_local(life.start_at, tz), "end_at": iso_local(life.end_at, tz),
            "allowed_bug_types": ["default", "content", "visual"], "demo": False,
        }
        if single and self.api_2026:
            body["analytics"] = analytics_json(outcomes, len(bug_ids), len(set(authors)), started)
        return body
