"""Rolling expiry with a server-side store: the browser's id cookie slides with the record."""

from __future__ import annotations

import secrets

import pytest
import webtest

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.stores.redis_connect import connect
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS

ROLLING = 600  # touch interval: a tenth, 60 s


@pytest.fixture(params=["memory", *REDIS_PARAMS])
def server_store(request) -> str:
    return request.getfixturevalue(REDIS_FIXTURES[request.param]) if request.param != "memory" else "memory"


class _Browser:
    """Keeps the id cookie until its Max-Age runs out on the test's clock (webtest's jar is lenient)."""

    def __init__(self, app: webtest.TestApp, clock: Clock) -> None:
        self.app, self.clock = app, clock
        self.value: str | None = None
        self.expires = 0.0

    def take(self, response: webtest.TestResponse) -> tuple[str, int] | None:
        for name, header in response.headerlist:
            if name == "Set-Cookie" and header.startswith("auth0_session="):
                value = header.split(";")[0].partition("=")[2]
                max_age = int(next(a.split("=")[1] for a in header.split("; ") if a.startswith("Max-Age=")))
                self.value, self.expires = value, self.clock.now + max_age
                return value, max_age
        return None

    def get(self, path: str, status: int) -> webtest.TestResponse:
        self.app.cookiejar.clear()
        live = self.value is not None and self.clock.now < self.expires
        headers = {**JSON, **({"Cookie": f"auth0_session={self.value}"} if live else {})}
        response = self.app.get(path, headers=headers, status=status)
        self.take(response)
        return response


def _record_ttl(middleware: Auth0Middleware, cookie: str, clock: Clock) -> float:
    key = middleware.store.record_key(cookie.rpartition(".")[0])
    if middleware.config.session_store == "memory":
        return middleware.store.backend._records.ttl(key) or 0.0
    return connect(middleware.config.session_store, 5).ttl(middleware.config.namespace + key)


def test_an_active_user_stays_logged_in_past_the_first_cookies_max_age(fake, server_store):
    clock = Clock()
    middleware = Auth0Middleware(echo_app, **settings_for(
        fake, session_store=server_store, session_rolling_duration=ROLLING, session_absolute_duration=7200,
        key_prefix="t" + secrets.token_hex(4)), clock=clock)
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    browser = _Browser(app, clock)
    login = browser.take(log_in(app))
    assert login is not None and login[1] == ROLLING
    logged_in_at = clock.now

    clock.advance(130)  # past the touch interval: this request slides the rolling window
    slid = browser.take(browser.get("/x", status=200))
    assert slid == (login[0], ROLLING)  # the same id, a new Max-Age from now
    assert abs(_record_ttl(middleware, login[0], clock) - ROLLING) <= 2  # the record slid alike

    clock.advance(520)  # 650 s after login: past the first Max-Age, within the slid window
    assert clock.now - logged_in_at > login[1]
    assert browser.get("/x", status=200).json["auth0.user"]["sub"] == "auth0|alice"


def test_a_request_that_does_not_slide_sends_no_cookie(fake, server_store):
    clock = Clock()
    middleware = Auth0Middleware(echo_app, **settings_for(
        fake, session_store=server_store, session_rolling_duration=ROLLING,
        key_prefix="t" + secrets.token_hex(4)), clock=clock)
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    clock.advance(30)  # within the touch interval: nothing written, nothing sent
    response = app.get("/x", headers=JSON)
    assert not [v for k, v in response.headerlist if k == "Set-Cookie"]
    assert "no-store" not in response.headers.get("Cache-Control", "")
