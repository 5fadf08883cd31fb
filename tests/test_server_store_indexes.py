"""The sid/sub indexes of server-side sessions (back-channel logout): their lifetime only grows."""

from __future__ import annotations

import secrets

import pytest
import redis
import webtest
from joserfc import jwt

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.fake_provider import CLIENT_ID
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS

LIFETIME = 1800  # rolling = absolute: a session lives 30 minutes from its login


@pytest.fixture(params=["memory", *REDIS_PARAMS])
def server_store(request) -> str:
    return request.getfixturevalue(REDIS_FIXTURES[request.param]) if request.param != "memory" else "memory"


def _logout_token(fake, clock: Clock) -> str:
    now = int(clock.now)  # signed when the middleware's clock says it is
    claims = {"iss": fake.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": secrets.token_hex(8),
              "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
              "sid": "sid-1", "sub": "auth0|alice"}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, fake.key)


def _browsers(fake, store: str) -> tuple[Auth0Middleware, Clock, webtest.TestApp, webtest.TestApp]:
    """One app (its own Redis namespace) with two browsers of the same user."""
    clock = Clock()
    middleware = Auth0Middleware(echo_app, **settings_for(
        fake, session_store=store, session_rolling_duration=LIFETIME, session_absolute_duration=LIFETIME,
        key_prefix="t" + secrets.token_hex(4)), clock=clock)
    return (middleware, clock, webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"}),
            webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"}))


def _cookie_environ(app: webtest.TestApp) -> dict[str, str]:
    return {"HTTP_COOKIE": f"auth0_session={app.cookies['auth0_session']}"}


def test_an_older_sessions_write_does_not_hide_a_newer_session_from_back_channel_logout(fake, server_store):
    middleware, clock, older, newer = _browsers(fake, server_store)
    log_in(older)
    clock.advance(1000)
    log_in(newer)  # lives until login + 1000 + 1800
    clock.advance(100)
    older.get("/x", headers=JSON, status=200)  # touched: its write must not shorten the indexes
    clock.advance(800)  # past the older session's end, well within the newer one's
    older.get("/x", headers=JSON, status=401)
    assert middleware.store.load(_cookie_environ(newer)) is not None  # alive (read without writing)
    newer.post("/backchannel-logout", {"logout_token": _logout_token(fake, clock)})
    assert middleware.store.load(_cookie_environ(newer)) is None
    newer.get("/x", headers=JSON, status=401)


def test_redis_index_ttls_only_grow(fake, redis_url):
    middleware, clock, older, newer = _browsers(fake, redis_url)
    store = middleware.store
    client = redis.Redis.from_url(redis_url)
    indexes = [middleware.config.namespace + key
               for key in store._index_keys("sid-1", "auth0|alice", store._id_keys[0])]
    log_in(older)
    assert all(LIFETIME - 5 <= client.ttl(key) <= LIFETIME for key in indexes)  # a new set gets a TTL
    clock.advance(1000)
    log_in(newer)
    clock.advance(100)
    older.get("/x", headers=JSON, status=200)  # the older session's write asks for 700 s
    assert all(client.ttl(key) >= LIFETIME - 5 for key in indexes)  # the newer one's 1800 s remain


def test_a_backchannel_logout_right_after_a_logins_record_write_finds_the_new_session(fake, any_redis_url):
    """A record write is single-key steps: the index sets first, then the record's compare-and-set. A
    logout that runs right after the record is written finds it in the index (the other order would
    leave a moment where a new session is written but not yet indexed, and survives the logout)."""
    middleware, clock, browser, _ = _browsers(fake, any_redis_url)
    backend = middleware.store.backend
    backend = getattr(backend, "backend", backend)  # the RedisBackend under a tracking cache
    record_step = backend._write_script
    ended: list[int] = []

    def record_then_logout(keys, args):
        version = record_step(keys=keys, args=args)
        if not ended:
            ended.append(middleware.store.revoke(sid="sid-1", sub=None, at=int(clock.now)))
        return version

    backend._write_script = record_then_logout
    log_in(browser)
    assert ended == [1]
    assert middleware.store.load(_cookie_environ(browser)) is None
    browser.get("/x", headers=JSON, status=401)
