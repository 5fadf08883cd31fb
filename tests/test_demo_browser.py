"""The running demo's MFA page in a real browser (Chromium, driven by Playwright): log in, open
/admin, type the code on the provider's second-step page, land back on /admin showing MFA.

Screenshots of each step go to ``test-artifacts/browser/demo-mfa/``, to look at when a step fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.servers import require_component
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, Steps
from tests.test_demo import Demo, ports, start_demo  # noqa: F401 - the demo's fixtures, shared

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # reported by require_component below
    sync_playwright = None

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Page]:
    require_component(sync_playwright is not None, "the playwright Python package")
    require_component(CHROMIUM.is_file(), f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 900, "height": 640})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def test_the_demo_s_admin_page_asks_for_the_second_factor_in_a_browser(
        browser_page: Page, start_demo: Callable[..., Demo], ports: dict[str, int]) -> None:  # noqa: F811 - the fixtures above
    page, idp = browser_page, f"http://127.0.0.1:{ports['DEMO_IDP_PORT']}/"
    url = start_demo().wait_for_url()
    steps = Steps(page, "demo-mfa")

    page.goto(url + "/")
    page.click("text=Log in")
    _log_in(page, idp, "jane.doe")
    page.wait_for_url(url + "/profile")
    page.click("nav >> text=Home")
    steps.shot("home")

    page.click('a[href="/admin"]')  # the link on the home page
    _log_in(page, idp, "jane.doe")  # the provider's policy for MFA: the password again, then the code
    expect(page.locator('input[name="otp"]')).to_be_visible()
    assert page.url.startswith(idp)
    steps.shot("one-time-code")
    page.fill('input[name="otp"]', "123456")
    page.click('button[type="submit"]')

    page.wait_for_url(url + "/admin")
    expect(page.locator("h1")).to_have_text("Admin")
    expect(page.locator(".amr")).to_have_text("mfa")
    expect(page.locator("body")).to_contain_text("You signed in with a second factor (MFA)")
    steps.shot("admin-with-mfa")


def _log_in(page: Page, idp: str, user: str) -> None:
    expect(page.locator('input[name="password"]')).to_be_visible()
    assert page.url.startswith(idp)
    page.fill('input[name="login"]', user)
    page.fill('input[name="password"]', "any password")
    page.click('button[type="submit"]')
