"""The running demo's MFA page in a real browser (Chromium, driven by Playwright): log in, open
/admin, type the code on the provider's second-step page, land back on /admin showing MFA.

Screenshots of each step go to ``test-artifacts/browser/demo-mfa/``, to look at when a step fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from tests.support.browser import Steps
from tests.support.browser import browser_page as browser_page  # fixtures, re-exported for pytest
from tests.support.demo import Demo
from tests.support.demo import ports as ports
from tests.support.demo import start_demo as start_demo

with contextlib.suppress(ImportError):  # reported by browser_page
    from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_demo_s_admin_page_asks_for_the_second_factor_in_a_browser(
        browser_page: Page, start_demo: Callable[..., Demo], ports: dict[str, int]) -> None:
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
