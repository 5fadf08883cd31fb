"""session_cache = tracking (stores/redis_tracking.py): records kept in each process while Redis reports
every change; a logout, refresh or back-channel logout anywhere reaches every process within 1 s."""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from auth0_wsgi.stores.redis_tracking import TrackedRecords, TrackingBackend
from tests.support.clocks import Clock
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.support.flows import SECRET, log_in
from tests.support.gunicorn import gunicorn
from tests.support.http import JSON
from tests.support.logout_tokens import logout_token
from tests.support.redis_server import RedisServer
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS
from tests.support.servers import free_port
from tests.support.tracking import DEADLINE, tracked_records, within


def _cached(app: Any) -> None:
    """Waits until this middleware's listener is subscribed, then reads the session into its cache."""
    records = tracked_records(app)
    assert within(5, lambda: records.live) is not None, "the listener never subscribed"
    app.get("/x", headers=JSON, status=200)  # a read while live: kept
    assert records._entries, "the record was not cached"


def _refuses(app: Any) -> bool:
    return app.get("/x", headers=JSON, expect_errors=True).status_int == 401


def _counting_reads(app: Any) -> list[str]:
    reads: list[str] = []
    inner = app.app.store.backend.backend
    original = inner.read
    inner.read = lambda key: reads.append(key) or original(key)
    return reads


def _two(build_app: Any, url: str) -> tuple[Any, Any]:
    """Two middlewares on one Redis, as two workers would be (each with its own listeners and cache)."""
    worker_a, worker_b = build_app(session_store=url), build_app(session_store=url)
    log_in(worker_a)
    worker_b.set_cookie("auth0_session", worker_a.cookies["auth0_session"])
    _cached(worker_a)
    _cached(worker_b)
    return worker_a, worker_b


@pytest.fixture(params=REDIS_PARAMS)
def two_processes(request, build_app):
    """:func:`_two` on each kind of Redis: one node, a Sentinel set's master, every Cluster master."""
    return _two(build_app, request.getfixturevalue(REDIS_FIXTURES[request.param]))


def test_a_cached_record_spares_redis(two_processes):
    _, worker_b = two_processes
    reads = _counting_reads(worker_b)
    for _ in range(10):
        worker_b.get("/x", headers=JSON, status=200)
    assert reads == []


def test_a_logout_through_one_process_is_refused_by_the_other_within_a_second(two_processes):
    worker_a, worker_b = two_processes
    worker_a.get("/logout")
    elapsed = within(DEADLINE, lambda: _refuses(worker_b))
    assert elapsed is not None, "the other process still served the logged-out session after 1 s"


def test_a_backchannel_logout_through_one_process_is_refused_by_the_other_within_a_second(two_processes,
                                                                                          fake):
    worker_a, worker_b = two_processes
    worker_a.post("/backchannel-logout", {"logout_token": logout_token(fake)}, status=200)
    elapsed = within(DEADLINE, lambda: _refuses(worker_b))
    assert elapsed is not None, "the other process still served the ended session after 1 s"


def test_a_refresh_through_one_process_reaches_the_other_within_a_second(build_app, redis_url, fake):
    clock_a = Clock()  # only the first process sees its token near expiry: the other never refreshes
    worker_a = build_app(session_store=redis_url, clock=clock_a)
    worker_b = build_app(session_store=redis_url)
    log_in(worker_a)
    worker_b.set_cookie("auth0_session", worker_a.cookies["auth0_session"])
    _cached(worker_a)
    _cached(worker_b)
    old = worker_b.get("/x", headers=JSON).json["auth0.access_token"]
    clock_a.advance(fake.access_token_ttl - 30)  # inside the 60 s leeway
    new = worker_a.get("/x", headers=JSON).json["auth0.access_token"]
    assert new != old and fake.counts["grant:refresh_token"] == 1
    elapsed = within(DEADLINE, lambda: worker_b.get("/x", headers=JSON).json["auth0.access_token"] == new)
    assert elapsed is not None, "the other process still served the old token after 1 s"
    assert fake.counts["grant:refresh_token"] == 1  # it read the new record, it did not refresh itself


def test_with_the_invalidation_connection_cut_every_request_reads_redis_until_it_is_back(
        build_app, redis_url, monkeypatch):
    _, worker_b = _two(build_app, redis_url)
    records = tracked_records(worker_b)
    subscribe = records.subscribe
    reconnect = {"allowed": False}

    def gated(*args: Any, **kwargs: Any) -> Any:
        if not reconnect["allowed"]:
            raise redis.ConnectionError("held down by the test")
        return subscribe(*args, **kwargs)
    monkeypatch.setattr(records, "subscribe", gated)
    redis.Redis.from_url(redis_url).client_kill_filter(_id=records.listener_ids[""])
    assert within(5, lambda: not records.live) is not None
    reads = _counting_reads(worker_b)
    for _ in range(5):
        worker_b.get("/x", headers=JSON, status=200)
    assert len(reads) == 5  # no cached record while nobody tells this process of changes

    reconnect["allowed"] = True
    assert within(5, lambda: records.live) is not None, "the listener did not come back"
    worker_b.get("/x", headers=JSON, status=200)  # read once, while live: kept
    for _ in range(5):
        worker_b.get("/x", headers=JSON, status=200)
    assert len(reads) == 6


def test_a_redis_restart_empties_the_cache_and_the_listener_comes_back(build_app, fake):
    server = RedisServer().start()
    try:
        worker = build_app(session_store=server.url)
        log_in(worker)
        _cached(worker)
        records = tracked_records(worker)
        server.stop()
        assert within(5, lambda: not records.live) is not None
        assert not records._entries
        worker.get("/x", headers=JSON, status=503)  # never a cached record while Redis is away
        server.start()  # empty: the session is gone, and the cache must not remember it
        assert within(5, lambda: records.live) is not None
        worker.get("/x", headers=JSON, status=401)
    finally:
        server.stop()


def test_a_cached_record_is_never_served_past_its_own_lifetime(build_app, redis_url):
    clock = Clock()  # Redis' TTL runs on real time; the record's lifetime, on the middleware's clock
    worker = build_app(session_store=redis_url, session_rolling_duration=60, clock=clock)
    log_in(worker)
    _cached(worker)
    clock.advance(61)
    worker.get("/x", headers=JSON, status=401)


def test_an_invalidation_that_overtakes_the_read_it_makes_stale_keeps_it_out(redis_url):
    records = TrackedRecords(redis.Redis.from_url(redis_url), "auth0wsgi:test-race:")
    assert within(5, lambda: records.live) is not None
    token = records.begin("auth0wsgi:test-race:k")
    records.drop(["auth0wsgi:test-race:k"])  # the invalidation of a write that followed our read
    records.offer("auth0wsgi:test-race:k", token, (b"stale", 1))
    assert records.get("auth0wsgi:test-race:k") is None
    token = records.begin("auth0wsgi:test-race:k")
    records.offer("auth0wsgi:test-race:k", token, (b"fresh", 2))
    assert records.get("auth0wsgi:test-race:k") == (b"fresh", 2)
    redis.Redis.from_url(redis_url).set("auth0wsgi:test-race:k", b"x", ex=5)  # anyone's write
    assert within(DEADLINE, lambda: records.get("auth0wsgi:test-race:k") is None) is not None


def test_session_cache_off_reads_redis_on_every_request(build_app, redis_url):
    app = build_app(session_store=redis_url, session_cache="off")
    log_in(app)
    assert not isinstance(app.app.store.backend, TrackingBackend)


def test_session_cache_seconds_still_works_and_says_it_is_deprecated(build_app, redis_url, caplog):
    with caplog.at_level(logging.WARNING, logger="auth0_wsgi"):
        app = build_app(session_store=redis_url, session_cache_seconds=5)
    assert "session_cache_seconds is deprecated" in caplog.text
    assert "session_cache = tracking" in caplog.text
    log_in(app)
    app.get("/x", headers=JSON, status=200)


# -- two real processes: gunicorn workers -------------------------------------------------------------

def _environment(fake: FakeProvider, port: int, lock_dir: Path, redis_url: str) -> dict[str, str]:
    return {"AUTH0_ISSUER": fake.issuer, "AUTH0_CLIENT_ID": CLIENT_ID, "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
            "AUTH0_BASE_URL": f"http://127.0.0.1:{port}", "AUTH0_SECRET": SECRET, "AUTH0_AUDIENCE": AUDIENCE,
            "AUTH0_REFRESH_LOCK_DIR": str(lock_dir), "AUTH0_SESSION_STORE": redis_url}


def _users_by_worker(url: str, cookie: str, attempts: int = 200, *, every: bool = False) -> dict[int, bool]:
    """pid of each worker that answered ``/health`` (public) -> whether it last saw the user; stops
    once both did, unless ``every`` attempt is wanted."""
    seen: dict[int, bool] = {}
    for _ in range(attempts):
        body = requests.get(url + "/health", headers={**JSON, "Cookie": cookie}, timeout=10).json()
        seen[body["pid"]] = "REMOTE_USER" in body
        if not every and len(seen) == 2 and all(seen.values()):
            break
    return seen


@pytest.mark.slow
def test_a_logout_reaches_every_gunicorn_worker_within_a_second(fake, redis_url, tmp_path):
    port = free_port()
    env = _environment(fake, port, tmp_path / "locks", redis_url)
    server = redis.Redis.from_url(redis_url)
    with gunicorn("tests/testing.ini", port, env, workers=2) as url:
        http = requests.Session()
        assert http.get(url + "/login", timeout=10).status_code == 200  # through the provider and back
        cookie = "auth0_session=" + http.cookies["auth0_session"]
        reads, seen = -1, {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # real time: both workers' listeners subscribe
            before = int(server.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0))
            seen = _users_by_worker(url, cookie, attempts=50, every=True)
            reads = int(server.info("commandstats")["cmdstat_hgetall"]["calls"]) - before
            if len(seen) == 2 and all(seen.values()) and reads <= 2:
                break
        assert len(seen) == 2 and all(seen.values()), seen
        assert reads <= 2, reads  # 50 requests: the workers serve their copies

        assert requests.get(url + "/logout", headers={"Cookie": cookie}, allow_redirects=False,
                            timeout=10).status_code in (302, 303)
        refused: set[int] = set()

        def every_worker_refuses() -> bool:
            body = requests.get(url + "/health", headers={**JSON, "Cookie": cookie}, timeout=10).json()
            if "REMOTE_USER" in body:
                refused.discard(body["pid"])
            else:
                refused.add(body["pid"])
            return len(refused) == 2
        elapsed = within(DEADLINE, every_worker_refuses)
        assert elapsed is not None, f"after 1 s only workers {refused} refused the logged-out cookie"
        print(f"logout to the last worker's refusal: {elapsed * 1000:.1f} ms")


def _subscribed(app: Any) -> None:
    records = tracked_records(app)
    assert within(10, lambda: records.live) is not None, "the listeners never subscribed"


@pytest.mark.parametrize("kind", REDIS_PARAMS)
def test_a_discarded_apps_listener_threads_end(build_app, request, kind):
    """The threads hold the cache weakly and let go of it while they wait: an app thrown away (a
    test's, a reloaded one) ends its supervisor and listeners instead of keeping them, reconnecting
    for ever once its Redis is gone (a thousand of them slowed the suite to twice its time)."""
    before = set(threading.enumerate())
    apps = [build_app(session_store=request.getfixturevalue(REDIS_FIXTURES[kind]))]  # the only reference
    _subscribed(apps[0])
    _assert_its_threads_end_when_discarded(apps, before)


def test_a_discarded_apps_listener_threads_end_while_its_redis_is_down(build_app):
    """Waiting between reconnections, a listener must not hold the failed attempt's exception: its
    traceback holds the cache, and the app would then live (and reconnect) for ever."""
    before = set(threading.enumerate())
    server = RedisServer().start()
    try:
        apps = [build_app(session_store=server.url)]  # the only reference
        _subscribed(apps[0])
    finally:
        server.stop()
    records = weakref.ref(tracked_records(apps[0]))  # weakly: the app must be free to go
    assert within(10, lambda: not records().live) is not None, "the lost connection went unnoticed"
    time.sleep(0.3)  # real time: let the listeners fail to reconnect and start waiting to retry
    _assert_its_threads_end_when_discarded(apps, before)


def _assert_its_threads_end_when_discarded(holder: list[Any], before: set[threading.Thread]) -> None:
    """Drops the app (``holder`` holds the only reference) and waits for its threads' end."""
    ours = [t for t in threading.enumerate()
            if t not in before and t.name.startswith("auth0-wsgi-invalidations")]
    assert ours
    holder.clear()
    gc.collect()
    for thread in ours:
        thread.join(5)
    assert not [t.name for t in ours if t.is_alive()]
