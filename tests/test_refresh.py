"""Refresh ahead of expiry, once, with rotation; and every way it can fail (fake provider)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import webtest

from auth0_wsgi import Auth0Middleware, api_session, refresh_access_token
from tests.conftest import BASE_URL, log_in, settings_for
from tests.support.apps import echo_app
from tests.support.servers import serve

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


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
    fake.access_token_ttl = 1
    app = make_app(refresh_leeway=0)
    log_in(app)
    time.sleep(1.2)
    fake.token_mode = "500"
    response = app.get("/x", headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    fake.token_mode = "ok"
    assert _token(app)  # the provider is back: the same session refreshes and carries on
    assert fake.counts["grant:refresh_token"] == 2


def test_expired_token_without_refresh_token_sends_the_browser_to_login(make_app, fake):
    fake.access_token_ttl = 1
    app = make_app(refresh_leeway=0, scope="openid profile email")
    log_in(app)
    time.sleep(1.2)
    assert app.get("/page", headers=HTML).status_int == 302
    log_in(app)
    time.sleep(1.2)
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
    app = webtest.TestApp(middleware)
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

        app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)))
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

        app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)))
        log_in(app)
        assert app.get("/").text == "401"
        assert len(calls) == 2


def test_views_can_force_a_refresh(fake):
    def view(environ, start_response):
        old = environ["auth0.access_token"]
        new = refresh_access_token(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{old != new}:{environ['auth0.access_token'] == new}".encode()]

    app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)))
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

    app = webtest.TestApp(Auth0Middleware(cacheable, **settings_for(fake)))
    fake.access_token_ttl = 30
    log_in(app)
    response = app.get("/page")  # refreshes: the new session rides on this response
    assert any(k == "Set-Cookie" for k, _ in response.headerlist)
    assert response.headers.getall("Cache-Control") == ["no-store"]
    fake.access_token_ttl = 3600
    log_in(app)
    assert app.get("/page").headers["Cache-Control"] == "public, max-age=600"  # untouched otherwise
