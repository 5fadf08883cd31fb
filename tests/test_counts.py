"""Counts, not times: what a login and the authenticated hot path cost in provider calls, Redis
commands and cookies, for a typical Auth0 session (benchmarks/typical.py). Timings live in
benchmarks/ (docs/benchmarks.md), never in tests.

The single-flight count (concurrent requests with an expiring token make exactly one refresh grant)
is tests/test_refresh.py::test_many_simultaneous_requests_make_exactly_one_refresh_grant.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import redis

from auth0_wsgi.cookies import MAX_SET_COOKIE
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.session import Session
from benchmarks.typical import SUB, profile_claims, typical_access_tokens
from tests.support.fake_provider import FakeProvider
from tests.support.flows import SECRET, log_in
from tests.support.http import JSON

LOGIN_PATHS = {"/.well-known/openid-configuration", "/jwks", "/authorize", "/token",
               "grant:authorization_code"}


@pytest.fixture
def typical(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """The fake provider issuing what Auth0 issues to a Regular Web App calling its API."""
    monkeypatch.setattr(fake, "sub", SUB)
    monkeypatch.setattr(fake, "id_token_claims", profile_claims)
    monkeypatch.setattr(fake, "id_token_header", {"typ": "JWT"})
    monkeypatch.setitem(fake.__dict__, "access_token", typical_access_tokens(fake))
    return fake


@pytest.fixture(params=["cookie", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("redis_url") if request.param == "redis" else request.param


def _set_cookies(response: Any) -> list[str]:
    return [value for name, value in response.headerlist if name.lower() == "set-cookie"]


def test_authenticated_requests_make_no_provider_call(build_app, typical, store):
    app = build_app(session_store=store)
    log_in(app)
    before = Counter(typical.counts)
    for _ in range(20):
        assert app.get("/data", headers=JSON).json["auth0.user"]["sub"] == SUB
    assert typical.counts == before


def test_unchanged_authenticated_response_sets_no_cookie(build_app, typical, store):
    app = build_app(session_store=store)
    log_in(app)
    for path in ("/", "/data", "/data?page=2"):
        response = app.get(path, headers=JSON)
        assert response.status_int == 200
        assert _set_cookies(response) == []


def test_redis_hot_path_is_one_read_and_no_write(build_app, typical, redis_url):
    """A cache miss (and every request with session_cache = off): one command, and no write."""
    app = build_app(session_store=redis_url, session_cache="off")
    log_in(app)
    server = redis.Redis.from_url(redis_url)
    before = _command_calls(server)
    for _ in range(10):
        app.get("/data", headers=JSON)
    assert _used_since(server, before) == {"cmdstat_hgetall": 10}


def test_redis_hot_path_with_the_tracking_cache_sends_no_command(build_app, typical, redis_url):
    app = build_app(session_store=redis_url)  # session_cache = tracking, the default
    log_in(app)
    records = app.app.store.backend.records
    app.get("/data", headers=JSON)  # starts this process's invalidation listener
    deadline = time.monotonic() + 5
    while not records.live and time.monotonic() < deadline:
        time.sleep(0.005)  # real time: the listener thread subscribes
    app.get("/data", headers=JSON)  # read once while the listener is live: kept
    server = redis.Redis.from_url(redis_url)
    before = _command_calls(server)
    for _ in range(10):
        app.get("/data", headers=JSON)
    assert _used_since(server, before) == {}


def _used_since(server: redis.Redis, before: dict[str, int]) -> dict[str, int]:
    used = {name: n - before.get(name, 0) for name, n in _command_calls(server).items()
            if n != before.get(name, 0)}
    used.pop("cmdstat_info", None)
    # Background threads of other tests' middlewares meanwhile: revocation pollers read the revocation
    # set, invalidation listeners PING when idle and (re)subscribe.
    for name in ("cmdstat_zrangebyscore", "cmdstat_ping", "cmdstat_client|id", "cmdstat_client|tracking",
                 "cmdstat_subscribe"):
        used.pop(name, None)
    return used


def _command_calls(server: redis.Redis) -> dict[str, int]:
    return {name: int(stat["calls"]) for name, stat in server.info("commandstats").items()}


def test_a_login_makes_one_token_request_and_at_most_one_jwks_fetch(build_app, typical, store):
    app = build_app(session_store=store)  # a new middleware: nothing is cached yet
    log_in(app)
    assert typical.counts["/token"] == typical.counts["grant:authorization_code"] == 1
    assert typical.counts["/.well-known/openid-configuration"] == 1
    assert typical.counts["/jwks"] <= 1
    assert set(typical.counts) <= LOGIN_PATHS
    log_in(app)  # the next login reuses the discovery document and the keys
    assert typical.counts["/token"] == 2
    assert typical.counts["/.well-known/openid-configuration"] == 1
    assert typical.counts["/jwks"] <= 1


def test_a_typical_auth0_session_fits_in_one_cookie(build_app, typical):
    app = build_app()
    response = log_in(app)
    ours = [c for c in _set_cookies(response) if c.split("=", 1)[0].startswith("auth0_session")]
    assert len(ours) == 1 and ours[0].startswith("auth0_session="), [c[:20] for c in ours]
    # Measured without Secure (the tests' base_url is http): leave room for it.
    assert len(ours[0]) + len("; Secure") <= MAX_SET_COOKIE, len(ours[0])

    seen = app.get("/", headers=JSON).json  # it is a typical session, and the cookie holds all of it
    assert 800 <= len(seen["auth0.access_token"]) <= 1000
    assert seen["auth0.user"]["picture"].startswith("https://") and "app_metadata" not in seen["auth0.user"]
    sealed = ours[0].split(";", 1)[0].split("=", 1)[1]
    namespace = app.app.config.namespace.encode()  # a cookie session is sealed for its app
    session = Session.from_bytes(Sealer((SECRET,), "session").unseal(sealed, namespace) or b"")
    assert session is not None and session.refresh_token in typical.refresh_tokens
