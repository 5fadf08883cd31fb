"""Response headers that protect the session: no-store, Referrer-Policy, cookie flags.

Rules (README, Routes): every response of login/callback/logout — and every response to which we add a
session cookie — carries ``Cache-Control: no-store``; the callback's carries
``Referrer-Policy: no-referrer`` (its URL holds the code); our cookies are HttpOnly, SameSite and,
under https, Secure.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

import pytest
import webtest

from tests.security.conftest import (
    HTML,
    JSON,
    begin,
    browser,
    cookie_header,
    login,
    middleware,
    wsgi_call,
)
from tests.support.servers import free_port
from tests.test_backchannel_logout import logout_token

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
    return login(browser(fake))


def _callback_provider_error(fake):
    return wsgi_call(middleware(fake), "/callback", "error=access_denied&state=s", headers=HTML)


def _callback_forged_state(fake):
    app = browser(fake)
    callback, _ = begin(app)
    return app.get(callback.replace("state=", "state=forged"), status=400)


def _callback_token_endpoint_down(fake):
    app = browser(fake)
    callback, _ = begin(app)
    fake.token_mode = "500"
    return app.get(callback, status=503)


def _callback_bad_id_token(fake):
    app = browser(fake)
    fake.id_token_claims = lambda c: {**c, "nonce": "another"}
    callback, _ = begin(app)
    return app.get(callback, status=400)


def _logout_with_session(fake):
    app = browser(fake)
    login(app)
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
    login(app)
    return app.get("/x", headers=JSON)


def _refresh_on_cacheable_app(fake):
    fake.access_token_ttl = 30
    app = browser(fake, app=cacheable_app)
    login(app)
    return app.get("/page", headers=HTML)


def _rolling_expiry_rewrite_on_cacheable_app(fake):
    mw = middleware(fake, cacheable_app, session_rolling_duration=600)
    now = [time.time()]
    mw.clock = mw.store._clock = lambda: now[0]
    app = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    login(app)
    now[0] += 120  # past a tenth of the rolling duration: the cookie is re-written to slide it
    return app.get("/page", headers=HTML)


def _session_ended_on_public_path(fake):
    fake.access_token_ttl = 30
    app = browser(fake, app=cacheable_app, public_paths="/public")
    login(app)
    fake.token_mode = "error:invalid_grant"  # the refresh is refused: the session ends, cookies cleared
    return app.get("/public/page", headers=HTML)


def _session_store_down(fake):
    memory = browser(fake, session_store="memory")
    login(memory)
    down = middleware(fake, session_store=f"redis://127.0.0.1:{free_port()}/0")
    return wsgi_call(down, "/x", headers={**JSON, "Cookie": cookie_header(dict(memory.cookies))})


NO_STORE = [
    # (id, scenario, expected status, a Set-Cookie must be there)
    ("login", _login, 302, True),
    ("login-provider-down", _login_provider_down, 503, False),
    ("challenge-page", _challenge_page, 302, False),
    ("challenge-api", _challenge_api, 401, False),
    ("callback-success", _callback_success, 302, True),
    ("callback-provider-error", _callback_provider_error, 400, True),
    ("callback-forged-state", _callback_forged_state, 400, True),
    ("callback-token-endpoint-down", _callback_token_endpoint_down, 503, True),
    ("callback-bad-id-token", _callback_bad_id_token, 400, True),
    ("logout-with-session", _logout_with_session, 302, True),
    ("logout-without-session", _logout_without_session, 302, True),
    ("logout-provider-down", _logout_provider_down, 302, True),
    ("backchannel-accepted", _backchannel_accepted, 200, False),
    ("backchannel-refused", _backchannel_refused, 400, False),
    ("refresh-on-the-app-response", _refresh_on_echo_app, 200, True),
    ("refresh-on-a-cacheable-app-response", _refresh_on_cacheable_app, 200, True),
    ("rolling-expiry-rewrite-on-a-cacheable-app-response", _rolling_expiry_rewrite_on_cacheable_app, 200,
     True),
    ("session-ended-on-a-public-cacheable-page", _session_ended_on_public_path, 200, True),
    ("session-store-down", _session_store_down, 503, False),
]


@pytest.mark.parametrize("scenario, status, sets_cookie", [row[1:] for row in NO_STORE],
                         ids=[row[0] for row in NO_STORE])
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
    callback, _ = begin(app)
    app.get(callback)
    return app.get(callback, status=400)


def _callback_post(fake):
    return wsgi_call(middleware(fake), "/callback", method="POST",
                     headers={"Content-Type": "application/x-www-form-urlencoded"},
                     body=urlencode({"code": "c", "state": "s"}).encode())


REFERRER = [
    ("success", _callback_success),
    ("provider-error", _callback_provider_error),
    ("forged-state", _callback_forged_state),
    ("replayed", _callback_replayed),
    ("token-endpoint-down", _callback_token_endpoint_down),
    ("bad-id-token", _callback_bad_id_token),
    ("post", _callback_post),
]


@pytest.mark.parametrize("scenario", [row[1] for row in REFERRER], ids=[row[0] for row in REFERRER])
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
    return login(browser(fake, base_url=HTTPS, **settings), base_url=HTTPS)


def _https_chunked_session(fake, **settings):
    roles = [secrets.token_hex(20) for _ in range(100)]
    fake.id_token_claims = lambda c: {**c, "app_metadata": {"roles": roles}}
    response = _https_session(fake, **settings)
    assert any(v.startswith("auth0_session.1=") for k, v in response.headerlist if k == "Set-Cookie")
    return response


def _https_refresh(fake, **settings):
    fake.access_token_ttl = 30
    app = browser(fake, base_url=HTTPS, **settings)
    login(app, base_url=HTTPS)
    return app.get("/x", headers=JSON)


def _https_logout(fake, **settings):
    app = browser(fake, base_url=HTTPS, **settings)
    login(app, base_url=HTTPS)
    app.get("/login")  # a pending login cookie too: logout clears it
    return app.get("/logout")


FLAGS = [
    # (id, scenario, settings, expected SameSite of the session cookie)
    ("cookie-store-login-cookie", _https_login_cookie, {}, "lax"),
    ("cookie-store-session", _https_session, {}, "lax"),
    ("cookie-store-chunked-session", _https_chunked_session, {}, "lax"),
    ("cookie-store-refresh", _https_refresh, {}, "lax"),
    ("cookie-store-logout", _https_logout, {}, "lax"),
    ("memory-store-session", _https_session, {"session_store": "memory"}, "lax"),
    ("memory-store-logout", _https_logout, {"session_store": "memory"}, "lax"),
    ("strict-session", _https_session, {"cookie_samesite": "Strict"}, "strict"),
    ("strict-login-cookie-stays-lax", _https_login_cookie, {"cookie_samesite": "Strict"}, "strict"),
    ("samesite-none-session", _https_session, {"cookie_samesite": "None"}, "none"),
]


@pytest.mark.parametrize("scenario, settings, samesite", [row[1:] for row in FLAGS],
                         ids=[r[0] for r in FLAGS])
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
        paths = {"a0tx": "/login"}  # the index of pending logins, read by /login only
        expected_path = "/callback" if name.startswith("a0tx.") else paths.get(name, "/")
        assert attrs.get("path") == expected_path, header
        assert "domain" not in attrs, header  # host-only: sibling subdomains never receive it
