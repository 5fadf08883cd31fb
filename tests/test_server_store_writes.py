"""Writes of server-side records (memory and Redis): several in one request, and concurrent ones.

A rotated refresh token that does not reach the record is spent for nothing: the next refresh
reuses the old one, Auth0 sees reuse and revokes the whole token family (the user is logged out).
"""

from __future__ import annotations

import json
import logging
import secrets

import pytest
import webtest

from auth0_wsgi import Auth0Middleware, api_session, refresh_access_token
from auth0_wsgi.stores.server import MAX_WRITE_ATTEMPTS
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS
from tests.support.servers import serve

TOUCH = 400  # seconds: past the touch interval (300 s with the default rolling duration)


@pytest.fixture(params=["memory", *REDIS_PARAMS])
def server_store(request) -> str:
    return request.getfixturevalue(REDIS_FIXTURES[request.param]) if request.param != "memory" else "memory"


def _forcing(times: int):
    """A view that forces ``times`` refreshes (as ``refresh_access_token`` or an API retry does) on
    ``/view``, one on ``/next``."""
    def view(environ, start_response):
        count = times if environ["PATH_INFO"] == "/view" else 1
        tokens = [refresh_access_token(environ) for _ in range(count)]
        body = json.dumps({"tokens": tokens, "now": environ.get("auth0.access_token")}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return view


def _app(fake, store: str, view) -> tuple[Auth0Middleware, webtest.TestApp, Clock]:
    clock = Clock()
    middleware = Auth0Middleware(view, **settings_for(fake, session_store=store,
                                                      key_prefix="t" + secrets.token_hex(4)), clock=clock)
    return middleware, webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"}), clock


def _stored_refresh_token(middleware: Auth0Middleware, app: webtest.TestApp) -> str | None:
    session = middleware.store.load({"HTTP_COOKIE": f"auth0_session={app.cookies['auth0_session']}"})
    assert session is not None
    return session.refresh_token


def _session_cookies(response) -> list[str]:
    return [v for k, v in response.headerlist if k == "Set-Cookie" and v.startswith("auth0_session=")]


def _assert_the_record_holds_the_live_refresh_token(fake, middleware, app) -> str:
    """The provider's only unspent refresh token is the record's; the next refresh spends it."""
    stored = _stored_refresh_token(middleware, app)
    assert list(fake.refresh_tokens) == [stored]
    app.get("/next", headers=JSON, status=200)
    assert fake.last_token_request["refresh_token"] == stored
    assert list(fake.refresh_tokens) == [_stored_refresh_token(middleware, app)]  # and rotates again
    return stored


@pytest.mark.parametrize("forced", [pytest.param(1, id="touch-then-forced"),
                                    pytest.param(2, id="touch-then-forced-twice")])
def test_every_write_of_one_request_lands_and_the_next_refresh_uses_the_newest_token(fake, server_store,
                                                                                    forced):
    middleware, app, clock = _app(fake, server_store, _forcing(forced))
    log_in(app)
    cookie = app.cookies["auth0_session"]
    clock.advance(TOUCH)
    response = app.get("/view", headers=JSON)  # touch, then `forced` forced refreshes: 1 + forced writes
    assert all(response.json["tokens"])
    assert fake.counts["grant:refresh_token"] == forced
    _assert_the_record_holds_the_live_refresh_token(fake, middleware, app)
    assert fake.counts["grant:refresh_token"] == forced + 1
    # one Set-Cookie for the id (same id, its Max-Age slid), however many writes
    assert [c.split(";")[0] for c in _session_cookies(response)] == [f"auth0_session={cookie}"]


def test_automatic_refresh_then_an_api_retry_keeps_the_newest_refresh_token(fake, server_store):
    def api(environ, start_response):  # refuses the first token it sees, as after a revocation
        seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        if len(seen) == 1:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"data"]

    seen: list[str] = []
    with serve(api) as api_url:
        def view(environ, start_response):
            if environ["PATH_INFO"] != "/call":
                return echo_app(environ, start_response)
            status = api_session(environ).get(api_url, timeout=5).status_code
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(status).encode()]

        middleware, app, _ = _app(fake, server_store, view)
        fake.access_token_ttl = 30  # inside the leeway: every request refreshes first
        log_in(app)
        assert app.get("/call").text == "200"  # automatic refresh, API 401, forced refresh, retry
        assert fake.counts["grant:refresh_token"] == 2
        assert seen[0] != seen[1]
        _assert_the_record_holds_the_live_refresh_token(fake, middleware, app)


# -- concurrent requests, through the store -------------------------------------------------------
def _two_requests(fake, store: str):
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=store,
                                                          key_prefix="t" + secrets.token_hex(4)))
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    cookie = f"auth0_session={app.cookies['auth0_session']}"
    env_a, env_b = {"HTTP_COOKIE": cookie}, {"HTTP_COOKIE": cookie}
    store_ = middleware.store
    return store_, cookie, env_a, store_.load(env_a), env_b, store_.load(env_b)


def _refreshed(session, token: str):
    return session.with_tokens(access_token="at-" + token, expires_at=None, refresh_token=token,
                               id_token=None, now=session.touched_at + 1)


def test_a_rotated_refresh_token_is_written_over_another_requests_touch(fake, server_store):
    store, cookie, env_a, session_a, env_b, session_b = _two_requests(fake, server_store)
    store.save(env_b, session_b.touched(session_b.touched_at + 5))  # B only slides the expiry
    store.save(env_a, _refreshed(session_a, "rotated-by-a"))  # A's compare-and-set loses to B's
    stored = store.load({"HTTP_COOKIE": cookie})
    assert stored.refresh_token == "rotated-by-a"
    assert stored.touched_at == session_b.touched_at + 5  # and B's slide is not undone


def test_the_same_rotation_saved_first_by_another_request_is_kept(fake, server_store, caplog):
    """Single flight gives both requests the same rotation; the second save keeps the first's."""
    store, cookie, env_a, session_a, env_b, session_b = _two_requests(fake, server_store)
    saved_by_b = _refreshed(session_b, "rotation-1")
    store.save(env_b, saved_by_b)
    caplog.set_level(logging.DEBUG, "auth0_wsgi")
    store.save(env_a, _refreshed(session_a, "rotation-1").touched(session_a.touched_at))
    stored = store.load({"HTTP_COOKIE": cookie})
    assert (stored.refresh_token, stored.touched_at) == ("rotation-1", saved_by_b.touched_at)  # B's, whole
    assert not [r for r in caplog.records
                if r.levelno >= logging.WARNING and r.name == "auth0_wsgi.stores.server"]


def test_an_older_refresh_token_never_replaces_a_newer_one_and_says_so(fake, server_store, caplog):
    store, cookie, env_a, session_a, env_b, session_b = _two_requests(fake, server_store)
    session_b = _refreshed(session_b, "rotation-1")
    store.save(env_b, session_b)
    store.save(env_b, _refreshed(session_b, "rotation-2"))  # B refreshed twice: a second write of B
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    store.save(env_a, _refreshed(session_a, "rotation-1"))  # A's (from the cache) is older
    assert store.load({"HTTP_COOKIE": cookie}).refresh_token == "rotation-2"
    assert any("newer refresh token" in r.getMessage() for r in caplog.records)
    store.save(env_a, _refreshed(session_a, "rotation-3"))  # A's environ now knows B's version
    assert store.load({"HTTP_COOKIE": cookie}).refresh_token == "rotation-3"


def test_a_chained_grants_state_is_written_over_the_one_it_was_chained_on(fake, server_store, caplog):
    """Two APIs at once: A's grant spends the loaded refresh token and saves; B took A's result and
    spent the token A brought. B's state descends from A's: it is the newer one, written over it,
    quietly (B says which refresh tokens it saw rotated out)."""
    store, cookie, env_a, session_a, env_b, session_b = _two_requests(fake, server_store)
    store.save(env_a, _refreshed(session_a, "rotated-by-a"))
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    chained = _refreshed(session_b, "rotated-by-b")
    store.save(env_b, chained, (session_b.refresh_token, "rotated-by-a"))
    assert store.load({"HTTP_COOKIE": cookie}).refresh_token == "rotated-by-b"
    assert not [r for r in caplog.records if r.name == "auth0_wsgi.stores.server"]


def test_a_session_logged_out_during_the_request_is_not_recreated(fake, server_store):
    store, cookie, env_a, session_a, env_b, _ = _two_requests(fake, server_store)
    store.clear(env_b)
    store.save(env_a, _refreshed(session_a, "too-late"))
    assert store.load({"HTTP_COOKIE": cookie}) is None


def test_a_write_that_keeps_losing_is_bounded_and_logged_as_an_error(fake, server_store, monkeypatch,
                                                                     caplog):
    store, _, env_a, session_a, _, _ = _two_requests(fake, server_store)
    backend = store.backend
    real_write, attempts = backend.write, []

    def always_beaten(key, data, ttl, expected_version, index_keys, index_ttl):
        if expected_version is not None:  # another request touches the record just before each try
            attempts.append(expected_version)
            current_data, current_version = backend.read(key)
            real_write(key, current_data, ttl, current_version, index_keys, index_ttl)
        return real_write(key, data, ttl, expected_version, index_keys, index_ttl)

    monkeypatch.setattr(backend, "write", always_beaten)
    caplog.set_level(logging.ERROR, "auth0_wsgi")
    assert store.save(env_a, _refreshed(session_a, "lost")) == []
    assert len(attempts) == MAX_WRITE_ATTEMPTS
    assert any("refresh token is not saved" in r.getMessage() for r in caplog.records)
