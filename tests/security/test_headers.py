"""Response headers that protect the session: no-store, Referrer-Policy, cookie flags.

Rules (README, Routes): every response of login/callback/logout — and every response to which we add a
session cookie — carries ``Cache-Control: no-store``; the callback's carries
``Referrer-Policy: no-referrer`` (its URL holds the code); our cookies are HttpOnly, SameSite and,
under https, Secure.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import pytest
import webtest

from tests.support.clocks import Clock
from tests.support.flows import browser, log_in, middleware, start_login
from tests.support.http import HTML, JSON, cookie_header
from tests.support.logout_tokens import logout_token
from tests.support.servers import free_port
from tests.support.wsgi import wsgi_call

FAR_FUTURE = "Thu, 01 Dec 2099 16:00:00 GMT"


def cacheable_app(environ, start_response):
    """An app that marks its pages cacheable by shared caches (a CDN, a proxy)."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "public, max-age=600"),
                              ("Expires", FAR_FUTURE)])
    return [b"a page anyone may cache"]


def _headers(response) -> list[tuple[str, str]]:
    return response.headerlist if hasattr(response, "headerlist") else response.headers


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}/"


# -- each scenario returns the response to check -------------------------------------------------------------

def _login(fake):
    return browser(fake).get("/login")


def _login_provider_down(fake):
    return wsgi_call(middleware(fake, issuer=_dead(), http_timeout=0.5), "/login", headers=HTML)


def _challenge_page(fake):
    return wsgi_call(middleware(fake), "/reports", headers=HTML)


def _challenge_api(fake):
    return wsgi_call(middleware(fake), "/reports", headers=JSON)


def _callback_success(fake):
    return log_in(browser(fake))


def _callback_provider_error(fake):
    return wsgi_call(middleware(fake), "/callback", "error=access_denied&state=s", headers=HTML)


def _callback_forged_state(fake):
    app = browser(fake)
    callback, _ = start_login(app)
    return app.get(callback.replace("state=", "state=forged"), status=400)


def _callback_token_endpoint_down(fake):
    app = browser(fake)
    callback, _ = start_login(app)
    fake.token_mode = "500"
    return app.get(callback, status=503)


def _callback_bad_id_token(fake):
    app = browser(fake)
    fake.id_token_claims = lambda c: {**c, "nonce": "another"}
    callback, _ = start_login(app)
    return app.get(callback, status=400)


def _logout_with_session(fake):
    app = browser(fake)
    log_in(app)
    return app.get("/logout")


def _logout_without_session(fake):
    return browser(fake).get("/logout")


def _logout_provider_down(fake):
    return wsgi_call(middleware(fake, issuer=_dead(), http_timeout=0.5), "/logout")


def _backchannel_accepted(fake):
    return browser(fake).post("/backchannel-logout", {"logout_token": logout_token(fake)})


def _backchannel_refused(fake):
    return browser(fake).post("/backchannel-logout", {"logout_token": "x.y.z"}, status=400)


def _refresh_on_echo_app(fake):
    fake.access_token_ttl = 30  # inside the 60 s leeway: the next request refreshes
    app = browser(fake)
    log_in(app)
    return app.get("/x", headers=JSON)


def _refresh_on_cacheable_app(fake):
    fake.access_token_ttl = 30
    app = browser(fake, app=cacheable_app)
    log_in(app)
    return app.get("/page", headers=HTML)


def _rolling_expiry_rewrite_on_cacheable_app(fake):
    clock = Clock()
    mw = middleware(fake, cacheable_app, session_rolling_duration=600, clock=clock)
    app = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    clock.advance(120)  # past a tenth of the rolling duration: the cookie is re-written to slide it
    return app.get("/page", headers=HTML)


def _session_ended_on_public_path(fake):
    fake.access_token_ttl = 30
    app = browser(fake, app=cacheable_app, public_paths="/public")
    log_in(app)
    fake.token_mode = "error:invalid_grant"  # the refresh is refused: the session ends, cookies cleared
    return app.get("/public/page", headers=HTML)


def _session_store_down(fake):
    memory = browser(fake, session_store="memory")
    log_in(memory)
    down = middleware(fake, session_store=f"redis://127.0.0.1:{free_port()}/0")
    return wsgi_call(down, "/x", headers={**JSON, "Cookie": cookie_header(dict(memory.cookies))})


NO_STORE = [
    # (scenario, expected status, a Set-Cookie must be there)
    pytest.param(_login, 302, True, id="login"),
    pytest.param(_login_provider_down, 503, False, id="login-provider-down"),
    pytest.param(_challenge_page, 302, False, id="challenge-page"),
    pytest.param(_challenge_api, 401, False, id="challenge-api"),
    pytest.param(_callback_success, 302, True, id="callback-success"),
    pytest.param(_callback_provider_error, 400, True, id="callback-provider-error"),
    pytest.param(_callback_forged_state, 400, True, id="callback-forged-state"),
    pytest.param(_callback_token_endpoint_down, 503, True, id="callback-token-endpoint-down"),
    pytest.param(_callback_bad_id_token, 400, True, id="callback-bad-id-token"),
    pytest.param(_logout_with_session, 302, True, id="logout-with-session"),
    pytest.param(_logout_without_session, 302, True, id="logout-without-session"),
    pytest.param(_logout_provider_down, 302, True, id="logout-provider-down"),
    pytest.param(_backchannel_accepted, 200, False, id="backchannel-accepted"),
    pytest.param(_backchannel_refused, 400, False, id="backchannel-refused"),
    pytest.param(_refresh_on_echo_app, 200, True, id="refresh-on-the-app-response"),
    pytest.param(_refresh_on_cacheable_app, 200, True, id="refresh-on-a-cacheable-app-response"),
    pytest.param(_rolling_expiry_rewrite_on_cacheable_app, 200, True,
                 id="rolling-expiry-rewrite-on-a-cacheable-app-response"),
    pytest.param(_session_ended_on_public_path, 200, True, id="session-ended-on-a-public-cacheable-page"),
    pytest.param(_session_store_down, 503, False, id="session-store-down"),
]


@pytest.mark.parametrize("scenario, status, sets_cookie", NO_STORE)
def test_no_store_on_every_auth_response_and_every_response_with_a_session_cookie(
        fake, scenario, status, sets_cookie):
    response = scenario(fake)
    headers = _headers(response)
    assert (response.status_int if hasattr(response, "status_int") else response.status) == status
    assert any(k == "Set-Cookie" for k, _ in headers) == sets_cookie  # the scenario does what it says
    cache_control = [v.lower() for k, v in headers if k.lower() == "cache-control"]
    assert cache_control and all("no-store" in v for v in cache_control), cache_control
    assert not any("public" in v or "max-age=6" in v for v in cache_control)
    assert (("Expires", FAR_FUTURE) not in headers)


# -- Referrer-Policy on the callback ---------------------------------------------------------------------

def _callback_replayed(fake):
    app = browser(fake)
    callback, _ = start_login(app)
    app.get(callback)
    return app.get(callback, status=400)


def _callback_post(fake):
    return wsgi_call(middleware(fake), "/callback", method="POST",
                     headers={"Content-Type": "application/x-www-form-urlencoded"},
                     body=urlencode({"code": "c", "state": "s"}).encode())


REFERRER = [
    pytest.param(_callback_success, id="success"),
    pytest.param(_callback_provider_error, id="provider-error"),
    pytest.param(_callback_forged_state, id="forged-state"),
    pytest.param(_callback_replayed, id="replayed"),
    pytest.param(_callback_token_endpoint_down, id="token-endpoint-down"),
    pytest.param(_callback_bad_id_token, id="bad-id-token"),
    pytest.param(_callback_post, id="post"),
]


@pytest.mark.parametrize("scenario", REFERRER)
def test_callback_responses_send_no_referrer(fake, scenario):
    """The callback URL holds the code and state: the next page must not leak it in a Referer."""
    headers = _headers(scenario(fake))
    assert [v for k, v in headers if k.lower() == "referrer-policy"] == ["no-referrer"]


# -- cookie flags under https -------------------------------------------------------------------------------

HTTPS = "https://app.test"


def _flags(set_cookie: str) -> tuple[str, dict[str, str]]:
    name_value, *attributes = [part.strip() for part in set_cookie.split(";")]
    attrs = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        attrs[key.lower()] = value.lower()
    return name_value.split("=", 1)[0], attrs


def _https_login_cookie(fake, **settings):
    return browser(fake, base_url=HTTPS, **settings).get("/login")


def _https_session(fake, **settings):
    return log_in(browser(fake, base_url=HTTPS, **settings), base_url=HTTPS)


def _https_chunked_session(fake, **settings):
    roles = [secrets.token_hex(20) for _ in range(100)]
    fake.id_token_claims = lambda c: {**c, "app_metadata": {"roles": roles}}
    response = _https_session(fake, **settings)
    assert any(v.startswith("auth0_session.1=") for k, v in response.headerlist if k == "Set-Cookie")
    return response


def _https_refresh(fake, **settings):
    fake.access_token_ttl = 30
    app = browser(fake, base_url=HTTPS, **settings)
    log_in(app, base_url=HTTPS)
    return app.get("/x", headers=JSON)


def _https_logout(fake, **settings):
    app = browser(fake, base_url=HTTPS, **settings)
    log_in(app, base_url=HTTPS)
    app.get("/login")  # a pending login cookie too: logout clears it
    return app.get("/logout")


FLAGS = [
    # (scenario, settings, expected SameSite of the session cookie)
    pytest.param(_https_login_cookie, {}, "lax", id="cookie-store-login-cookie"),
    pytest.param(_https_session, {}, "lax", id="cookie-store-session"),
    pytest.param(_https_chunked_session, {}, "lax", id="cookie-store-chunked-session"),
    pytest.param(_https_refresh, {}, "lax", id="cookie-store-refresh"),
    pytest.param(_https_logout, {}, "lax", id="cookie-store-logout"),
    pytest.param(_https_session, {"session_store": "memory"}, "lax", id="memory-store-session"),
    pytest.param(_https_logout, {"session_store": "memory"}, "lax", id="memory-store-logout"),
    pytest.param(_https_session, {"cookie_samesite": "Strict"}, "strict", id="strict-session"),
    pytest.param(_https_login_cookie, {"cookie_samesite": "Strict"}, "strict",
                 id="strict-login-cookie-stays-lax"),
    pytest.param(_https_session, {"cookie_samesite": "None"}, "none", id="samesite-none-session"),
]


@pytest.mark.parametrize("scenario, settings, samesite", FLAGS)
def test_cookies_are_httponly_samesite_and_secure_under_https(fake, scenario, settings, samesite):
    response = scenario(fake, **settings)
    set_cookies = [v for k, v in response.headerlist if k == "Set-Cookie"]
    assert set_cookies, "the scenario set no cookie: it proves nothing"
    for header in set_cookies:
        name, attrs = _flags(header)
        assert "httponly" in attrs, header
        assert "secure" in attrs, header
        # login cookies and their index (a0tx): the callback and login are cross-site navigations
        expected = "lax" if name.startswith("a0tx") else samesite
        assert attrs.get("samesite") == expected, header
        # the index of pending logins and the "moved to base_url's host" marker, read by /login only;
        # the "just logged out" marker, read on any page
        paths = {"a0tx": "/", "a0tx.host": "/login", "a0tx.out": "/"}
        expected_path = paths.get(name, "/callback" if name.startswith("a0tx.") else "/")
        assert attrs.get("path") == expected_path, header
        assert "domain" not in attrs, header  # host-only: sibling subdomains never receive it
