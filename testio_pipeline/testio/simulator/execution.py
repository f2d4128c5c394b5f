"""Execution outcomes of the 2026 API: what the crowd's run of each test feature and story gave.

A pure function of the test's status and the bugs visible at the instant, shared by the
renderer and the ground truth (both simulator-side; the pipeline never sees this module):

- a test feature is `not_tested` before its test starts, while it runs without a bug on the
  feature, and when its test was cancelled before starting; once executed it is `blocked` for
  a fixed share of test features (the environment was down: `BLOCKED_EVERY`), `failed` when a
  critical bug was found on it or, for a feature with bugs, by its catalog feature's own
  fragility (some features fail cycle after cycle, others rarely), else `passed`;
- a story of a failed feature fails when it is one of the feature's weak stories (story id
  divisible by `WEAK_STORY_EVERY`; the first story when there is none): the same stories keep
  failing across cycles; stories of a passed feature pass, of a blocked feature are blocked;
- the feature's bugs go to its stories: to the failing ones when the feature failed, else
  round-robin by bug id; `tested_by_count` is the feature's tester count once executed.
"""

from __future__ import annotations

from dataclasses import dataclass

from testio_pipeline.testio.simulator.catalog import Story

NOT_STARTED = frozenset({"initialized", "waiting", "cancelled"})
# one test feature in BLOCKED_EVERY (by id) was blocked once executed
BLOCKED_EVERY = 13
# a catalog feature's fragility: the percentage chance that an execution with bugs fails,
# spread over 10 .. 90 % by feature id
FRAGILITY_STEPS = 9
WEAK_STORY_EVERY = 4


@dataclass(frozen=True, slots=True)
class StoryOutcome:
    story: Story
    execution_status: str
    tested_by_count: int
    bug_ids: tuple[int, ...]


def feature_status(
    test_status: str, tf_id: int, feature_id: int, bug_ids: list[int], critical: bool
) -> str:
    """`execution_status` of a test feature whose visible bugs are `bug_ids` (`critical`:
    one of them is critical)."""
    if test_status in NOT_STARTED or (test_status == "running" and not bug_ids):
        return "not_tested"
    if tf_id % BLOCKED_EVERY == 0:
        return "blocked"
    fragility = 10 + 10 * (feature_id % FRAGILITY_STEPS)
    if critical or (bug_ids and (tf_id * 7919) % 100 < fragility):
        return "failed"
    return "passed"


def tester_count(authors: set[int], tf_id: int, started: bool) -> int:
    """`tester_count` of a test feature: its bug authors plus testers who found nothing."""
    return len(authors) + (tf_id % 3 if started else 0)


def story_outcomes(
    stories: tuple[Story, ...], status: str, testers: int, bug_ids: list[int]
) -> list[StoryOutcome]:
    """Each story's outcome inside a test feature with `status`, `testers` and `bug_ids`."""
    if not stories:
        return []
    tested_by = 0 if status == "not_tested" else testers
    failing = [s for s in stories if s.id % WEAK_STORY_EVERY == 0] or [stories[0]]
    if status == "failed":
        statuses = {s.id: "failed" if s in failing else "passed" for s in stories}
        receivers = failing
    else:
        statuses = {s.id: status for s in stories}
        receivers = list(stories)
    bugs: dict[int, list[int]] = {s.id: [] for s in stories}
    for bug_id in bug_ids:
        bugs[receivers[bug_id % len(receivers)].id].append(bug_id)
    return [StoryOutcome(s, statuses[s.id], tested_by, tuple(bugs[s.id])) for s in stories]


def story_version_id(story: Story) -> int:
    """The id of the story's current version (the API versions stories; ours never change)."""
    return story.id * 3 + 1
