"""Review of logins (step-up, Organizations, silent login, PAR, sign-out everywhere, hooks,
session_claims): each test failed before its fix."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest
import webtest

from auth0_wsgi import StepUpRequired
from auth0_wsgi.errors import ProviderUnavailable, StoreUnavailable
from auth0_wsgi.transaction import LOGIN_COOKIE_NAME
from tests.support.fake_provider import MFA_POLICY
from tests.support.flows import BASE_URL, browser, log_in, provider_answer
from tests.support.http import HTML, JSON, query_of

RULES = f"/admin acr_values={MFA_POLICY}"


def app(environ: dict, start_response: Any) -> list[bytes]:
    """Echo, but ``/raise`` asks for the MFA policy until the user has it."""
    user = environ.get("auth0.user") or {}
    if environ["PATH_INFO"] == "/raise" and "mfa" not in user.get("amr", ()):
        raise StepUpRequired(acr_values=MFA_POLICY)
    body = json.dumps({"path": environ["PATH_INFO"], "user": user}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _cookie_header(client: webtest.TestApp) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


@pytest.fixture
def fake_mfa(fake):
    fake.honour_step_up = True
    return fake


# -- step-up: path tricks -------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    pytest.param("//admin", id="leading-double-slash"),
    pytest.param("/admin//users", id="inner-double-slash"),
    pytest.param("///admin/", id="triple-slash"),
])
def test_a_step_up_path_reached_through_doubled_slashes_still_needs_the_step_up(fake_mfa, path):
    """Werkzeug's router and Pyramid's traversal serve ``/admin``'s view for ``//admin``."""
    client = browser(fake_mfa, app, step_up=RULES)
    log_in(client)
    refused = client.get("/", headers=JSON, extra_environ={"PATH_INFO": path}, expect_errors=True)
    assert refused.status_int == 401, refused.text
    assert refused.json["error"] == "insufficient_user_authentication"


# -- step-up: a view's StepUpRequired never escapes as a 500 --------------------------------------
def test_an_anonymous_view_raising_step_up_required_gets_a_login_not_a_500(fake_mfa):
    client = browser(fake_mfa, app, require_auth=False)
    to_provider = client.get("/raise", headers=HTML)
    assert to_provider.status_int == 302
    assert query_of(to_provider.location)["acr_values"] == MFA_POLICY
    refused = client.get("/raise", headers=JSON, status=401)
    assert refused.json["error"] == "insufficient_user_authentication"
    landed = client.get(provider_answer(to_provider.location)[len(BASE_URL):])
    assert landed.location == f"{BASE_URL}/raise"
    assert "mfa" in client.get("/raise", headers=JSON).json["user"]["amr"]


@pytest.mark.parametrize("path", ["/admin", "/raise"])
def test_a_step_up_while_the_provider_is_unreachable_is_a_503_page(fake_mfa, monkeypatch, path):
    client = browser(fake_mfa, app, step_up=RULES)
    log_in(client)

    def unreachable(*_: Any, **__: Any) -> str:
        raise ProviderUnavailable("the PAR endpoint is unreachable: ConnectTimeout")

    monkeypatch.setattr(client.app.collaborators.client, "authorization_url", unreachable)
    response = client.get(path, headers=HTML, expect_errors=True)
    assert response.status_int == 503 and "provider_unavailable" in response.text
    assert "Retry-After" in response.headers


def test_a_views_step_up_behind_a_proxy_that_rewrites_host_asks_for_the_rule_at_once(fake_mfa):
    """Behind nginx's default ``proxy_set_header Host $proxy_host`` every request names another host
    (the session cookie shows the browser is on base_url's). Sent to /login, a view's rule was lost
    there: a login without it, back to the view, which raised again: a redirect loop."""
    client = browser(fake_mfa, app)
    log_in(client)
    rewritten = {"HTTP_HOST": "backend.internal:8080", "HTTP_COOKIE": _cookie_header(client)}
    step_up = client.get("/raise", headers=HTML, extra_environ=rewritten)
    assert step_up.location.startswith(fake_mfa.issuer), step_up.location
    assert query_of(step_up.location)["acr_values"] == MFA_POLICY


# -- sign out everywhere --------------------------------------------------------------------------
def test_everywhere_with_the_session_store_down_is_a_503_not_a_mere_logout(fake, monkeypatch):
    client = browser(fake, app, session_store="memory")
    log_in(client)

    def down(*_: Any, **__: Any) -> None:
        raise StoreUnavailable("the session store cannot be reached")

    monkeypatch.setattr(client.app.collaborators.store, "load", down)
    response = client.get("/logout", {"everywhere": "1"}, headers=JSON, expect_errors=True)
    assert response.status_int == 503, response.headers.get("Location")


# -- hooks ----------------------------------------------------------------------------------------
def _refresh_hook_that_quotes_the_token(environ: Any, claims: Any, tokens: Any) -> None:
    raise RuntimeError(f"audit log down {tokens['access_token']}")


def _logout_hook_that_quotes_a_claim(environ: Any, claims: Any) -> None:
    raise KeyError(f"no audit record for {claims['email']}")


def test_an_after_the_event_hook_that_raises_leaks_no_token_or_claim_in_the_log(fake, caplog):
    caplog.set_level(logging.INFO, logger="auth0_wsgi")
    fake.access_token_ttl = 30  # inside refresh_leeway: the next request refreshes
    client = browser(fake, app, on_refresh=_refresh_hook_that_quotes_the_token,
                     on_logout=_logout_hook_that_quotes_a_claim)
    log_in(client)
    seen = client.get("/x", headers=JSON).json
    token = client.app.store.load({"HTTP_COOKIE": _cookie_header(client)}).access_token
    email = seen["user"]["email"]
    client.get("/logout")
    assert "_refresh_hook_that_quotes_the_token" in caplog.text and "RuntimeError" in caplog.text
    assert "_logout_hook_that_quotes_a_claim" in caplog.text and "KeyError" in caplog.text
    assert token not in caplog.text and email not in caplog.text


def _huge_claims(environ: Any, claims: Any, tokens: Any) -> dict[str, Any]:
    return {"sub": claims["sub"], "groups": [secrets.token_hex(16) for _ in range(2000)]}


def test_claims_too_large_to_keep_refuse_the_login_instead_of_looping(fake):
    """Too large for the cookies, the session was not saved, and the page sent the browser round
    the provider again, and again."""
    client = browser(fake, app, on_login=_huge_claims)
    callback = provider_answer(client.get("/login", {"return_to": "/x"}).location)
    answer = client.get(callback[len(BASE_URL):], headers=HTML, expect_errors=True)
    assert answer.status_int == 500 and "login_hook_failed" in answer.text
    assert "Location" not in answer.headers


# -- login cookies: at most three pending, however a login starts -----------------------------------
def _pending_login_cookies(client: webtest.TestApp) -> list[str]:
    return [c.name for c in client.cookiejar if LOGIN_COOKIE_NAME.fullmatch(c.name)]


def test_step_ups_started_on_pages_keep_at_most_three_login_cookies(fake_mfa):
    """Step-ups start on the page itself, which never saw the pending-logins index (it lived at
    /login): a site navigating a user to /admin again and again piled up login cookies until the
    callback's Cookie header outgrew the server's limit."""
    client = browser(fake_mfa, app, step_up=RULES)
    log_in(client)
    for _ in range(6):
        assert client.get("/admin", headers=HTML).status_int == 302
    assert len(_pending_login_cookies(client)) <= 3
    for _ in range(2):
        client.get("/login", {"return_to": "/x"})
    assert len(_pending_login_cookies(client)) <= 3
