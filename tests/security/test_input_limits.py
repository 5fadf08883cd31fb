"""Oversized and malformed input at the routes: refused with a 4xx, fast, without a memory blow-up.

Oversized cookies are in test_cookie_tampering.py. The 1 MB ID token's 400 is in
tests/test_callback_rejections.py (test_oversized_id_token_is_refused_unparsed); here it must also be
refused before any key is fetched.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import webtest

from tests.security.conftest import (
    BASE_URL,
    JSON,
    begin,
    cookie_header,
    login,
    middleware,
    peak_memory,
    query,
    wsgi_call,
)
from tests.test_backchannel_logout import logout_token

FORM = "application/x-www-form-urlencoded"


def _linear(peak: int, size: int) -> None:
    assert peak < 8 * size + 1024 * 1024, f"peak {peak} bytes for {size} bytes of input"


def _pending(fake):
    """A middleware, its pending login's callback query and the browser's Cookie header."""
    mw = middleware(fake)
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    callback, _ = begin(client)
    return mw, query(callback), cookie_header(dict(client.cookies))


OVERSIZED_CALLBACKS = [
    ("100kb-padding-on-a-valid-callback", lambda q: urlencode({**q, "pad": "x" * 100_000})),
    ("1mb-error-description", lambda q: urlencode({"error": "access_denied", "state": q["state"],
                                                    "error_description": "d" * 1_000_000})),
    ("1mb-code", lambda q: urlencode({**q, "code": "c" * 1_000_000})),
    ("100kb-state", lambda q: urlencode({**q, "state": "s" * 100_000})),
    ("10000-unknown-parameters", lambda q: urlencode(q) + "&x=1" * 10_000),
]


@pytest.mark.parametrize("build", [row[1] for row in OVERSIZED_CALLBACKS],
                         ids=[r[0] for r in OVERSIZED_CALLBACKS])
def test_oversized_callback_is_refused_before_the_token_request(fake, build):
    mw, params, cookies = _pending(fake)
    qs = build(params)
    result, peak = peak_memory(lambda: wsgi_call(mw, "/callback", qs, headers={**JSON, "Cookie": cookies}))
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"
    assert len(result.body) < 2048  # nothing of the input is echoed back
    assert fake.counts["grant:authorization_code"] == 0
    assert not result.opens_session()
    _linear(peak, len(qs))


def test_over_long_login_return_to_is_dropped_not_carried(fake):
    app = webtest.TestApp(middleware(fake), extra_environ={"HTTP_HOST": "app.test"})
    response = app.get("/login", {"return_to": "/" + "a" * 1_000_000})
    assert len(response.headers["Location"]) < 4096
    assert all(len(v) < 4096 for k, v in response.headerlist if k == "Set-Cookie")
    callback = begin(app)[0]  # a second, ordinary login works; the first left nothing behind
    assert app.get(callback).headers["Location"] == BASE_URL + "/"


def test_over_long_logout_return_to_goes_to_post_logout_redirect(fake):
    result = wsgi_call(middleware(fake), "/logout", urlencode({"return_to": "/" + "a" * 1_000_000}))
    assert result.status == 302
    assert query(result.header("Location"))["post_logout_redirect_uri"] == BASE_URL + "/"
    assert len(result.header("Location")) < 4096


def test_1mb_id_token_is_refused_before_any_key_is_fetched(fake):
    fake.id_token_claims = lambda c: {**c, "padding": "x" * 1_000_000}
    app = webtest.TestApp(middleware(fake), extra_environ={"HTTP_HOST": "app.test"})
    callback, _ = begin(app)
    response = app.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_token"
    assert fake.counts["/jwks"] == 0
    assert "auth0_session" not in app.cookies


def test_1mb_logout_token_is_refused_before_any_key_is_fetched(fake):
    token = logout_token(fake, padding="x" * 1_000_000)
    result = wsgi_call(middleware(fake), "/backchannel-logout", method="POST",
                       headers={"Content-Type": FORM}, body=urlencode({"logout_token": token}).encode())
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"
    assert fake.counts["/jwks"] == 0


def test_huge_backchannel_body_is_refused_without_reading_it(fake):
    """The only unauthenticated POST: a logout token is < 16 KB, so an 8 MB body is refused unread."""
    body = b"logout_token=" + b"a" * 8_000_000
    mw = middleware(fake)
    result, peak = peak_memory(lambda: wsgi_call(mw, "/backchannel-logout", method="POST",
                                                 headers={"Content-Type": FORM}, body=body))
    assert 400 <= result.status < 500, result.escaped or result.text
    assert peak < 1024 * 1024, f"the middleware buffered the body: peak {peak} bytes for an 8 MB body"


# -- undecodable input: bytes that are not UTF-8 -------------------------------------------------------------

UNDECODABLE = [
    ("login-return-to-ff", "/login", "return_to=%ff", (302, 400)),
    ("login-return-to-overlong-slash", "/login", "return_to=%C0%AF%C0%AFevil.com", (302, 400)),
    ("callback-state-ff", "/callback", "code=c&state=%ff&iss=x", (400,)),
    ("callback-surrogate-state", "/callback", "code=c&state=%ed%a0%80", (400,)),
    ("callback-error-description-ff", "/callback", "error=access_denied&error_description=%ff", (400,)),
    ("callback-parameter-name-ff", "/callback", "%ff=1&state=s&code=c", (400,)),
    ("logout-return-to-ff", "/logout", "return_to=%ff", (302,)),
]


@pytest.mark.parametrize("path, qs, statuses", [row[1:] for row in UNDECODABLE],
                         ids=[r[0] for r in UNDECODABLE])
def test_query_that_is_not_utf8_is_a_4xx_not_a_crash(fake, path, qs, statuses):
    result = wsgi_call(middleware(fake), path, qs, headers=JSON)
    assert result.escaped is None, f"escaped the middleware: {result.escaped}"
    assert result.status in statuses, (result.status, result.text)


def test_logout_token_that_is_not_utf8_is_a_400(fake):
    result = wsgi_call(middleware(fake), "/backchannel-logout", method="POST", headers={"Content-Type": FORM},
                       body=b"logout_token=%ff%fe")
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"


def test_login_still_works_after_the_limits_were_probed(fake):
    """The refusals above leave no state behind that breaks the next honest login."""
    mw, params, cookies = _pending(fake)
    wsgi_call(mw, "/callback", urlencode({**params, "pad": "x" * 100_000}), headers={"Cookie": cookies})
    app = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    assert login(app, "/ok").headers["Location"] == BASE_URL + "/ok"
