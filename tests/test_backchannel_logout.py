"""OpenID Connect Back-Channel Logout 1.0 against every store."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import RSAKey

from tests.support.clocks import Clock
from tests.support.flows import log_in
from tests.support.http import JSON
from tests.support.logout_tokens import logout_token


def post(app, token: str, status: int = 200):
    return app.post("/backchannel-logout", {"logout_token": token}, status=status)


def test_logout_token_ends_the_users_sessions(app, fake):
    log_in(app)
    app.get("/x", headers=JSON, status=200)
    response = post(app, logout_token(fake))
    assert response.headers["Cache-Control"] == "no-store"
    app.get("/x", headers=JSON, status=401)


def test_logout_by_sub_alone_ends_the_sessions(app, fake):
    log_in(app)
    post(app, logout_token(fake, sid=None))
    app.get("/x", headers=JSON, status=401)


def test_a_new_login_after_the_logout_works(make_app, fake):
    clock = Clock()
    app = make_app(clock=clock)
    log_in(app)
    post(app, logout_token(fake))
    log_in(app)  # in the same second: logout times are whole seconds, but this login is newer
    app.get("/x", headers=JSON, status=200)


def test_valid_token_for_a_user_without_session_is_200(app, fake):
    post(app, logout_token(fake, sub="auth0|nobody", sid="sid-unknown"))


def test_other_users_keep_their_sessions(app, fake):
    log_in(app)
    post(app, logout_token(fake, sub="auth0|bob", sid="sid-bob"))
    app.get("/x", headers=JSON, status=200)


def test_replayed_jti_is_refused(app, fake):
    token = logout_token(fake)
    post(app, token)
    assert post(app, token, status=400).json["error"] == "invalid_request"


@pytest.mark.parametrize("changes", [
    pytest.param({"iss": "https://evil.example/"}, id="iss"),
    pytest.param({"aud": "someone-else"}, id="aud"),
    pytest.param({"events": None}, id="no-events"),
    pytest.param({"events": {"http://schemas.openid.net/event/other": {}}}, id="other-event"),
    pytest.param({"nonce": "n"}, id="nonce"),
    pytest.param({"sub": None, "sid": None}, id="no-sub-no-sid"),
    pytest.param({"jti": None}, id="no-jti"),
    pytest.param({"iat": None}, id="no-iat"),
    pytest.param({"iat": int(time.time()) - 3600}, id="old-iat"),
    pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
])
def test_bad_logout_tokens_are_400_and_end_nothing(app, fake, changes):
    log_in(app)
    response = post(app, logout_token(fake, **changes), status=400)
    assert response.json["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"
    app.get("/x", headers=JSON, status=200)


def test_logout_token_signed_by_another_key_is_refused(app, fake):
    log_in(app)
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    post(app, logout_token(fake, key=other), status=400)
    app.get("/x", headers=JSON, status=200)


@pytest.mark.parametrize("send", [
    pytest.param(lambda app: app.get("/backchannel-logout", status=400), id="get"),
    pytest.param(lambda app: app.post("/backchannel-logout", "logout_token=x", content_type="text/plain",
                                      status=400), id="not-a-form"),
    pytest.param(lambda app: app.post("/backchannel-logout", {}, status=400), id="no-token"),
    pytest.param(lambda app: app.post("/backchannel-logout", "logout_token=a&logout_token=b", status=400),
                 id="two-tokens"),
])
def test_malformed_requests_are_400(app, send):
    assert send(app).json["error"] == "invalid_request"


def test_redis_revocation_list_reaches_cookie_sessions_in_other_processes(build_app, fake, any_redis_url,
                                                                         monkeypatch):
    from auth0_wsgi.stores import redis as redis_store

    monkeypatch.setattr(redis_store, "POLL_INTERVAL", 0.05)
    worker_a = build_app(session_store="cookie", revocation_store=any_redis_url)
    worker_b = build_app(session_store="cookie", revocation_store=any_redis_url)  # another process's view
    log_in(worker_a)
    worker_b.set_cookie("auth0_session", worker_a.cookies["auth0_session"])
    worker_b.get("/x", headers=JSON, status=200)
    post(worker_a, logout_token(fake))
    deadline = time.monotonic() + 5
    while worker_b.get("/x", headers=JSON, expect_errors=True).status_int == 200:
        assert time.monotonic() < deadline, "the logout never reached the other process"
        time.sleep(0.05)  # real time: the poller is a thread reading Redis every POLL_INTERVAL
    worker_b.get("/x", headers=JSON, status=401)


class _FailsOnce:
    """Wraps a registry method: the first call raises as a Redis outage does, the next ones pass."""

    def __init__(self, method):
        self.method = method
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            from auth0_wsgi.stores.server import StoreUnavailable
            raise StoreUnavailable("The session store is unavailable; please try again shortly.")
        return self.method(*args, **kwargs)


@pytest.mark.parametrize("step", [
    pytest.param("revoke", id="ending-the-sessions-fails"),
    pytest.param("claim_once", id="remembering-the-jti-fails"),
])
def test_a_logout_that_failed_half_way_is_done_by_the_providers_retry(app, fake, monkeypatch, step):
    """The jti is remembered only once the sessions are ended: a retry of the same token must work."""
    log_in(app)
    logouts = app.app.collaborators.logouts
    monkeypatch.setattr(logouts, step, _FailsOnce(getattr(logouts, step)))
    token = logout_token(fake)
    assert post(app, token, status=503).json["error"] == "session_store_unavailable"
    post(app, token)  # the provider retries the same token
    app.get("/x", headers=JSON, status=401)
    assert post(app, token, status=400).json["error"] == "invalid_request"  # a replay after success


def test_a_redis_outage_during_a_cookie_session_logout_is_retried(build_app, fake, redis_url, monkeypatch):
    """The revocation list in Redis: its write fails once (Redis down), the retry ends the session."""
    from redis.client import Pipeline
    from redis.exceptions import ConnectionError as RedisConnectionError

    app = build_app(session_store="cookie", revocation_store=redis_url)
    log_in(app)
    original, calls = Pipeline.execute, []

    def execute_failing_once(pipeline, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RedisConnectionError("Redis went away")
        return original(pipeline, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", execute_failing_once)
    token = logout_token(fake)
    assert post(app, token, status=503).json["error"] == "session_store_unavailable"
    post(app, token)
    app.get("/x", headers=JSON, status=401)
    assert post(app, token, status=400).json["error"] == "invalid_request"


def test_a_discarded_apps_revocation_poller_stops(redis_url, monkeypatch):
    """The poller holds its list weakly: an app thrown away (a test's, a reloaded one) stops polling
    instead of polling for ever, and logging each failure once its Redis is gone."""
    import gc

    from auth0_wsgi.stores import redis as redis_store

    monkeypatch.setattr(redis_store, "POLL_INTERVAL", 0.05)
    revocations = redis_store.RedisRevocations(redis_store.connect(redis_url, 2.0), ("s" * 40,), 3600,
                                               namespace="auth0wsgi:poller-test:")
    revocations._start_polling()
    poller = revocations._poller
    assert poller is not None and poller.is_alive()
    del revocations
    gc.collect()
    poller.join(2)
    assert not poller.is_alive()


# -- on_logout: a provider-initiated logout is a logout too ------------------------------------
def test_on_logout_is_told_of_a_back_channel_logout_once_with_the_token_s_ids(make_app, fake):
    told: list[tuple[str, dict[str, object]]] = []
    app = make_app(on_logout=lambda environ, claims: told.append((environ["PATH_INFO"], claims)))
    log_in(app)
    token = logout_token(fake)
    post(app, token)
    assert told == [("/backchannel-logout", {"sub": "auth0|alice", "sid": "sid-1"})]
    post(app, token, status=400)  # the same token again: refused, and the hook is not told twice
    post(app, logout_token(fake, sub="auth0|bob", sid=None))  # no session here: told all the same
    assert told[1:] == [("/backchannel-logout", {"sub": "auth0|bob"})]


def test_an_on_logout_that_raises_still_ends_the_sessions_and_answers_200(make_app, fake, caplog):
    def broken(environ, claims):
        raise RuntimeError(f"audit down for {claims}")
    app = make_app(on_logout=broken)
    log_in(app)
    post(app, logout_token(fake))
    app.get("/x", headers=JSON, status=401)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "on_logout hook" in logged and "RuntimeError" in logged and "auth0|alice" not in logged


def test_a_refused_logout_token_tells_on_logout_nothing(make_app, fake):
    told: list[dict[str, object]] = []
    app = make_app(on_logout=lambda environ, claims: told.append(claims))
    log_in(app)
    post(app, logout_token(fake, aud="someone-else"), status=400)
    post(app, "not.a.jwt", status=400)
    assert told == []
    app.get("/x", headers=JSON, status=200)


def test_a_login_after_a_logout_recorded_by_a_clock_since_stepped_back_works(make_app, fake):
    """A logout by ``sub`` is recorded at our clock's time; stepped back since (an NTP correction,
    a restored VM), every new login of that user was created "before" it, and was refused until the
    clock passed that time again: a login loop. A login completed after the logout was recorded is
    newer than it, whatever the clocks say."""
    clock = Clock()
    app = make_app(clock=clock)
    log_in(app)
    old_cookies = dict(app.cookies)
    clock.advance(600)  # the clock runs ten minutes ahead when the provider's logout arrives
    post(app, logout_token(fake, sid=None, iat=int(clock.now), exp=int(clock.now) + 120))
    clock.advance(-600)  # then is stepped back to the right time
    app.get("/x", headers=JSON, status=401)
    log_in(app)
    app.get("/x", headers=JSON, status=200)
    for name, value in old_cookies.items():  # the session from before the logout stays refused
        app.set_cookie(name, value)
    app.get("/x", headers=JSON, status=401)
