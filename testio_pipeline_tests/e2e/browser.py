"""Headless Chromium from Debian's package, driven by playwright (never `playwright install`:
the browser comes from `apt-get install chromium`), and the page helpers the e2e test uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .conftest import ARTIFACTS, DagsterDev

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1600, "height": 1000}

# true when the element is what a user sees at its own centre: on screen, not scrolled out of
# the graph and not under the page header
# the topmost element at the label's centre, the header's loading bar left out: it hangs 2 px
# below the header while statuses refresh and covers a node drawn right at the graph's top
# edge (the ingest lineage is that tall since test_feature_stories and its analytics)
_SEEN_AT_CENTRE = """
el => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return false;
  const stack = document.elementsFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  const top = stack.find(e => !String(e.className).includes("IndeterminateLoadingBar"));
  return top !== undefined && (el === top || el.contains(top) || top.contains(el));
}
"""


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`; "
            "scripts/setup does it when run as root)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def open_page(page: Page, dev: DagsterDev, path: str, expect_text: str) -> None:
    """Go to `path` and wait until `expect_text` is rendered; on failure, screenshot the page
    and fail with its text and the server log."""
    page.goto(f"{dev.url}{path}", wait_until="domcontentloaded", timeout=PAGE_TIMEOUT_MS)
    try:
        page.get_by_text(expect_text, exact=False).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"failed{path.replace('/', '_')}.png"))
        dev.fail(f"{path} never showed {expect_text!r}; page: {page.inner_text('body')[:2000]}")


def drawn_in_view(page: Page, name: str) -> bool:
    """Whether a label `name` can be seen (the asset graph leaves off-screen nodes out of the
    DOM or under the header, so presence in the DOM proves nothing)."""
    labels = page.get_by_text(name, exact=True)
    return any(labels.nth(i).evaluate(_SEEN_AT_CENTRE) for i in range(labels.count()))


def zoom_out_until_shown(page: Page, names: set[str], attempts: int = 10) -> list[str]:
    """Click the graph's zoom-out button until every name is drawn in view; the names that
    never were."""
    zoom_out = page.locator('button:has([aria-label="zoom_out"])').first
    missing: list[str] = []
    for _ in range(attempts):
        page.wait_for_timeout(800)
        missing = sorted(name for name in names if not drawn_in_view(page, name))
        if not missing:
            zoom_out.click()  # one step of margin around the graph for the screenshot
            page.wait_for_timeout(800)
            return []
        zoom_out.click()
    return missing
