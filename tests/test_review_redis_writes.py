"""Review of the write side of server-side sessions and of what ends them (review-redis-writes).

Each test failed before its fix, and its docstring says what the defect was.
"""

from __future__ import annotations

import contextlib
import secrets
import time

import pytest
import redis
import webtest

from auth0_wsgi import Auth0Middleware, end_sessions
from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.session import Lifetime
from auth0_wsgi.stores.memory import MemoryBackend
from auth0_wsgi.stores.redis import RedisBackend, connect
from auth0_wsgi.stores.server import ServerSideStore
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.logout_tokens import logout_token
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS
from tests.support.session_values import make_session

SECRET = "s" * 40
SUB = "auth0|many-logins"


@pytest.fixture(params=["memory", *REDIS_PARAMS])
def server_store(request) -> str:
    return request.getfixturevalue(REDIS_FIXTURES[request.param]) if request.param != "memory" else "memory"


def _store(kind: str, rolling: int, clock) -> ServerSideStore:
    if kind == "memory":
        backend = MemoryBackend(clock)
    else:
        backend = RedisBackend(connect(kind, 2.0), f"review{secrets.token_hex(4)}:")
    return ServerSideStore("auth0_session", backend, [SECRET], Lifetime(rolling, 7 * 86400),
                           CookieOptions("/", False, "Lax"), clock)


@pytest.mark.slow  # the Redis variants wait for Redis' own clock to expire records (1 s lifetimes)
def test_a_users_sub_index_holds_only_the_sessions_that_may_still_live(server_store):
    """Was: a user's ``sub`` index set only ever grows. Every login adds its record key, nothing
    ever removes one (a session that ended by its rolling expiry or a logout stays a member), and
    each login pushes the set's TTL a whole absolute lifetime (7 days) ahead: a user who logs in at
    least once a week (any regular user, a synthetic-monitoring account logging in every few
    minutes) keeps a set holding every login ever made: Redis memory without bound, and each
    back-channel logout / ``end_sessions`` of that user reads and DELs every one of them (one DEL per
    slot on a Cluster), until it no longer fits in the 2 s timeout and the logout is a 503."""
    if server_store == "memory":
        clock: Clock | None = Clock()
        store = _store("memory", 60, clock)
    else:
        clock = None
        store = _store(server_store, 1, time.time)  # Redis expires records by its own clock
    logins = 6 if clock is not None else 4
    for number in range(logins):
        now = int(clock() if clock is not None else time.time())
        store.save({}, make_session(created_at=now, touched_at=now, sid=f"sid-{number}",
                                    user={"sub": SUB, "sid": f"sid-{number}"}))
        if number < logins - 1:  # the session ends (rolling expiry: inactive) before the next login
            if clock is not None:
                clock.advance(61)
            else:
                time.sleep(1.5)  # real time: Redis' own clock expires the record
    [sub_index] = store._index_keys(None, SUB, store._id_keys[0])
    members = store.backend.members(sub_index)
    live = [key for key in members if store.backend.read(key) is not None]
    assert len(live) == 1
    assert len(members) <= 2, f"{len(members)} members for one live session: the index only grows"


def _redis_app(fake, url: str) -> tuple[Auth0Middleware, webtest.TestApp]:
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=url,
                                                          key_prefix="r" + secrets.token_hex(4)))
    return middleware, webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})


def _poison_sub_index(middleware: Auth0Middleware, url: str) -> None:
    """What any client of that Redis can do without a secret: the index keys are in plain sight
    (``SCAN``), and a member that is not UTF-8 is one SADD away."""
    store = middleware.store
    [sub_index] = store._index_keys(None, "auth0|alice", store._id_keys[0])
    client = redis.Redis.from_url(url)
    name = middleware.config.namespace + sub_index
    if client.type(name) == b"zset":  # an index kept as a sorted set
        client.zadd(name, {b"\xff\xfe not ours": time.time() + 3600})
    else:
        assert client.type(name) == b"set"
        client.sadd(name, b"\xff\xfe not ours")


def test_a_non_utf8_member_in_an_index_set_does_not_turn_a_backchannel_logout_into_a_500(fake, redis_url):
    """Was: ``RedisBackend.members`` decodes every member as UTF-8 outside ``_guarded``: one member
    that is not (written by any client of that Redis, or damaged) raises UnicodeDecodeError out of
    ``revoke``, so the back-channel logout is a 500 (and ``?everywhere=1`` too), and none of the
    user's live sessions is deleted, at this delivery or at any retry of the provider."""
    middleware, browser = _redis_app(fake, redis_url)
    log_in(browser)
    browser.get("/x", headers=JSON, status=200)
    _poison_sub_index(middleware, redis_url)
    response = browser.post("/backchannel-logout", {"logout_token": logout_token(fake, sid=None)},
                            expect_errors=True)
    assert response.status_int == 200, response.status
    browser.get("/x", headers=JSON, status=401)


def test_a_non_utf8_member_in_an_index_set_does_not_stop_end_sessions(fake, redis_url):
    """Was (same root cause): ``end_sessions(app, sub)`` raises UnicodeDecodeError (documented to
    raise only TypeError, ValueError or StoreUnavailable) and ends none of the user's sessions."""
    middleware, browser = _redis_app(fake, redis_url)
    log_in(browser)
    _poison_sub_index(middleware, redis_url)
    assert end_sessions(middleware, "auth0|alice") >= 1
    browser.get("/x", headers=JSON, status=401)


@pytest.mark.parametrize(("member", "score"), [
    pytest.param(b"\xff not utf-8", None, id="non-utf8-member"),
    pytest.param(b"sid:junk", float("inf"), id="infinite-score"),
])
def test_one_odd_revocation_entry_does_not_stop_every_later_logout_reaching_this_process(
        fake, redis_url, member, score):
    """Was: ``RedisRevocations.poll`` turns every row with ``_text(member)`` and ``int(score)``:
    one member that is not UTF-8, or a ``+inf`` score (never pruned: ``ZREMRANGEBYSCORE 0 cutoff``),
    raises in every poll from then on. The poller logs it and goes on failing, so no back-channel
    logout received by another process or host reaches this one any more: it keeps serving the
    logged-out cookie sessions (revocation_store = redis://…)."""
    prefix = "v" + secrets.token_hex(4)
    settings = settings_for(fake, revocation_store=redis_url, key_prefix=prefix)
    here = Auth0Middleware(echo_app, **settings)
    there = Auth0Middleware(echo_app, **settings)  # another host: same app, same list
    browser = webtest.TestApp(here, extra_environ={"HTTP_HOST": "app.test"})
    log_in(browser)
    browser.get("/x", headers=JSON, status=200)
    revocations = here.store._revocations
    client = redis.Redis.from_url(redis_url)
    client.zadd(revocations._set_key, {member: score if score is not None else time.time()})
    other = webtest.TestApp(there, extra_environ={"HTTP_HOST": "app.test"})
    other.post("/backchannel-logout", {"logout_token": logout_token(fake)}, status=200)
    with contextlib.suppress(Exception):  # as the poller thread, every 5 s: it logs and goes on
        revocations.poll()
    browser.get("/x", headers=JSON, status=401)
