"""`pytest -m live`: the real TestIO API has the shapes and quirks the simulator assumes.

Needs TESTIO_API_TOKEN (and optionally TESTIO_API_BASE_URL, TESTIO_LIVE_PRODUCT_ID). Read-only,
a dozen requests against one product. Deselected by default (pyproject's addopts).
"""

from __future__ import annotations

import os

import pytest

from testio_pipeline.testio.probe import probe
from testio_pipeline.testio.settings import DEFAULT_BASE_URL

pytestmark = pytest.mark.live


def test_the_real_api_has_every_shape_and_quirk_the_simulator_assumes() -> None:
    token = os.environ.get("TESTIO_API_TOKEN")
    if not token:
        pytest.fail("the live tests need TESTIO_API_TOKEN", pytrace=False)
    product = os.environ.get("TESTIO_LIVE_PRODUCT_ID")
    report = probe(
        os.environ.get("TESTIO_API_BASE_URL", DEFAULT_BASE_URL), token,
        int(product) if product else None,
    )
    print(report.text())
    assert not report.differences, report.text()
