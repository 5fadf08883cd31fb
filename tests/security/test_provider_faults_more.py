"""Fault injection against the fake provider, beyond tests/test_provider_faults.py.

Not repeated here: token endpoint 500/HTML/truncated/slow, unreachable provider at start-up (no
recovery), JWKS down right after a login, one rotated key, the SigningKeys cool-down unit test.
"""

from __future__ import annotations

import time

import pytest
import webtest
from joserfc.jwk import RSAKey

from auth0_wsgi import discovery
from tests.security.conftest import (
    BASE_URL,
    HTML,
    JSON,
    begin,
    browser,
    cookie_header,
    login,
    middleware,
    provider_answer,
    wsgi_call,
)
from tests.support.fake_provider import FakeProvider
from tests.support.servers import free_port, serve
from tests.test_backchannel_logout import logout_token

DISCOVERY = "/.well-known/openid-configuration"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def quick_retry(monkeypatch):
    """A provider that failed is asked again after 0.2 s instead of 5 s (so the test need not wait)."""
    monkeypatch.setattr(discovery, "RETRY_AFTER_FAILURE", 0.2)
    return 0.25


# -- discovery down at start-up, then up: no restart needed --------------------------------------------------

def _while_down(mw, fake=None, status: int = 503) -> None:
    assert wsgi_call(mw, "/public/x", headers=HTML).status == 200  # public paths are served
    page = wsgi_call(mw, "/reports", headers=HTML)  # a protected page → /login → 503
    assert page.status == 302
    login_page = wsgi_call(mw, "/login", "return_to=/reports", headers=HTML)
    assert login_page.status == status, login_page.escaped or login_page.text
    if status == 503:
        assert login_page.header("Retry-After").isdigit()
    assert "Traceback" not in login_page.text
    assert wsgi_call(mw, "/reports", headers=JSON).status == 401
    for _ in range(10):  # a flood of logins while down: the provider is not asked each time
        assert wsgi_call(mw, "/login", headers=JSON).status == status
    if fake is not None:
        assert fake.counts[DISCOVERY] == 1


def _logs_in(mw, fake_issuer: str) -> None:
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    response = client.get("/login", {"return_to": "/reports"})
    assert response.headers["Location"].startswith(fake_issuer + "authorize?")
    callback = provider_answer(response.headers["Location"])
    assert client.get(callback[len(BASE_URL):]).headers["Location"] == BASE_URL + "/reports"
    assert client.get("/reports", headers=JSON).json["REMOTE_USER"] == "auth0|alice"


@pytest.mark.parametrize("status, answer", [(500, 503), (503, 503), (404, 502)],
                         ids=["http-500", "http-503", "http-404"])
def test_discovery_failing_at_start_up_then_answering(fake, quick_retry, status, answer):
    """A 5xx is 'unavailable' (503, Retry-After); a 4xx is 'unusable' (502): both recover by themselves."""
    fake.discovery_status = status
    mw = middleware(fake, public_paths="/public")
    _while_down(mw, fake, answer)
    fake.discovery_status = 200
    time.sleep(quick_retry)
    _logs_in(mw, fake.issuer)


def test_provider_unreachable_at_start_up_then_listening(quick_retry):
    port = free_port()
    late = FakeProvider()
    late.issuer = f"http://127.0.0.1:{port}/"
    mw = middleware(late, public_paths="/public", http_timeout=0.5)
    _while_down(mw)
    with serve(late, port=port):
        time.sleep(quick_retry)
        _logs_in(mw, late.issuer)


# -- the token endpoint drops the connection -----------------------------------------------------------------

DROPS = ["reset", "close", "read-then-close"]


@pytest.mark.parametrize("mode", DROPS)
def test_token_endpoint_dropping_the_connection_at_the_callback_is_a_503(fake, dropping_server, mode):
    server = dropping_server(mode)
    fake.discovery_overrides["token_endpoint"] = server.url + "/token"
    app = browser(fake)
    callback, _ = begin(app)
    response = app.get(callback, headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert "Traceback" not in response.text
    assert "auth0_session" not in app.cookies
    assert server.accepted >= 1  # the endpoint was really called (and really dropped us)


def _session_then_dropping_worker(fake, server, ttl: int):
    """A session from a healthy worker, and a second worker whose token endpoint drops connections."""
    fake.access_token_ttl = ttl
    healthy = browser(fake)
    login(healthy)
    fake.discovery_overrides["token_endpoint"] = server.url + "/token"
    return healthy, middleware(fake), cookie_header(dict(healthy.cookies))


@pytest.mark.parametrize("mode", DROPS)
def test_refresh_with_an_expired_token_and_a_dropping_endpoint_is_a_503_that_keeps_the_session(
        fake, dropping_server, mode):
    server = dropping_server(mode)
    healthy, dropping, cookies = _session_then_dropping_worker(fake, server, ttl=0)  # expired at once
    result = wsgi_call(dropping, "/x", headers={**JSON, "Cookie": cookies})
    assert result.status == 503, result.escaped or result.text
    assert result.json["error"] == "provider_unavailable"
    assert result.header("Retry-After").isdigit()
    assert not result.all("Set-Cookie")  # the session is kept, not cleared
    assert server.accepted >= 1
    assert healthy.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"  # and still works


@pytest.mark.parametrize("mode", DROPS)
def test_refresh_with_a_valid_token_and_a_dropping_endpoint_serves_the_current_token_and_backs_off(
        fake, dropping_server, issued, mode):
    server = dropping_server(mode)
    _, dropping, cookies = _session_then_dropping_worker(fake, server, ttl=30)  # due, not expired
    result = wsgi_call(dropping, "/x", headers={**JSON, "Cookie": cookies})
    assert result.status == 200, result.escaped or result.text
    assert result.json["auth0.access_token"] == issued.access_tokens[0]
    attempts = server.accepted
    assert attempts >= 1
    for _ in range(3):
        assert wsgi_call(dropping, "/x", headers={**JSON, "Cookie": cookies}).status == 200
    assert server.accepted == attempts  # backing off: not one more connection per request


# -- stale keys and metadata keep logins working while the provider is down ----------------------------------

@pytest.mark.parametrize("ttl_name, down", [
    ("JWKS_TTL", lambda fake: setattr(fake, "jwks_status", 500)),
    ("METADATA_TTL", lambda fake: setattr(fake, "discovery_status", 503)),
], ids=["jwks-expired-and-down", "discovery-expired-and-down"])
def test_expired_cache_with_the_endpoint_down_keeps_serving_and_asks_rarely(fake, monkeypatch, ttl_name,
                                                                           down):
    monkeypatch.setattr(discovery, ttl_name, 0)  # whatever is cached is always past its TTL
    app = browser(fake)
    login(app)
    down(fake)
    before = fake.counts["/jwks"] + fake.counts[DISCOVERY]
    for _ in range(4):
        app.reset()
        assert login(app, "/again").headers["Location"] == BASE_URL + "/again"
    assert fake.counts["/jwks"] + fake.counts[DISCOVERY] - before == 1  # one failed refetch, then waits


def test_jwks_down_before_its_first_fetch_is_a_503_then_logins_work_when_it_is_back(fake, quick_retry):
    fake.jwks_status = 500
    app = browser(fake)
    callback, _ = begin(app)
    response = app.get(callback, headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert "auth0_session" not in app.cookies
    fake.jwks_status = 200
    time.sleep(quick_retry)
    app.reset()
    assert login(app, "/back").headers["Location"] == BASE_URL + "/back"


def test_jwks_down_before_its_first_fetch_is_not_asked_on_every_request(fake):
    """The back-channel endpoint is unauthenticated: it must not turn a flood into JWKS fetches."""
    fake.jwks_status = 500
    mw = middleware(fake)
    for _ in range(20):
        result = wsgi_call(mw, "/backchannel-logout", method="POST", headers={"Content-Type": FORM},
                           body=f"logout_token={logout_token(fake)}".encode())
        assert result.status == 503, result.escaped or result.text
    assert fake.counts["/jwks"] == 1


# -- a flood of unknown key ids, end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def stranger_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "stranger"})


def test_flood_of_logout_tokens_with_unknown_kids_fetches_the_jwks_at_most_twice(fake, stranger_key):
    mw = middleware(fake)
    for i in range(30):
        token = logout_token(fake, key=stranger_key, header={"alg": "RS256", "kid": f"unknown-{i}"})
        result = wsgi_call(mw, "/backchannel-logout", method="POST", headers={"Content-Type": FORM},
                           body=f"logout_token={token}".encode())
        assert result.status == 400, result.escaped or result.text
    assert fake.counts["/jwks"] == 2  # the first fetch, then one kid-triggered refetch per cool-down


def test_flood_of_id_tokens_with_unknown_kids_fetches_the_jwks_at_most_twice(fake):
    app = browser(fake)
    for i in range(6):
        fake.id_token_header = {"kid": f"rotated-{i}"}
        callback, _ = begin(app)
        assert app.get(callback, headers=JSON, status=400).json["error"] == "invalid_token"
        app.reset()
    assert fake.counts["/jwks"] == 2


# -- clock skew, both ways -----------------------------------------------------------------------------------

SKEW = [
    # (id, claim changes relative to now, settings, accepted)
    ("iat-30s-ahead-within-60s-skew", {"iat": 30}, {}, True),
    ("iat-120s-ahead-beyond-60s-skew", {"iat": 120}, {}, False),
    ("exp-30s-past-within-60s-skew", {"exp": -30}, {}, True),
    ("exp-120s-past-beyond-60s-skew", {"exp": -120}, {}, False),
    ("nbf-30s-ahead-within-60s-skew", {"nbf": 30}, {}, True),
    ("nbf-120s-ahead-beyond-60s-skew", {"nbf": 120}, {}, False),
    ("iat-30s-ahead-with-zero-skew", {"iat": 30}, {"clock_skew": 0}, False),
    ("exp-30s-past-with-zero-skew", {"exp": -30}, {"clock_skew": 0}, False),
    ("iat-500s-ahead-within-600s-skew", {"iat": 500}, {"clock_skew": 600}, True),
    ("exp-500s-past-within-600s-skew", {"exp": -500}, {"clock_skew": 600}, True),
]


@pytest.mark.parametrize("changes, settings, accepted", [row[1:] for row in SKEW], ids=[r[0] for r in SKEW])
def test_id_token_clock_skew(fake, changes, settings, accepted):
    def skewed(claims):
        now = int(time.time())
        return {**claims, **{name: now + offset for name, offset in changes.items()}}

    fake.id_token_claims = skewed
    app = browser(fake, **settings)
    callback, _ = begin(app)
    if accepted:
        assert app.get(callback).status_int == 302
        assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"
    else:
        assert app.get(callback, headers=JSON, status=400).json["error"] == "invalid_token"
        assert "auth0_session" not in app.cookies
