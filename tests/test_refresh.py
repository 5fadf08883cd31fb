"""Refresh ahead of expiry, once, with rotation; and every way it can fail (fake provider)."""

from __future__ import annotations

import itertools
import threading

import pytest
import requests
import webtest

from auth0_wsgi import Auth0Middleware, api_session, refresh_access_token
from auth0_wsgi.config import Config
from auth0_wsgi.coordination import RESULT_TTL, LocalCoordinator
from auth0_wsgi.errors import ProviderUnavailable
from auth0_wsgi.oidc import OIDCClient
from auth0_wsgi.refresh import MAX_BACKOFF, Refresher
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.session import Session
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import BASE_URL, log_in, settings_for
from tests.support.http import HTML, JSON
from tests.support.servers import serve


@pytest.fixture
def short_lived(fake):
    """Tokens that live 30 s: inside the default 60 s leeway, so the next request refreshes."""
    fake.access_token_ttl = 30
    return fake


def _token(app) -> str:
    return app.get("/x", headers=JSON).json["auth0.access_token"]


def test_no_refresh_while_the_token_is_far_from_expiry(app, fake):
    log_in(app)
    _token(app)
    _token(app)
    assert fake.counts["grant:refresh_token"] == 0


def test_token_inside_the_leeway_is_refreshed_before_the_app_runs(app, short_lived, session_store):
    log_in(app)
    first_refresh_token = next(iter(short_lived.refresh_tokens))
    before = app.cookies["auth0_session"]
    response = app.get("/x", headers=JSON)
    assert short_lived.counts["grant:refresh_token"] == 1
    assert short_lived.last_token_request["refresh_token"] == first_refresh_token
    assert "scope" not in short_lived.last_token_request  # a refresh never widens the scope
    if session_store == "cookie":
        assert app.cookies["auth0_session"] != before  # the rotated refresh token is in the cookie
    else:
        assert app.cookies["auth0_session"] == before  # same id; the record holds the new tokens
    assert first_refresh_token not in short_lived.refresh_tokens  # the old one is spent
    # the next request uses the rotated refresh token
    app.get("/x", headers=JSON)
    assert short_lived.counts["grant:refresh_token"] == 2
    assert short_lived.last_token_request["refresh_token"] != first_refresh_token
    assert response.json["auth0.user"]["sub"] == "auth0|alice"


def test_request_with_the_rotated_out_cookie_gets_the_new_tokens_without_a_grant(build_app,
                                                                                short_lived):
    app = build_app()
    log_in(app)
    old_cookie = app.cookies["auth0_session"]
    new_token = _token(app)
    assert short_lived.counts["grant:refresh_token"] == 1
    app.set_cookie("auth0_session", old_cookie)  # a request that read the cookie before the rotation
    assert _token(app) == new_token
    assert short_lived.counts["grant:refresh_token"] == 1


def test_revoked_refresh_token_ends_the_session(app, short_lived):
    log_in(app, "/")
    short_lived.refresh_tokens.clear()  # revoked at the provider: invalid_grant
    response = app.get("/reports?id=3", headers=HTML)
    assert response.status_int == 302
    assert response.headers["Location"] == f"{BASE_URL}/login?return_to=/reports%3Fid%3D3"
    assert "auth0_session" not in app.cookies


def test_revoked_refresh_token_gives_xhr_a_401(app, short_lived):
    log_in(app)
    short_lived.refresh_tokens.clear()
    assert app.get("/api", headers=JSON, status=401).json["error"] == "login_required"


def test_provider_down_serves_a_token_that_has_not_expired(app, short_lived):
    log_in(app)
    token = app.get("/x", headers=JSON).json["auth0.access_token"]  # refreshed once: fine
    short_lived.token_mode = "500"
    assert _token(app) == token  # served, not ended
    assert "auth0_session" in app.cookies


def test_provider_down_with_an_expired_token_is_a_503_and_the_session_survives(make_app, fake):
    fake.access_token_ttl = 0  # expired at once
    clock = Clock()
    app = make_app(refresh_leeway=0, clock=clock)
    log_in(app)
    fake.token_mode = "500"
    response = app.get("/x", headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"] == "1"
    assert fake.counts["grant:refresh_token"] == 1
    fake.token_mode = "ok"
    response = app.get("/x", headers=JSON, status=503)  # back, but within the backoff: not asked
    assert response.headers["Retry-After"] == "1"
    assert fake.counts["grant:refresh_token"] == 1
    clock.advance(1)
    assert _token(app)  # after Retry-After the same session refreshes and carries on
    assert fake.counts["grant:refresh_token"] == 2


def test_expired_token_without_refresh_token_sends_the_browser_to_login(make_app, fake):
    fake.access_token_ttl = 1
    clock = Clock()
    app = make_app(refresh_leeway=0, scope="openid profile email", clock=clock)
    log_in(app)
    clock.advance(1.2)
    assert app.get("/page", headers=HTML).status_int == 302
    log_in(app)
    clock.advance(1.2)
    assert app.get("/page", headers=JSON, status=401).json["error"] == "login_required"


def test_refreshed_id_token_for_another_user_ends_the_session(app, short_lived):
    log_in(app)
    short_lived.refresh_sub = "auth0|mallory"
    app.get("/x", headers=JSON, status=401)


def test_response_without_expires_in_uses_the_jwt_exp(app, fake, monkeypatch):
    original = fake._tokens

    def without_expires_in(nonce, offline, sub=None):
        response = original(nonce, offline, sub)
        body = response.json
        del body["expires_in"]
        response.json = body
        return response

    monkeypatch.setattr(fake, "_tokens", without_expires_in)
    fake.access_token_ttl = 30
    log_in(app)
    _token(app)
    assert fake.counts["grant:refresh_token"] == 1  # exp from the JWT put it inside the leeway


def test_many_simultaneous_requests_make_exactly_one_refresh_grant(fake):
    middleware = Auth0Middleware(echo_app, **settings_for(fake))
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    fake.access_token_ttl = 30  # inside the leeway: the first request after login refreshes
    log_in(app)
    cookie = f"auth0_session={app.cookies['auth0_session']}"
    fake.token_delay = 0.3  # the refresh is slow, so every request arrives while it runs
    before = fake.counts["grant:refresh_token"]
    results: list[tuple[int, str]] = []
    with serve(middleware) as url:
        barrier = threading.Barrier(24)

        def one_request() -> None:
            barrier.wait()
            r = requests.get(url + "/x", headers={**JSON, "Cookie": cookie}, timeout=10)
            results.append((r.status_code, r.json().get("auth0.access_token", "")))

        threads = [threading.Thread(target=one_request) for _ in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert [status for status, _ in results] == [200] * 24
    assert len({token for _, token in results}) == 1
    assert fake.counts["grant:refresh_token"] - before == 1


def _api(expected_tokens: list[str], calls: list[str]):
    """A tiny API: accepts only the newest token it was told about."""
    def api(environ, start_response):
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        calls.append(token)
        if token != expected_tokens[-1]:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"secret data"]
    return api


def test_api_session_sends_the_bearer_and_refreshes_once_on_invalid_token(fake):
    calls: list[str] = []
    expected: list[str] = []
    with serve(_api(expected, calls)) as api_url:
        def view(environ, start_response):
            response = api_session(environ).get(api_url + "/messages", timeout=5)
            body = f"{response.status_code}:{response.text}".encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]

        app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)),
                              extra_environ={"HTTP_HOST": "app.test"})
        log_in(app)
        expected.append("a-token-the-api-prefers")  # the API no longer accepts the session's token
        before = fake.counts["grant:refresh_token"]
        # after the refresh the API accepts exactly the new token the middleware obtained
        original_refresh = fake._refresh_grant

        def refresh_and_tell_api(form):
            response = original_refresh(form)
            expected.append(response.json["access_token"])
            return response

        fake._refresh_grant = refresh_and_tell_api
        try:
            assert app.get("/call").text == "200:secret data"
        finally:
            del fake._refresh_grant
        assert fake.counts["grant:refresh_token"] - before == 1
        assert len(calls) == 2 and calls[0] != calls[1]
        # the rotated tokens reached the cookie: the next call needs no refresh
        calls.clear()
        assert app.get("/call").text == "200:secret data"
        assert len(calls) == 1


def test_api_session_gives_up_after_one_retry(fake):
    calls: list[str] = []
    with serve(_api(["never-valid"], calls)) as api_url:
        def view(environ, start_response):
            status = api_session(environ).get(api_url, timeout=5).status_code
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(status).encode()]

        app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)),
                              extra_environ={"HTTP_HOST": "app.test"})
        log_in(app)
        assert app.get("/").text == "401"
        assert len(calls) == 2


def test_views_can_force_a_refresh(fake):
    def view(environ, start_response):
        old = environ["auth0.access_token"]
        new = refresh_access_token(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{old != new}:{environ['auth0.access_token'] == new}".encode()]

    app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)),
                          extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    cookie = app.cookies["auth0_session"]
    assert app.get("/").text == "True:True"
    assert fake.counts["grant:refresh_token"] == 1
    assert app.cookies["auth0_session"] != cookie


def test_refresh_access_token_outside_the_middleware_says_why():
    with pytest.raises(RuntimeError, match="behind the auth0 filter"):
        refresh_access_token({})


def test_a_response_carrying_a_refreshed_session_is_never_cached(fake):
    def cacheable(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "public, max-age=600")])
        return [b"ok"]

    app = webtest.TestApp(Auth0Middleware(cacheable, **settings_for(fake)),
                          extra_environ={"HTTP_HOST": "app.test"})
    fake.access_token_ttl = 30
    log_in(app)
    response = app.get("/page")  # refreshes: the new session rides on this response
    assert any(k == "Set-Cookie" for k, _ in response.headerlist)
    assert response.headers.getall("Cache-Control") == ["no-store"]
    fake.access_token_ttl = 3600
    log_in(app)
    assert app.get("/page").headers["Cache-Control"] == "public, max-age=600"  # untouched otherwise


# -- the Refresher alone, with an injected clock ---------------------------------------------------------

class SharedCache:
    """A refresh-result cache that whoever can write to Redis or the lock directory controls:
    it records each sealed result by key, and answers ``planted`` for every key once set."""

    def __init__(self) -> None:
        self.results: dict[str, bytes] = {}
        self.planted: bytes | None = None

    def run_once(self, key, produce, timeout, keep=RESULT_TTL):
        if self.planted is not None:
            return self.planted
        self.results[key] = produce()
        return self.results[key]


def _refresher(fake, clock, coordinator=None, **settings) -> Refresher:
    config = Config.from_settings(settings_for(fake, **settings))
    return Refresher(config, OIDCClient(config), coordinator or LocalCoordinator(),
                     Sealer(config.secret, "refresh"), clock=clock)


def _session(fake, clock, *, expires_in: int, refresh_token: str = "rt-alice",
             sub: str = "auth0|alice") -> Session:
    now = int(clock())
    return Session(id_token="h.e.s", access_token=f"old-access-token-of-{sub}", expires_at=now + expires_in,
                   refresh_token=refresh_token, created_at=now, touched_at=now,
                   user={"sub": sub, "iss": fake.issuer})


def test_refresh_backoff_doubles_from_one_second_up_to_max_backoff(fake):
    """While the provider is down, a due (unexpired) token is retried after 1, 2, 4, … s, then MAX_BACKOFF."""
    clock = Clock(1_700_000_000.0)
    refresher = _refresher(fake, clock, refresh_leeway=3600)
    session = _session(fake, clock, expires_in=3000)  # due for 3000 s, expired never during the test
    fake.token_mode = "500"
    tries: list[float] = []
    start = clock.now
    while clock.now < start + 200:
        before = fake.counts["grant:refresh_token"]
        assert refresher.ensure_fresh(session).session is session  # served with the current token
        if fake.counts["grant:refresh_token"] > before:
            tries.append(clock.now - start)
        clock.now += 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert gaps == [1, 2, 4, 8, 16, 32, MAX_BACKOFF, MAX_BACKOFF]


def test_expired_token_during_backoff_gets_a_503_without_calling_the_provider(fake):
    clock = Clock(1_700_000_000.0)
    refresher = _refresher(fake, clock, refresh_leeway=0)
    session = _session(fake, clock, expires_in=-10)
    fake.token_mode = "500"
    with pytest.raises(ProviderUnavailable) as first:
        refresher.ensure_fresh(session)
    assert fake.counts["grant:refresh_token"] == 1
    assert first.value.retry_after == 1
    for _ in range(5):  # the same second: backing off, the provider is spared
        with pytest.raises(ProviderUnavailable) as during:
            refresher.ensure_fresh(session)
        assert during.value.status == 503 and during.value.retry_after >= 1
    assert fake.counts["grant:refresh_token"] == 1
    clock.now += 1  # the backoff is over: one more try, then a longer wait
    with pytest.raises(ProviderUnavailable) as second:
        refresher.ensure_fresh(session)
    assert fake.counts["grant:refresh_token"] == 2
    assert second.value.retry_after == 2
    fake.token_mode = "ok"
    clock.now += 1
    with pytest.raises(ProviderUnavailable) as waiting:  # the provider is back, but the wait is not over
        refresher.ensure_fresh(session)
    assert waiting.value.retry_after == 1
    assert fake.counts["grant:refresh_token"] == 2


@pytest.mark.parametrize("error", [
    pytest.param(OverflowError("cannot convert float infinity to integer"), id="OverflowError"),
    pytest.param(RecursionError("maximum recursion depth exceeded"), id="RecursionError"),
    pytest.param(TypeError("unhashable type: 'dict'"), id="TypeError"),
    pytest.param(KeyError("access_token"), id="KeyError"),
])
@pytest.mark.parametrize("expires_in, served", [pytest.param(30, True, id="unexpired"),
                                                pytest.param(-1, False, id="expired")])
def test_unexpected_error_in_the_grant_is_a_transient_failure(fake, monkeypatch, error, expires_in, served):
    clock = Clock(1_700_000_000.0)
    refresher = _refresher(fake, clock)
    session = _session(fake, clock, expires_in=expires_in)
    calls: list[str] = []

    def broken(refresh_token: str) -> dict:
        calls.append(refresh_token)
        raise error

    monkeypatch.setattr(refresher._client, "refresh", broken)
    for _ in range(3):
        if served:
            outcome = refresher.ensure_fresh(session)
            assert outcome.session is session and not outcome.changed
        else:
            with pytest.raises(ProviderUnavailable) as info:
                refresher.ensure_fresh(session)
            assert info.value.status == 503 and info.value.retry_after >= 1
    assert len(calls) == 1  # and it backs off like any provider failure


def test_refresh_result_sealed_for_one_key_is_refused_under_another(fake):
    """Someone who can write to the shared cache copies alice's sealed result under mallory's key."""
    clock = Clock(1_700_000_000.0)
    cache = SharedCache()
    refresher = _refresher(fake, clock, cache)
    fake.refresh_tokens["rt-alice"] = "auth0|alice"
    alice = _session(fake, clock, expires_in=30)
    assert refresher.ensure_fresh(alice).changed  # a genuine refresh, sealed and cached under alice's key
    (alice_result,) = cache.results.values()
    cache.planted = alice_result
    mallory = _session(fake, clock, expires_in=30, refresh_token="rt-mallory", sub="auth0|mallory")
    outcome = refresher.ensure_fresh(mallory)
    assert outcome.session is mallory and not outcome.changed  # not alice's tokens: served as herself
    assert refresher.ensure_fresh(alice).changed  # the same bytes under their own key are still good


def test_refresh_end_sealed_for_one_key_never_ends_a_session_under_another(fake):
    clock = Clock(1_700_000_000.0)
    cache = SharedCache()
    refresher = _refresher(fake, clock, cache)
    alice = _session(fake, clock, expires_in=30)  # unknown to the provider: invalid_grant
    assert refresher.ensure_fresh(alice).session is None  # alice's session ended, sealed as such
    cache.planted = next(iter(cache.results.values()))
    bob = _session(fake, clock, expires_in=30, refresh_token="rt-bob", sub="auth0|bob")
    assert refresher.ensure_fresh(bob).session is bob  # unreadable for bob's key: not trusted, not ended
    with pytest.raises(ProviderUnavailable):  # and with an expired token it is the 503, not a logout
        refresher.ensure_fresh(_session(fake, clock, expires_in=-1, refresh_token="rt-carol"))
