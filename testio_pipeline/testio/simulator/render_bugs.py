"""JSON rendering of bugs in the shape of reference §3.6, from rows of the bug table.

The state at an instant (forwarded until decided, then accepted / auto-accepted / rejected)
comes from the row's drawn life; everything cosmetic (title, steps, device, ...) from `flavor`.

The simulator's hot path (a full sync of `large` asks for ~223k bugs): a request's rows are read
from the table one column at a time rather than one cell at a time, and the parts that many bugs
share (authors, devices) are serialised once and embedded as orjson Fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from orjson import Fragment

from testio_pipeline.testio.simulator import names
from testio_pipeline.testio.simulator.bugs import (
    FATE_AUTO,
    FATE_REJECTED,
    SEVERITIES,
    STATE_FORWARDED,
    TF_MISSING,
    TF_PRESENT,
)
from testio_pipeline.testio.simulator.catalog import Product
from testio_pipeline.testio.simulator.clock import iso_local
from testio_pipeline.testio.simulator.config import BUG_BLANK_RESULT_RATE, BUG_STEPS_AS_STRING_RATE, HOUR
from testio_pipeline.testio.simulator.encode import dumps, fast_dumps
from testio_pipeline.testio.simulator.timeline import TestFeature

if TYPE_CHECKING:
    from testio_pipeline.testio.simulator.account import Account

Json = dict[str, Any]
# the columns a bug's JSON needs, in the order `BugRenderer.bug_json` takes them
COLUMNS = ("id", "test_index", "tf_slot", "tf_mode", "severity", "fate", "reported_at", "decided_at",
           "author", "known", "exported", "flavor")


def bug_title(flavor: int, tf: TestFeature | None, product: Product) -> str:
    """A bug's title, named after its feature (the product when the bug has no test feature)."""
    subject = tf.title.split("] ", 1)[-1] if tf is not None else product.name
    return names.BUG_TITLE_TEMPLATES[(flavor >> 24) % len(names.BUG_TITLE_TEMPLATES)].format(f=subject)


def status_name(state: int) -> str:
    if state == STATE_FORWARDED:
        return "forwarded"
    return "rejected" if state == FATE_REJECTED else "accepted"


def _steps(flavor: int) -> list[str] | str:
    steps = [names.BUG_STEPS[(flavor >> (4 * i)) % len(names.BUG_STEPS)] for i in range(2 + flavor % 4)]
    if (flavor >> 20) % 1000 < BUG_STEPS_AS_STRING_RATE * 1000:
        # the docs show steps as one string; the live API sends a list (accept both)
        return "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps))
    return steps


def _results(flavor: int) -> tuple[str | None, str | None]:
    expected: str | None = names.EXPECTED_RESULTS[(flavor >> 5) % len(names.EXPECTED_RESULTS)]
    actual: str | None = names.ACTUAL_RESULTS[(flavor >> 7) % len(names.ACTUAL_RESULTS)]
    if (flavor >> 10) % 1000 < BUG_BLANK_RESULT_RATE * 1000:
        # quirk 5.9: null, "" or whitespace-only
        blank = names.BLANK_RESULTS[(flavor >> 13) % len(names.BLANK_RESULTS)]
        if flavor & 1:
            expected = blank
        else:
            actual = blank
    return expected, actual


def device_json(device: tuple) -> list[Json]:
    """A bug's `devices`: one entry of names.DEVICES."""
    return [{
        "id": device[0], "category": {"name": device[1]}, "vendor": {"name": device[2]},
        "devices": {"name": device[3]}, "operating_system": {"id": device[4], "name": device[5]},
        "browsers": [{"name": device[6]}],
    }]


_DEVICES = tuple(Fragment(dumps(device_json(d))) for d in names.DEVICES)


class BugRenderer:
    """Renders bug rows of one account; holds no clock, every call passes the instant.

    A bug's JSON changes with the instant only when the bug is decided (status, export,
    rejection comment), so with `keep_bodies` every body is kept per row and decision state
    and served again from memory, byte for byte what rendering would give.
    """

    def __init__(self, account: Account) -> None:
        self.account = account
        self._authors = [Fragment(dumps({"name": name})) for name in account.testers]
        # kept bodies by row: index 0 before the bug is decided, 1 after; None until enabled
        self._kept: tuple[list[bytes | None], list[bytes | None]] | None = None

    def keep_bodies(self, t: int) -> None:
        """Render every bug as it is at `t` and keep the bodies from now on (~1 KB a bug).

        For benchmarks: over HTTP the simulator shares the machine's cores with the sync it
        serves, and rendering is most of its CPU, which a real API spends on its own servers.
        """
        rows = len(self.account.bugs.cols["id"])
        self._kept = ([None] * rows, [None] * rows)
        self.bodies(np.arange(rows), t)

    def bodies(self, rows: np.ndarray | list[int], t: int) -> list[bytes]:
        """The JSON of each bug row as the API shows it at instant `t`."""
        if self._kept is None:
            return self._render(rows, t)
        rows = np.asarray(rows, dtype=np.int64)
        decided = (self.account.bugs.cols["decided_at"][rows] <= t).tolist()
        row_list = rows.tolist()
        kept = self._kept
        # rows past the kept ones are bugs `advance` generated since: rendered every time
        size = len(kept[0])
        out = [kept[d][row] if row < size else None for row, d in zip(row_list, decided)]
        missing = [i for i, body in enumerate(out) if body is None]
        if missing:
            # kept bodies are copied to their exact size (see `encode`)
            for i, body in zip(missing, self._render(rows[missing], t, dumps)):
                out[i] = body
                if row_list[i] < size:
                    kept[decided[i]][row_list[i]] = body
        return out

    def _render(
        self, rows: np.ndarray | list[int], t: int, encode: Callable[[Any], bytes] = fast_dumps
    ) -> list[bytes]:
        cols = self.account.bugs.cols
        values = [cols[name][rows].tolist() for name in COLUMNS]
        # a body sent right away needs no exact-size copy: `fast_dumps` by default
        return [encode(self.bug_json(t, *row)) for row in zip(*values)]

    def bug_json(
        self, t: int, bug_id: int, test_index: int, tf_slot: int, tf_mode: int, severity: int, fate: int,
        reported_at: int, decided_at: int, author: int, known: bool, exported: bool, flavor: int,
    ) -> Json:
        """One bug at instant `t`, from the values of its row (see COLUMNS)."""
        test = self.account.tests[test_index]
        product = test.product
        decided = t >= decided_at
        state = fate if decided else STATE_FORWARDED
        tz = product.tz_base
        tf = test.features[tf_slot] if tf_mode == TF_PRESENT else None
        expected, actual = _results(flavor)
        body: Json = {
            "id": bug_id, "title": bug_title(flavor, tf, product),
            "severity": SEVERITIES[severity],
            "status": status_name(state), "auto_accepted": state == FATE_AUTO, "known": known,
            "exported_at": iso_local(decided_at + HOUR, tz) if decided and exported else None,
            "language": "de" if (flavor >> 28) % 10 == 0 else "en",
            "location": names.LOCATIONS[(flavor >> 3) % len(names.LOCATIONS)],
            "steps": _steps(flavor), "expected_result": expected, "actual_result": actual,
            "reported_at": iso_local(reported_at, tz),
            "author": self._authors[author],
            "test": {"id": test.id, "title": test.title},
        }
        if tf_mode != TF_MISSING:
            # quirk 5.9: the link is sometimes absent, sometimes null
            body["test_feature"] = {"id": tf.id, "feature_id": tf.feature_id} if tf is not None else None
        body["feature"] = None if tf is None else {
            "id": tf.feature_id, "title": tf.title, "custom_report_configurations": [],
        }
        body["product"] = {"id": product.id, "name": product.name}
        body["devices"] = _DEVICES[(flavor >> 15) % len(_DEVICES)]
        body["attachments"] = [
            {"id": bug_id * 4 + i, "url": f"https://upload.test.io/attachments/{bug_id}-{i}.png"}
            for i in range((flavor >> 30) % 3)
        ]
        comments = []
        if state == FATE_REJECTED:
            reason = names.REJECT_REASONS[(flavor >> 18) % len(names.REJECT_REASONS)]
            # a rejected bug carries the reason's default comment (reference §3.6)
            comments.append(
                {"id": bug_id * 2 + 1, "body": f"Rejected: {reason[2]}", "author": {"name": "TestIO"}}
            )
        body["comments"] = comments
        return body
