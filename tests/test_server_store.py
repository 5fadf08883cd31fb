"""Server-side sessions (memory and Redis): ids, records at rest, races, outages."""

from __future__ import annotations

import logging

import pytest
import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import log_in, settings_for
from tests.support.http import HTML, JSON
from tests.support.redis_server import RedisServer
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS


@pytest.fixture(params=["memory", *REDIS_PARAMS])
def server_store(request) -> str:
    return request.getfixturevalue(REDIS_FIXTURES[request.param]) if request.param != "memory" else "memory"


@pytest.fixture
def server_app(build_app, server_store):
    return build_app(session_store=server_store)


def test_cookie_holds_only_a_signed_random_id(server_app):
    log_in(server_app)
    value = server_app.cookies["auth0_session"]
    session_id, _, signature = value.rpartition(".")
    assert len(session_id) >= 43 and signature  # 256 bits of randomness, then the signature
    assert "eyJ" not in value  # no token, no JWE in the browser


def test_logout_deletes_the_record_so_a_replayed_cookie_is_refused(server_app):
    log_in(server_app)
    copied = server_app.cookies["auth0_session"]
    server_app.get("/logout")
    server_app.set_cookie("auth0_session", copied)
    server_app.get("/x", headers=JSON, status=401)


def test_login_creates_a_new_id_and_deletes_the_old_record(server_app):
    log_in(server_app)
    first = server_app.cookies["auth0_session"]
    log_in(server_app)
    assert server_app.cookies["auth0_session"] != first
    server_app.set_cookie("auth0_session", first)
    server_app.get("/x", headers=JSON, status=401)


def test_forged_id_is_refused_without_reading_the_store(build_app):
    app = build_app(session_store="memory")
    log_in(app)
    session_id, _, signature = app.cookies["auth0_session"].rpartition(".")
    reads = []
    backend = app.app.store.backend
    original = backend.read
    backend.read = lambda key: reads.append(key) or original(key)
    app.set_cookie("auth0_session", f"{session_id}x.{signature}")
    app.get("/x", headers=JSON, status=401)
    assert reads == []


def test_a_verified_cookie_remembered_lets_no_variant_of_it_through(build_app):
    """The id of a cookie value verified once is remembered (its HMAC costs ~11 µs a request in a
    busy worker); only that exact value is: a signature or id changed by one character is checked,
    and refused, without reading the store."""
    app = build_app(session_store="memory")
    log_in(app)
    good = app.cookies["auth0_session"]
    app.get("/x", headers=JSON, status=200)  # verified, and now remembered
    session_id, _, signature = good.rpartition(".")
    reads = []
    backend = app.app.store.backend
    original = backend.read
    backend.read = lambda key: reads.append(key) or original(key)
    flipped = "A" if signature[-1] != "A" else "B"
    for variant in (f"{session_id}.{signature[:-1]}{flipped}", f"{session_id[:-1]}{flipped}.{signature}",
                    f"{good} ", f"{good}."):
        app.set_cookie("auth0_session", variant)
        app.get("/x", headers=JSON, status=401)
    assert reads == []
    app.set_cookie("auth0_session", good)
    app.get("/x", headers=JSON, status=200)


def test_slow_writer_cannot_overwrite_a_newer_record(fake, server_store):
    """Two requests load version 1; the first saves (a refresh); the second's stale save is refused."""
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=server_store))
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    cookie = f"auth0_session={app.cookies['auth0_session']}"
    env_a, env_b = {"HTTP_COOKIE": cookie}, {"HTTP_COOKIE": cookie}
    store = middleware.store
    session_a, session_b = store.load(env_a), store.load(env_b)
    refreshed = session_a.with_tokens(access_token="new-token", expires_at=None, refresh_token="r2",
                                      id_token=None, now=session_a.touched_at + 1)
    saved = store.save(env_a, refreshed)
    assert [value.split(";")[0] for _, value in saved] == [cookie]  # same id (re-sent to slide its expiry)
    stale = session_b.touched(session_b.touched_at + 2)
    store.save(env_b, stale)
    assert store.load({"HTTP_COOKIE": cookie}).access_token == "new-token"


def test_redis_records_all_expire_and_reveal_nothing(build_app, fake, redis_url):
    app = build_app(session_store=redis_url)
    fake.access_token_ttl = 30  # so a refresh (lock and result cache) happens too
    log_in(app)
    seen = app.get("/x", headers=JSON).json
    client = __import__("redis").Redis.from_url(redis_url)
    keys = client.keys("auth0wsgi:*")
    assert keys
    dump = b""
    for key in keys:
        assert client.ttl(key) > 0, f"{key!r} has no TTL"
        kind = client.type(key)
        if kind == b"hash":
            dump += b"".join(client.hgetall(key).values())
        elif kind == b"set":
            dump += b"".join(client.smembers(key))
        elif kind == b"string":
            dump += client.get(key)
        dump += key
    for secret in ("alice", "auth0|alice", seen["auth0.access_token"][:40], seen["auth0.id_token"][:40],
                   app.cookies["auth0_session"].rpartition(".")[0], "sid-1"):
        assert secret.encode() not in dump, f"{secret!r} is readable in Redis"


def test_redis_down_gives_503_then_recovers_without_restarting_the_app(fake):
    server = RedisServer().start()
    try:
        app = webtest.TestApp(Auth0Middleware(echo_app, **settings_for(fake, session_store=server.url)),
                              extra_environ={"HTTP_HOST": "app.test"})
        log_in(app)
        assert app.get("/x", headers=JSON).status_int == 200
        server.stop()
        response = app.get("/x", headers=JSON, status=503)
        assert response.json["error"] == "session_store_unavailable"
        assert response.headers["Retry-After"]
        assert app.get("/x", headers=HTML, status=503).content_type == "text/html"
        server.start()  # same port, empty: the session is gone, but the app serves again
        assert app.get("/x", headers=JSON, status=401).json["error"] == "login_required"
        log_in(app)
        assert app.get("/x", headers=JSON).status_int == 200
    finally:
        server.stop()


def test_memory_store_says_loudly_that_it_is_for_one_process(build_app, caplog):
    caplog.set_level(logging.WARNING)
    build_app(session_store="memory")
    assert any("one process" in r.getMessage() or "this process only" in r.getMessage()
               for r in caplog.records if r.levelno >= logging.WARNING)


def test_session_cache_seconds_spares_the_store_and_bounds_the_logout_delay(build_app, redis_url):
    clock = Clock()
    worker_a = build_app(session_store=redis_url, session_cache_seconds=1, clock=clock)
    worker_b = build_app(session_store=redis_url, session_cache_seconds=1, clock=clock)  # another process
    log_in(worker_a)
    cookie = worker_a.cookies["auth0_session"]
    worker_b.set_cookie("auth0_session", cookie)
    reads = []
    backend = worker_b.app.store.backend
    original = backend.read
    backend.read = lambda key: reads.append(key) or original(key)
    for _ in range(5):
        worker_b.get("/x", headers=JSON, status=200)
    assert len(reads) == 1  # one read, then the process's copy for a second
    worker_a.get("/logout")  # logged out through another process
    worker_b.get("/x", headers=JSON, status=200)  # still within the documented delay here
    clock.advance(1)  # session_cache_seconds
    worker_b.get("/x", headers=JSON, status=401)


def test_without_session_cache_a_logout_elsewhere_takes_effect_at_once(build_app, redis_url):
    worker_a = build_app(session_store=redis_url)
    worker_b = build_app(session_store=redis_url)
    log_in(worker_a)
    worker_b.set_cookie("auth0_session", worker_a.cookies["auth0_session"])
    worker_b.get("/x", headers=JSON, status=200)
    worker_a.get("/logout")
    worker_b.get("/x", headers=JSON, status=401)
