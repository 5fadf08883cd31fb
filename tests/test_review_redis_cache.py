"""Review of the Redis server-side store and its per-process caches (stores/server.py, stores/redis.py,
stores/redis_tracking.py, stores/redis_listeners.py, stores/redis_connect.py, redis_urls.py): each
test failed before its fix."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
import redis
import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.servers import free_port
from tests.support.tracking import DEADLINE, tracked_records, within


def _prefix() -> str:
    return "t" + secrets.token_hex(4)  # this test's own keys in the session-wide Redis


def _status(app: webtest.TestApp) -> int:
    return app.get("/x", headers=JSON, expect_errors=True).status_int


def _record(app: webtest.TestApp) -> str:
    """The Redis key of ``app``'s session record."""
    middleware = app.app
    return middleware.config.namespace + middleware.store.record_key(
        app.cookies["auth0_session"].strip('"').rpartition(".")[0])


def _cached(app: webtest.TestApp) -> None:
    records = tracked_records(app)
    assert within(5, lambda: records.live) is not None, "the listener never subscribed"
    assert _status(app) == 200
    assert records.get(_record(app)) is not None, "the record was not cached"


def _two(build_app: Any, url: str) -> tuple[webtest.TestApp, webtest.TestApp]:
    """Two middlewares (two workers) on one Redis, one session, cached by the second."""
    prefix = _prefix()
    worker_a = build_app(session_store=url, key_prefix=prefix)
    worker_b = build_app(session_store=url, key_prefix=prefix)
    log_in(worker_a)
    worker_b.set_cookie("auth0_session", worker_a.cookies["auth0_session"])
    _cached(worker_b)
    return worker_a, worker_b


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_key_that_is_not_utf8_kills_the_listener_and_the_cache_serves_a_logged_out_session(
        build_app, redis_url):
    """An invalidation naming a key that is not UTF-8 (any client that writes a binary key under
    our namespace) raised UnicodeDecodeError in TrackedRecords.heard, which the listener did not
    catch: it died without calling lost(), the cache stayed live with nobody listening, and a logout
    made through another worker was never heard here."""
    worker_a, worker_b = _two(build_app, redis_url)
    namespace = worker_b.app.config.namespace.encode()
    redis.Redis.from_url(redis_url).set(namespace + b"\xff\xfe", b"x", ex=60)
    records = tracked_records(worker_b)
    within(0.3, lambda: False)  # real time: let the invalidation reach the listener
    worker_a.get("/logout")
    refused = within(DEADLINE, lambda: _status(worker_b) == 401)
    assert refused is not None, (
        f"worker B still serves the logged-out session (cache live={records._live}, "
        f"listener ids={records.listener_ids})")


@pytest.mark.parametrize("fields", [
    pytest.param({"v": "not-a-number"}, id="version-not-a-number"),
    pytest.param({"v": "1.5"}, id="version-a-float"),
])
def test_a_record_with_a_garbage_version_is_no_session_not_a_500(build_app, redis_url, fields):
    """RedisBackend.read did int(version) on whatever the hash's ``v`` field held: a value that is
    not an integer raised ValueError out of the middleware (a 500 with a traceback)."""
    app = build_app(session_store=redis_url, key_prefix=_prefix(), session_cache="off")
    log_in(app)
    assert _status(app) == 200
    redis.Redis.from_url(redis_url).hset(_record(app), mapping=fields)
    try:
        status = _status(app)
    except Exception as exc:  # what a WSGI server would turn into a 500
        pytest.fail(f"the request raised {type(exc).__name__}: {exc}")
    assert status in (401, 503)


def test_a_password_given_as_a_url_query_argument_is_not_logged(fake, caplog):
    """redis-py takes ``?password=`` from a Redis URL's query, but redact() masked only the
    userinfo: the start-up warning for a Redis that does not answer printed the password."""
    password = "Pw" + secrets.token_hex(12)
    url = f"redis://127.0.0.1:{free_port()}/0?password={password}"
    with caplog.at_level(logging.WARNING, logger="auth0_wsgi"):
        Auth0Middleware(echo_app, **settings_for(fake, session_store=url))
    assert "does not answer a PING" in caplog.text
    assert password not in caplog.text


def test_a_process_forked_while_a_listener_held_the_cache_lock_does_not_hang(redis_url):
    """TrackedRecords._lock is taken by the listener thread at every invalidation (heard -> drop).
    A process forked at that moment (os.fork, multiprocessing's fork start method) inherited the
    lock held by a thread that does not exist in the child: the child's first read waited on it
    for ever (forks.py now gives a child fresh locks)."""
    import os
    import signal
    import threading

    from auth0_wsgi.stores.redis_tracking import TrackedRecords

    records = TrackedRecords(redis.Redis.from_url(redis_url), f"auth0wsgi:{_prefix()}:")
    assert within(5, lambda: records.live) is not None
    holding, release = threading.Event(), threading.Event()

    def an_invalidation_being_applied() -> None:  # what heard() -> drop() does, held for the fork
        with records._lock:
            holding.set()
            release.wait(10)
    thread = threading.Thread(target=an_invalidation_being_applied, daemon=True)
    thread.start()
    holding.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: one read, as its first request would make
        signal.alarm(3)  # the default action ends the child: a hang becomes "killed by SIGALRM"
        records.get("auth0wsgi:any")
        os._exit(0)
    release.set()
    _, status = os.waitpid(pid, 0)
    thread.join(5)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, \
        "the forked child hung on the cache lock its parent's listener held"



def test_a_supervisor_turn_that_fails_turns_the_cache_off_until_one_succeeds(build_app, redis_url,
                                                                             monkeypatch):
    """A supervisor that raised something unexpected ended, and its finally stopped every listener
    without telling the cache: it stayed live with nobody listening. A turn that fails is now a loss,
    and the next turn that succeeds turns the cache on again."""
    from auth0_wsgi.stores import redis_listeners

    app = build_app(session_store=redis_url, key_prefix=_prefix())
    log_in(app)
    _cached(app)
    records = tracked_records(app)
    real = redis_listeners.masters

    def broken(client: Any) -> Any:
        raise ValueError("an answer we did not expect")
    monkeypatch.setattr(redis_listeners, "masters", broken)
    records.wake.set()
    assert within(5, lambda: not records.live) is not None, "a failed turn left the cache on"
    monkeypatch.setattr(redis_listeners, "masters", real)
    records.wake.set()
    assert within(5, lambda: records.live) is not None, "the cache never came back"
    assert _status(app) == 200
