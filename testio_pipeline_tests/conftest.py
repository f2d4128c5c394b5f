"""Guards of the test suite as a whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    # a deployment's accounts file in the shell must not partition the definitions under
    # test; the tests of accounts name their files themselves
    os.environ.pop("TESTIO_ACCOUNTS_FILE", None)
    # the definitions pick up `accounts.yaml` from the working directory (README, "Many
    # accounts"): with one there every asset is partitioned, and the suite, written for the
    # single-account definitions, would fail by the hundred instead of saying why
    if (ROOT / "accounts.yaml").exists():
        pytest.exit(
            f"{ROOT / 'accounts.yaml'} partitions every asset by account; the tests expect the "
            "single-account definitions. Move it elsewhere and point TESTIO_ACCOUNTS_FILE at it "
            "when you run the pipeline.",
            returncode=4,
        )
