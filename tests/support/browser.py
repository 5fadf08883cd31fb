"""A real browser for the end-to-end tests: Chromium driven by Playwright, a fresh profile per test
(the ``browser_page`` fixture), and numbered screenshots of each step (:class:`Steps`) under
``test-artifacts/browser/``, to look at when a step fails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gunicorn import ROOT
from tests.support.servers import require_component

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # reported by require_browser
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"


def require_browser() -> None:
    """Skip without the playwright package or Chromium; under CI=true, fail instead."""
    require_component(sync_playwright is not None, "the playwright Python package")
    require_component(CHROMIUM.is_file(), f"Chromium at {CHROMIUM}")


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Page]:
    """A fresh profile per test: apps on 127.0.0.1 would otherwise share cookies."""
    require_browser()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 900, "height": 640})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


class Steps:
    """Numbered screenshots of one walk through an app, in ``ARTIFACTS / name``."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.directory = ARTIFACTS / name
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self.count = 0

    def shot(self, step: str) -> None:
        self.count += 1
        self.page.screenshot(path=self.directory / f"{self.count:02d}-{step}.png", full_page=True)
