"""A real browser (Chromium, driven by Playwright) through both example apps under gunicorn.

Login on the provider's page, the profile, the API's messages, a silent refresh once the short-lived
access token has expired, and logout; a login cancelled at the provider, its error page as a user
reads it, and its "Try again". Each step leaves a screenshot in
``test-artifacts/browser/<app>/NN-step.png``, to look at when a step fails.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from auth0_wsgi import Auth0Middleware
from tests.support.browser import Steps, require_browser
from tests.support.browser import browser_page as browser_page  # a fixture, re-exported for pytest
from tests.support.examples import EXAMPLES, MESSAGES, example_api, example_app, example_client
from tests.support.real_idp import MFA_POLICY, Client, LocalIdP, require_local_idp
from tests.support.servers import free_port, serve

with contextlib.suppress(ImportError):  # reported by require_browser
    from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TTL = 4  # seconds an access token lives at the provider
LEEWAY = 1  # the app refreshes when the token expires within this many seconds


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {name: free_port() for name in (*EXAMPLES, "api")}


@pytest.fixture(scope="module")
def idp(ports: dict[str, int]) -> Iterator[LocalIdP]:
    require_browser()
    require_local_idp()
    clients = [example_client(name, ports[name]) for name in EXAMPLES]
    with LocalIdP(clients, access_token_ttl=TTL) as provider:
        provider.clients_by_name = dict(zip(EXAMPLES, clients, strict=True))
        yield provider


@pytest.fixture(scope="module")
def api_url(idp: LocalIdP, ports: dict[str, int]) -> Iterator[str]:
    with example_api(idp, ports["api"]) as url:
        yield url


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_login_messages_refresh_and_logout_in_a_browser(name: str, idp: LocalIdP, ports: dict[str, int],
                                                        api_url: str, browser_page: Page) -> None:
    page = browser_page
    with example_app(name, idp, idp.clients_by_name[name], ports[name], api_url,
                     ini="examples/pyramid_app/development.ini" if name == "pyramid" else None,
                     refresh_leeway=str(LEEWAY)) as url:
        steps = Steps(page, name)
        page.goto(url + "/profile")
        _expect_login_form(page, idp)
        steps.shot("login-page")

        page.fill('input[name="login"]', "jane.doe")
        page.fill('input[name="password"]', "any password")
        steps.shot("login-filled")
        page.click('button[type="submit"]')
        page.wait_for_url(url + "/profile")
        expect(page.locator(".name")).to_have_text("Jane Doe")
        expect(page.locator(".email")).to_have_text("jane.doe@example.com")
        steps.shot("profile")

        page.click("nav >> text=Messages")
        page.wait_for_url(url + "/messages")
        _expect_messages(page)
        first_token = page.locator(".fingerprint").inner_text()
        steps.shot("messages")

        stats = idp.stats()
        time.sleep(TTL + 0.5)  # real time (the real provider's): the access token has now expired there
        page.reload()
        assert page.url == url + "/messages"  # no detour through the provider's login
        _expect_messages(page)
        assert page.locator(".fingerprint").inner_text() != first_token
        after = idp.stats()
        assert after["refresh_token"] > stats["refresh_token"]
        assert after["authorization_code"] == stats["authorization_code"]
        steps.shot("messages-after-refresh")

        page.click("nav >> text=Log out")
        # the provider ends its session and returns to the app's public home page
        page.wait_for_url(url + "/")
        expect(page.locator("body")).to_contain_text("not logged in")
        page.goto(url + "/messages")
        _expect_login_form(page, idp)
        steps.shot("logged-out-login-again")


def test_a_cancelled_login_shows_a_readable_page_whose_try_again_goes_back(
        idp: LocalIdP, ports: dict[str, int], api_url: str, browser_page: Page) -> None:
    page = browser_page
    blocked: list[str] = []  # what the page's Content-Security-Policy refused, as the console says
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    callbacks: list[dict[str, str]] = []
    page.on("response", lambda response: callbacks.append(response.headers)
            if "/callback?" in response.url else None)
    with example_app("pyramid", idp, idp.clients_by_name["pyramid"], ports["pyramid"], api_url) as url:
        steps = Steps(page, "cancelled-login")
        page.goto(url + "/profile")
        _expect_login_form(page, idp)
        page.click("text=[ Cancel ]")  # the provider answers the callback with error=access_denied
        page.wait_for_url(re.compile(re.escape(url) + r"/callback\?"))
        steps.shot("error-page")
        expect(page.locator("h1")).to_have_text("Sign-in problem")
        expect(page.locator("main p").first).to_have_text(
            "The sign-in was not completed: End-User aborted interaction")
        expect(page.locator("code")).to_have_text("access_denied")
        # styled by its own inline style, which its policy lets through and nothing else
        assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")
        assert page.evaluate("getComputedStyle(document.querySelector('main')).borderRadius") == "10px"
        policy = callbacks[-1]["content-security-policy"]
        assert policy.startswith("default-src 'none'; style-src 'sha256-")
        assert blocked == []

        page.click("text=Try again")
        _expect_login_form(page, idp)
        page.fill('input[name="login"]', "jane.doe")
        page.fill('input[name="password"]', "any password")
        page.click('button[type="submit"]')
        page.wait_for_url(url + "/profile")  # the page the cancelled login was for
        expect(page.locator(".name")).to_have_text("Jane Doe")
        steps.shot("back-on-the-original-page")


def _expect_login_form(page: Page, idp: LocalIdP) -> None:
    expect(page.locator('input[name="password"]')).to_be_visible()
    assert page.url.startswith(idp.issuer)


def _expect_messages(page: Page) -> None:
    expect(page.locator("li.message")).to_have_text([message["text"] for message in MESSAGES])
    expect(page.locator(".api-sub")).to_have_text("jane.doe")


def _step_up_demo(environ: dict, start_response: Any) -> list[bytes]:
    """A demo-like page: who is logged in, and how (the ID token's amr)."""
    user = environ.get("auth0.user") or {}
    amr = " ".join(user.get("amr", [])) or "none"
    body = (f"<!DOCTYPE html><title>{environ['PATH_INFO']}</title><p class='name'>{user.get('name', '')}</p>"
            f"<p class='amr'>{amr}</p>").encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def test_a_step_up_page_asks_for_the_providers_second_step_and_comes_back(idp: LocalIdP,
                                                                         browser_page: Page) -> None:
    """``step_up`` on /admin: the password login for /profile, then the one-time-code page for /admin.
    (``idp``, the examples' provider, only for its checks of Chromium and Playwright: this test's
    app needs a client of its own.)"""
    port, page = free_port(), browser_page
    client = Client("step-up-demo", "step-up-secret", [f"http://127.0.0.1:{port}/callback"])
    with LocalIdP([client]) as provider:
        app = Auth0Middleware(_step_up_demo, issuer=provider.issuer, client_id=client.client_id,
                              client_secret=client.client_secret, base_url=f"http://127.0.0.1:{port}",
                              secret="s" * 40, audience=provider.audience,
                              step_up=f"/admin acr_values={MFA_POLICY}")
        with serve(app, port) as url:
            steps = Steps(page, "step-up")
            page.goto(url + "/profile")
            _expect_login_form(page, provider)
            page.fill('input[name="login"]', "jane.doe")
            page.fill('input[name="password"]', "any password")
            page.click('button[type="submit"]')
            page.wait_for_url(url + "/profile")
            expect(page.locator(".amr")).to_have_text("none")
            steps.shot("profile-without-mfa")

            page.goto(url + "/admin")
            _expect_login_form(page, provider)  # the provider's policy: the password again, then the code
            page.fill('input[name="login"]', "jane.doe")
            page.fill('input[name="password"]', "any password")
            page.click('button[type="submit"]')
            expect(page.locator('input[name="otp"]')).to_be_visible()
            steps.shot("one-time-code")
            page.fill('input[name="otp"]', "123456")
            page.click('button[type="submit"]')
            page.wait_for_url(url + "/admin")
            expect(page.locator(".amr")).to_have_text("mfa")
            expect(page.locator(".name")).to_have_text("Jane Doe")
            steps.shot("admin-with-mfa")
