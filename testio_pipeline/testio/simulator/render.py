"""JSON rendering of products, features, tests and bugs in the shapes of reference §3.

Objects become plain dicts here; `api.py` serialises them. Rendering is lazy (per request) and
a pure function of (entity, instant, switches), which keeps bodies byte-identical for equal
seeds and clocks. Cosmetic fields derive from each entity's `flavor` bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.account import Account
from testio_pipeline.testio.simulator.bugs import FATE_AUTO, FATE_REJECTED, SEVERITIES, STATE_FORWARDED, TF_MISSING, TF_PRESENT
from testio_pipeline.testio.simulator.catalog import Feature, Product, Section, Story
from testio_pipeline.testio.simulator.clock import iso_local
from testio_pipeline.testio.simulator.config import BUG_BLANK_RESULT_RATE, BUG_STEPS_AS_STRING_RATE, HOUR
from testio_pipeline.testio.simulator.timeline import Test, TestFeature

Json = dict[str, Any]
NOT_STARTED = frozenset({"initialized", "waiting", "cancelled"})
_REQUIREMENTS = {
    "computer": {"id": 1, "category": {"id": 1, "key": "computer", "name": "Computers"},
                 "operating_system": {"id": 6, "key": "windows", "name": "Windows"},
                 "min_operating_system_version": {"id": 198, "name": "10"}, "max_operating_system_version": None,
                 "browsers": [{"id": 2, "name": "Chrome", "key": "chrome"}], "devices": [], "input_devices": [],
                 "vendor": None, "browser_based": True, "gaming": False},
    "ios": {"id": 2, "category": {"id": 2, "key": "smartphone", "name": "Smartphones"},
            "operating_system": {"id": 8, "key": "ios", "name": "iOS"},
            "min_operating_system_version": {"id": 301, "name": "16"}, "max_operating_system_version": None,
            "browsers": [], "devices": [], "input_devices": [], "vendor": None, "browser_based": False, "gaming": False},
    "android": {"id": 3, "category": {"id": 2, "key": "smartphone", "name": "Smartphones"},
                "operating_system": {"id": 9, "key": "android", "name": "Android"},
                "min_operating_system_version": {"id": 402, "name": "12"}, "max_operating_system_version": None,
                "browsers": [], "devices": [], "input_devices": [], "vendor": None, "browser_based": False, "gaming": False},
}


def section_json(section: Section) -> Json:
    return {"id": section.id, "name": section.name, "connection": None,
            "test_templates": {"total": 20, "count": section.templates_count}}


def product_json(product: Product) -> Json:
    return {
        "id": product.id, "name": product.name, "description": product.description, "type": product.type,
        "default_section_id": product.default_section_id,
        "sections": [section_json(s) for s in product.sections],
        "sections_with_default": [section_json(s) for s in product.sections_with_default],
        "connection": None, "remote_device_testing": product.remote_device_testing,
    }


def story_json(story: Story, feature_id: int) -> Json:
    return {"id": story.id, "path": story.title, "title": story.title, "feature_id": feature_id}


def feature_json(feature: Feature, t: int, story_objects: bool) -> Json:
    stories: list[Any] = (
        [story_json(s, feature.id) for s in feature.stories] if story_objects else [s.title for s in feature.stories]
    )
    return {"id": feature.id, "title": feature.title_at(t), "description": feature.description,
            "howtofind": feature.howtofind, "user_stories": stories}


def bug_title(flavor: int, tf: TestFeature | None, product: Product) -> str:
    """A bug's title, named after its feature (the product when the bug has no test feature)."""
    subject = tf.title.split("] ", 1)[-1] if tf is not None else product.name
    return names.BUG_TITLE_TEMPLATES[(flavor >> 24) % len(names.BUG_TITLE_TEMPLATES)].format(f=subject)


class Renderer:
    """Renders entities of one account; holds no clock, every call passes the instant."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self._products: dict[int, Json] = {p.id: product_json(p) for p in account.products}
        self._sections: dict[int, Json] = {
            s.id: section_json(s) for p in account.products for s in p.sections_with_default
        }

    def product(self, product: Product) -> Json:
        return self._products[product.id]

    def visible_rows(self, test: Test, t: int) -> range:
        reported = self.account.bugs.cols["reported_at"]
        # rows of a test are sorted by reported_at, so the visible ones are a prefix
        hi = test.bug_lo + int(np.searchsorted(reported[test.bug_lo:test.bug_hi], t, side="right"))
        return range(test.bug_lo, hi)

    def test(self, test: Test, t: int, story_objects: bool, single: bool) -> Json:
        product = test.product
        life = test.life
        status = test.status_at(t)
        tz = product.tz_base
        flavor = test.flavor
        rows = self.visible_rows(test, t)
        cols = self.account.bugs.cols
        bug_ids = cols["id"][rows.start:rows.stop].tolist()
        slots = cols["tf_slot"][rows.start:rows.stop].tolist()
        authors = cols["author"][rows.start:rows.stop].tolist()
        started = status not in NOT_STARTED
        features = [
            self._test_feature(tf, slot, bug_ids, slots, authors, started, status, story_objects)
            for slot, tf in enumerate(test.features)
        ]
        goal, goal_text = names.GOALS[flavor % len(names.GOALS)]
        instructions, instructions_text = names.INSTRUCTIONS[(flavor >> 3) % len(names.INSTRUCTIONS)]
        oos, oos_text = names.OUT_OF_SCOPE[(flavor >> 6) % len(names.OUT_OF_SCOPE)]
        launched = life.launched_at <= t
        env = (flavor >> 9) % 2
        body: Json = {
            "id": test.id, "test_title": test.title, "title": test.title,
            "status": self.account.status_of(test, t),
            "review_status": "review_successful" if launched else None,
            "reviews": [{"status": "successful", "instruction_comment": None, "test_environment_comment": None,
                         "feature_comment": None, "bug_type_comment": None,
                         "reviewed_at": iso_local(life.launched_at - HOUR, tz)}] if launched else [],
            "testing_type": life.testing_type, "goal": goal, "goal_text": goal_text,
            "out_of_scope": oos, "out_of_scope_text": oos_text,
            "instructions": instructions, "instructions_text": instructions_text,
            "test_environment": {
                "id": 800 + product.index * 2 + env, "title": ("Staging", "Production")[env],
                "url": f"https://{('staging', 'www')[env]}.example.com/", "username": "", "password": "",
                "access": "", "proxy": False, "allow_orders": False, "access_type": "url",
                "environment_test_information": None, "binary_app": None,
            },
            "features": features, "attachments": [], "requirements": [self._requirement(product)],
            "report_language": "de" if (flavor >> 10) % 10 == 0 else "en",
            "section": self._sections[test.section_id], "product": self._products[product.id],
            "enable_low": True, "enable_high": True, "enable_critical": True,
            "allow_device_clouds_test_scenario": False,
            "created_by": test.created_by, "submitted_by": test.submitted_by_at(t),
            "start_at": iso_local(life.start_at, tz), "end_at": iso_local(life.end_at, tz),
            "allowed_bug_types": ["default", "content", "visual"], "demo": False,
        }
        if single:
            body["analytics"] = self._analytics(features, len(bug_ids), len(set(authors)), started)
        return body

    @staticmethod
    def _requirement(product: Product) -> Json:
        kind = {"mobile_app_ios": "ios", "mobile_app_android": "android"}.get(product.type, "computer")
        return _REQUIREMENTS[kind]

    @staticmethod
    def _test_feature(
        tf: TestFeature, slot: int, bug_ids: list[int], slots: list[int], authors: list[int],
        started: bool, status: str, story_objects: bool,
    ) -> Json:
        mine = [b for b, s in zip(bug_ids, slots) if s == slot]
        testers = len({a for a, s in zip(authors, slots) if s == slot}) + (tf.id % 3 if started else 0)
        if not started or (status == "running" and not mine):
            execution = "not_tested"
        else:
            execution = "failed" if mine else "passed"
        stories: list[Any] | None
        if tf.stories is None:
            stories = None
        elif story_objects:
            stories = [
                {"id": s.id, "path": s.title, "title": s.title, "feature_id": tf.feature_id,
                 "user_story_version_id": s.id * 3 + 1,
                 "execution_status": "not_tested" if execution == "not_tested" else "passed",
                 "tested_by_count": testers, "bugs_found": 0, "bug_ids": []}
                for s in tf.stories
            ]
        else:
            stories = [s.title for s in tf.stories]
        return {
            "id": tf.id, "feature_id": tf.feature_id, "title": tf.title, "description": tf.description,
            "location": tf.howtofind, "howtofind": tf.howtofind, "target_idx": None,
            "enable_default": tf.enable_default, "enable_content": tf.enable_content,
            "enable_visual": tf.enable_visual, "custom_report_configurations": [], "user_stories": stories,
            "execution_status": execution, "tester_count": testers, "bugs_found": len(mine), "bug_ids": mine,
        }

    @staticmethod
    def _analytics(features: list[Json], total_bugs: int, testers: int, started: bool) -> Json:
        def stories(f: Json) -> int:
            return len(f["user_stories"] or ())

        tested = [f for f in features if f["execution_status"] != "not_tested"]
        return {
            "testers_count": testers + (2 if started else 0), "devices_count": testers + (1 if started else 0),
            "total_features": len(features), "tested_features": len(tested),
            "passed_features": sum(f["execution_status"] == "passed" for f in features),
            "failed_features": sum(f["execution_status"] == "failed" for f in features),
            "total_user_stories": sum(stories(f) for f in features),
            "tested_user_stories": sum(stories(f) for f in tested),
            "passed_user_stories": sum(stories(f) for f in tested), "failed_user_stories": 0,
            "blocked_user_stories": 0, "total_bugs": total_bugs,
        }

    def bug(self, row: int, t: int) -> Json:
        account = self.account
        cols = account.bugs.cols
        test = account.tests[int(cols["test_index"][row])]
        bug_id = int(cols["id"][row])
        flavor = int(cols["flavor"][row])
        decided = t >= int(cols["decided_at"][row])
        state = int(cols["fate"][row]) if decided else STATE_FORWARDED
        tz = test.product.tz_base
        tf_mode = int(cols["tf_mode"][row])
        tf = test.features[int(cols["tf_slot"][row])] if tf_mode == TF_PRESENT else None
        steps: list[str] | str = [names.BUG_STEPS[(flavor >> (4 * i)) % len(names.BUG_STEPS)] for i in range(2 + flavor % 4)]
        if (flavor >> 20) % 1000 < BUG_STEPS_AS_STRING_RATE * 1000:
            # the docs show steps as one string; the live API sends a list (accept both)
            steps = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps))
        expected: str | None = names.EXPECTED_RESULTS[(flavor >> 5) % len(names.EXPECTED_RESULTS)]
        actual: str | None = names.ACTUAL_RESULTS[(flavor >> 7) % len(names.ACTUAL_RESULTS)]
        if (flavor >> 10) % 1000 < BUG_BLANK_RESULT_RATE * 1000:
            blank = names.BLANK_RESULTS[(flavor >> 13) % len(names.BLANK_RESULTS)]
            if flavor & 1:
                expected = blank
            else:
                actual = blank
        device = names.DEVICES[(flavor >> 15) % len(names.DEVICES)]
        comments = []
        if state == FATE_REJECTED:
            reason = names.REJECT_REASONS[(flavor >> 18) % len(names.REJECT_REASONS)]
            comments.append({"id": bug_id * 2 + 1, "body": f"Rejected: {reason[2]}", "author": {"name": "TestIO"}})
        body: Json = {
            "id": bug_id,
            "title": bug_title(flavor, tf, test.product),
            "severity": SEVERITIES[int(cols["severity"][row])],
            "status": "forwarded" if state == STATE_FORWARDED else ("rejected" if state == FATE_REJECTED else "accepted"),
            "auto_accepted": state == FATE_AUTO,
            "known": bool(cols["known"][row]),
            "exported_at": iso_local(int(cols["decided_at"][row]) + HOUR, tz) if decided and bool(cols["exported"][row]) else None,
            "language": "de" if (flavor >> 28) % 10 == 0 else "en",
            "location": names.LOCATIONS[(flavor >> 3) % len(names.LOCATIONS)],
            "steps": steps, "expected_result": expected, "actual_result": actual,
            "reported_at": iso_local(int(cols["reported_at"][row]), tz),
            "author": {"name": account.testers[int(cols["author"][row])]},
            "test": {"id": test.id, "title": test.title},
        }
        if tf_mode != TF_MISSING:
            body["test_feature"] = {"id": tf.id, "feature_id": tf.feature_id} if tf is not None else None
        body["feature"] = {"id": tf.feature_id, "title": tf.title, "custom_report_configurations": []} if tf else None
        body["product"] = {"id": test.product.id, "name": test.product.name}
        body["devices"] = [{"id": device[0], "category": {"name": device[1]}, "vendor": {"name": device[2]},
                            "devices": {"name": device[3]}, "operating_system": {"id": device[4], "name": device[5]},
                            "browsers": [{"name": device[6]}]}]
        body["attachments"] = [{"id": bug_id * 4 + i, "url": f"https://upload.test.io/attachments/{bug_id}-{i}.png"}
                               for i in range((flavor >> 30) % 3)]
        body["comments"] = comments
        return body
