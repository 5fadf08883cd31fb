"""A provider that is down, slow, drops connections or answers garbage: a 502 or a 503 (with
``Retry-After``), never a 500 or a traceback; recovery without a restart; cached keys and metadata
keep logins working; a flood of requests never becomes a flood of fetches; clock skew both ways.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import webtest
from joserfc.jwk import RSAKey

from auth0_wsgi import Auth0Middleware, discovery
from auth0_wsgi.discovery import SigningKeys
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.fake_provider import CLIENT_SECRET, FakeProvider
from tests.support.flows import BASE_URL, browser, log_in, middleware, provider_answer, start_login
from tests.support.http import HTML, JSON, cookie_header, query_of
from tests.support.logout_tokens import logout_token
from tests.support.memory import peak_memory
from tests.support.servers import free_port, serve
from tests.support.wsgi import wsgi_call

DISCOVERY = "/.well-known/openid-configuration"
FORM = "application/x-www-form-urlencoded"


# -- the token endpoint fails at the callback ------------------------------------------------------------

@pytest.mark.parametrize("mode, status, code", [
    pytest.param("500", 503, "provider_unavailable", id="http-500"),
    pytest.param("html", 502, "provider_error", id="html"),
    pytest.param("truncated", 502, "provider_error", id="truncated-json"),
    pytest.param("error:server_error", 502, "provider_error", id="oauth-server-error"),
])
def test_token_endpoint_faults(app, fake, mode, status, code):
    callback, _ = start_login(app)
    fake.token_mode = mode
    response = app.get(callback, headers=JSON, status=status)
    assert response.json["error"] == code
    assert "Traceback" not in response.text
    assert "auth0_session" not in app.cookies


def test_slow_token_endpoint_times_out_with_503(make_app, fake):
    app = make_app(http_timeout=0.3)
    callback, _ = start_login(app)
    fake.token_delay = 1.0
    response = app.get(callback, headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()


DROPS = ["reset", "close", "read-then-close"]


@pytest.mark.parametrize("mode", DROPS)
def test_token_endpoint_dropping_the_connection_at_the_callback_is_a_503(fake, dropping_server, mode):
    server = dropping_server(mode)
    fake.discovery_overrides["token_endpoint"] = server.url + "/token"
    app = browser(fake)
    callback, _ = start_login(app)
    response = app.get(callback, headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert "Traceback" not in response.text
    assert "auth0_session" not in app.cookies
    assert server.accepted >= 1  # the endpoint was really called (and really dropped us)


# -- discovery down or wrong at start-up; no restart needed once it answers ------------------------------

def test_unreachable_provider_at_start_up_serves_public_paths_and_503s_login():
    dead = f"http://127.0.0.1:{free_port()}/"
    app = webtest.TestApp(Auth0Middleware(echo_app, issuer=dead, client_id="c", client_secret="s",
                                          base_url="http://127.0.0.1", secret="k" * 32,
                                          public_paths="/health", http_timeout=0.5),
                          extra_environ={"HTTP_HOST": "127.0.0.1"})
    assert app.get("/health").json["path"] == "/health"
    response = app.get("/login", headers=HTML, status=503)
    assert "provider" in response.text.lower()
    assert response.headers["Retry-After"]


def test_discovery_with_another_issuer_is_refused_and_says_what_to_configure(make_app, fake, caplog):
    fake.discovery_overrides["issuer"] = fake.issuer.rstrip("/")
    fix = f"configure issuer = {fake.issuer.rstrip('/')}"
    response = make_app().get("/login", headers=JSON, status=502)
    assert response.json["error"] == "issuer_mismatch"
    assert fix not in response.text  # the operator's fix goes to the log, not to every user
    assert fix in caplog.text
    shown = make_app(debug=True).get("/login", headers=JSON, status=502)
    assert fix in shown.json["detail"]  # unless debug = true


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


@pytest.mark.parametrize("status, answer", [
    pytest.param(500, 503, id="http-500"),
    pytest.param(503, 503, id="http-503"),
    pytest.param(404, 502, id="http-404"),
])
def test_discovery_failing_at_start_up_then_answering(fake, status, answer):
    """A 5xx is 'unavailable' (503, Retry-After); a 4xx is 'unusable' (502): both recover by themselves."""
    fake.discovery_status = status
    clock = Clock()
    mw = middleware(fake, public_paths="/public", clock=clock)
    _while_down(mw, fake, answer)
    fake.discovery_status = 200
    clock.advance(discovery.RETRY_AFTER_FAILURE)  # the failed provider may be asked again
    _logs_in(mw, fake.issuer)


def test_provider_unreachable_at_start_up_then_listening():
    port = free_port()
    late = FakeProvider()
    late.issuer = f"http://127.0.0.1:{port}/"
    clock = Clock()
    mw = middleware(late, public_paths="/public", http_timeout=0.5, clock=clock)
    _while_down(mw)
    with serve(late, port=port):
        clock.advance(discovery.RETRY_AFTER_FAILURE)
        _logs_in(mw, late.issuer)


# -- a refresh against a token endpoint that drops the connection ----------------------------------------

def _session_then_dropping_worker(fake, server, ttl: int):
    """A session from a healthy worker, and a second worker whose token endpoint drops connections."""
    fake.access_token_ttl = ttl
    healthy = browser(fake)
    log_in(healthy)
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


# -- signing keys and metadata: cached, rotated, stale while the provider is down ------------------------

def test_jwks_down_with_keys_cached_keeps_logins_working(app, fake):
    log_in(app)
    fake.jwks_status = 500
    app.reset()
    assert log_in(app).status_int == 302


def test_rotated_signing_key_is_picked_up_once(app, fake):
    log_in(app)
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    fake.extra_keys.append(new_key)
    fake.sign_with = new_key
    fake.id_token_header = {"kid": "k2"}
    jwks_before = fake.counts["/jwks"]
    app.reset()
    assert log_in(app).status_int == 302
    assert fake.counts["/jwks"] == jwks_before + 1


def test_key_rotated_right_after_start_up_is_still_picked_up(fake):
    """The cool-down applies between kid-triggered refetches, not after the initial fetch."""
    keys = SigningKeys(lambda: fake.issuer + "jwks", __import__("requests").Session(), 2)
    keys.get("k1")
    fake.extra_keys.append(RSAKey.generate_key(2048, parameters={"kid": "k2"}))
    assert any(k.kid == "k2" for k in keys.get("k2").keys)


@pytest.mark.parametrize("ttl_name, down", [
    pytest.param("JWKS_TTL", lambda fake: setattr(fake, "jwks_status", 500), id="jwks-expired-and-down"),
    pytest.param("METADATA_TTL", lambda fake: setattr(fake, "discovery_status", 503),
                 id="discovery-expired-and-down"),
])
def test_expired_cache_with_the_endpoint_down_keeps_serving_and_asks_rarely(fake, monkeypatch, ttl_name,
                                                                           down):
    monkeypatch.setattr(discovery, ttl_name, 0)  # whatever is cached is always past its TTL
    app = browser(fake)
    log_in(app)
    down(fake)
    before = fake.counts["/jwks"] + fake.counts[DISCOVERY]
    for _ in range(4):
        app.reset()
        assert log_in(app, "/again").headers["Location"] == BASE_URL + "/again"
    assert fake.counts["/jwks"] + fake.counts[DISCOVERY] - before == 1  # one failed refetch, then waits


def test_jwks_down_before_its_first_fetch_is_a_503_then_logins_work_when_it_is_back(fake):
    fake.jwks_status = 500
    clock = Clock()
    app = browser(fake, clock=clock)
    callback, _ = start_login(app)
    response = app.get(callback, headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert "auth0_session" not in app.cookies
    fake.jwks_status = 200
    clock.advance(discovery.RETRY_AFTER_FAILURE)
    app.reset()
    assert log_in(app, "/back").headers["Location"] == BASE_URL + "/back"


# -- floods: unknown key ids and a JWKS that is down are not fetched on every request --------------------

def test_unknown_kid_flood_refetches_the_jwks_at_most_once_per_cooldown(fake):
    clock = [1000.0]
    keys = SigningKeys(lambda: fake.issuer + "jwks", __import__("requests").Session(), 2,
                       clock=lambda: clock[0])
    keys.get("k1")
    for i in range(50):
        keys.get(f"unknown-{i}")
    assert fake.counts["/jwks"] == 2  # the initial fetch + one refetch for the first unknown kid
    clock[0] += 61
    keys.get("unknown-again")
    assert fake.counts["/jwks"] == 3


def test_jwks_down_before_any_fetch_is_not_asked_again_on_every_request(app, fake):
    fake.jwks_status = 500
    for _ in range(10):
        app.post("/backchannel-logout", {"logout_token": logout_token(fake)}, status=503)
    assert fake.counts["/jwks"] == 1


def test_jwks_down_before_its_first_fetch_is_not_asked_on_every_request(fake):
    """The back-channel endpoint is unauthenticated: it must not turn a flood into JWKS fetches."""
    fake.jwks_status = 500
    mw = middleware(fake)
    for _ in range(20):
        result = wsgi_call(mw, "/backchannel-logout", method="POST", headers={"Content-Type": FORM},
                           body=f"logout_token={logout_token(fake)}".encode())
        assert result.status == 503, result.escaped or result.text
    assert fake.counts["/jwks"] == 1


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
        callback, _ = start_login(app)
        assert app.get(callback, headers=JSON, status=400).json["error"] == "invalid_token"
        app.reset()
    assert fake.counts["/jwks"] == 2


# -- clock skew, both ways -------------------------------------------------------------------------------

SKEW = [  # claim changes relative to now, settings, accepted
    pytest.param({"iat": 30}, {}, True, id="iat-30s-ahead-within-60s-skew"),
    pytest.param({"iat": 120}, {}, False, id="iat-120s-ahead-beyond-60s-skew"),
    pytest.param({"exp": -30}, {}, True, id="exp-30s-past-within-60s-skew"),
    pytest.param({"exp": -120}, {}, False, id="exp-120s-past-beyond-60s-skew"),
    pytest.param({"nbf": 30}, {}, True, id="nbf-30s-ahead-within-60s-skew"),
    pytest.param({"nbf": 120}, {}, False, id="nbf-120s-ahead-beyond-60s-skew"),
    pytest.param({"iat": 30}, {"clock_skew": 0}, False, id="iat-30s-ahead-with-zero-skew"),
    pytest.param({"exp": -30}, {"clock_skew": 0}, False, id="exp-30s-past-with-zero-skew"),
    pytest.param({"iat": 500}, {"clock_skew": 600}, True, id="iat-500s-ahead-within-600s-skew"),
    pytest.param({"exp": -500}, {"clock_skew": 600}, True, id="exp-500s-past-within-600s-skew"),
]


@pytest.mark.parametrize("changes, settings, accepted", SKEW)
def test_id_token_clock_skew(fake, changes, settings, accepted):
    def skewed(claims):
        now = int(time.time())
        return {**claims, **{name: now + offset for name, offset in changes.items()}}

    fake.id_token_claims = skewed
    app = browser(fake, **settings)
    callback, _ = start_login(app)
    if accepted:
        assert app.get(callback).status_int == 302
        assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"
    else:
        assert app.get(callback, headers=JSON, status=400).json["error"] == "invalid_token"
        assert "auth0_session" not in app.cookies


# -- every answer of the token endpoint is untrusted input -----------------------------------------------

MARKER = "at-SECRET-MARKER-0123456789"  # an access token that must never reach a page
_GOOD = {"access_token": MARKER, "token_type": "Bearer", "expires_in": 3600}


def _body(**changes: object) -> bytes:
    return json.dumps({k: v for k, v in {**_GOOD, **changes}.items() if v is not _DROP}).encode()


_DROP = object()
_NESTED = b'{"access_token": "x", "token_type": "Bearer", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


ODD_ANSWERS = [
    pytest.param(200, _body()[:-1] + b', "expires_in": 1e400}', id="expires_in-1e400"),
    pytest.param(200, _body()[:-1] + b', "expires_in": NaN}', id="expires_in-NaN"),
    pytest.param(200, _body()[:-1] + b', "expires_in": Infinity}', id="expires_in-Infinity"),
    pytest.param(200, _body(expires_in={"seconds": 3600}), id="expires_in-dict"),
    pytest.param(200, _body(expires_in=[3600]), id="expires_in-list"),
    pytest.param(200, _body(expires_in="soon"), id="expires_in-text"),
    pytest.param(200, _body(expires_in=-5), id="expires_in-negative"),
    pytest.param(200, _body(expires_in=True), id="expires_in-bool"),
    pytest.param(200, _body(expires_in=10**30), id="expires_in-absurd"),
    pytest.param(200, _body(expires_at={"at": 1}), id="expires_at-dict"),
    pytest.param(200, _body(expires_at="tomorrow"), id="expires_at-text"),
    pytest.param(200, _NESTED, id="deeply-nested-json"),
    pytest.param(200, b"[" * 200_000, id="deeply-nested-unterminated"),
    pytest.param(200, b'["access_token", "token_type"]', id="json-array"),
    pytest.param(200, b'"access_token"', id="json-string"),
    pytest.param(200, b"null", id="json-null"),
    pytest.param(200, b"", id="empty-body"),
    pytest.param(200, b'{"access_token": "\xff\xfe"}', id="not-utf8"),
    pytest.param(200, _body(access_token=_DROP), id="no-access-token"),
    pytest.param(200, _body(access_token={"value": "x"}), id="access_token-dict"),
    pytest.param(200, _body(access_token=""), id="access_token-empty"),
    pytest.param(200, _body(token_type=_DROP), id="no-token-type"),
    pytest.param(200, _body(token_type=["Bearer"]), id="token_type-list"),
    pytest.param(200, _body(token_type="mac"), id="token_type-mac"),
    pytest.param(200, _body(id_token=12), id="id_token-number"),
    pytest.param(200, _body(refresh_token=["r"]), id="refresh_token-list"),
    pytest.param(200, _body(scope={"read": True}), id="scope-dict"),
    pytest.param(400, b'{"error": {"code": "invalid_grant"}}', id="error-dict"),
    pytest.param(400, b'{"error": ["invalid_grant"]}', id="error-list"),
    pytest.param(200, b'{"error": 42}', id="error-number-on-200"),
    pytest.param(400, b'{"error": "x\\u0000\\r\\n<script>"}', id="error-with-control-characters"),
    pytest.param(400, json.dumps({"error": "e" * 5000}).encode(), id="error-very-long"),
    pytest.param(400, b'{"error": "server_error", "error_description": {"x": 1}}',
                 id="error_description-dict"),
]


@pytest.mark.parametrize("status, body", ODD_ANSWERS)
def test_odd_token_answer_at_the_callback_is_a_502_without_a_session(build_app, fake, status, body):
    app = build_app()
    callback, _ = start_login(app)
    code = query_of(callback)["code"]
    fake.token_answer = (status, body)
    for accept in ("application/json", "text/html"):
        response = app.get(callback, headers={"Accept": accept}, status=502)
        assert "auth0_session" not in app.cookies
        assert "Traceback" not in response.text
        for secret in (MARKER, code, CLIENT_SECRET, "<script>"):
            assert secret not in response.text
        app.reset()
        callback, _ = start_login(app)
    assert response.status_int == 502


@pytest.fixture
def login_tokens(issued):
    """The access tokens the fake provider issued, in order."""
    return issued.access_tokens


@pytest.mark.parametrize("status, body", ODD_ANSWERS)
def test_odd_token_answer_on_refresh_serves_the_unexpired_token_and_backs_off(build_app, fake, login_tokens,
                                                                              status, body):
    fake.access_token_ttl = 30  # inside the 60 s leeway: due, but not expired
    app = build_app()
    log_in(app)
    fake.token_answer = (status, body)
    for _ in range(3):
        response = app.get("/x", headers=JSON)
        assert response.json["auth0.access_token"] == login_tokens[0]
    assert fake.counts["grant:refresh_token"] == 1  # the first try failed; then the backoff holds


@pytest.mark.parametrize("status, body", ODD_ANSWERS)
def test_odd_token_answer_on_refresh_with_an_expired_token_is_a_503(build_app, fake, status, body):
    fake.access_token_ttl = 0  # expired at once
    app = build_app()
    log_in(app)
    fake.token_answer = (status, body)
    response = app.get("/x", headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert not [v for k, v in response.headerlist if k == "Set-Cookie"]  # the session is kept
    assert MARKER not in response.text


# -- huge answers are never read whole -------------------------------------------------------------------

READ_AT_MOST = 16 * 1024 * 1024  # of 50 MB offered: what the server wrote before we hung up (socket buffers)


@pytest.mark.parametrize("declares_length", [
    pytest.param(False, id="streamed-until-close"),
    pytest.param(True, id="with-content-length"),
])
@pytest.mark.parametrize("path, step", [
    pytest.param("/token", "callback", id="token-endpoint"),
    pytest.param("/jwks", "callback", id="jwks"),
    pytest.param("/.well-known/openid-configuration", "login", id="discovery"),
])
def test_huge_provider_answer_is_refused_without_reading_it(build_app, fake, path, step, declares_length):
    app = build_app()
    fake.huge_declares_length = declares_length
    if step == "login":
        fake.huge_paths.add(path)
        started = time.monotonic()
        response, peak = peak_memory(lambda: app.get("/login", headers=JSON, status="*"))
    else:
        callback, _ = start_login(app)
        fake.huge_paths.add(path)
        started = time.monotonic()
        response, peak = peak_memory(lambda: app.get(callback, headers=JSON, status="*"))
    assert response.status_int in (502, 503), response.text
    assert time.monotonic() - started < 5
    assert fake.counts[path] >= 1  # the huge answer really was asked for
    assert fake.huge_bytes_sent < READ_AT_MOST
    assert peak < 4 * 1024 * 1024
    assert "auth0_session" not in app.cookies


ODD_DOCUMENTS = [  # each made from the provider's own, valid document
    pytest.param(lambda good: b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
    pytest.param(lambda good: good.rstrip()[:-1] + b', "n": NaN}', id="with-NaN"),
    pytest.param(lambda good: good.rstrip()[:-1] + b', "n": 1e400}', id="with-1e400"),
    pytest.param(lambda good: b"[" + good + b"]", id="in-an-array"),
    pytest.param(lambda good: good.replace(b'"', b"\xff", 1), id="not-utf8"),
]


@pytest.mark.parametrize("spoil", ODD_DOCUMENTS)
@pytest.mark.parametrize("path", [pytest.param("/.well-known/openid-configuration", id="discovery"),
                                  pytest.param("/jwks", id="jwks")])
def test_odd_discovery_or_jwks_answer_is_a_502(build_app, fake, path, spoil):
    good = requests.get(fake.issuer + path.lstrip("/"), timeout=5).content
    app = build_app()
    if path == "/jwks":
        callback, _ = start_login(app)
        fake.raw_answers[path] = (200, spoil(good))
        response = app.get(callback, headers=JSON, status=502)
    else:
        fake.raw_answers[path] = (200, spoil(good))
        response = app.get("/login", headers=JSON, status=502)
    assert response.json["error"] == "provider_error"
    assert "auth0_session" not in app.cookies


@pytest.mark.parametrize("body", [b'{"error":"too_many_requests","error_description":"Global limit"}',
                                  b"<html>slow down</html>", b""])
def test_a_rate_limited_token_endpoint_at_the_callback_is_a_503_saying_when_to_retry(build_app, fake, body):
    """Auth0's rate limit (429, JSON ``too_many_requests``) passes: retry later, not a broken provider."""
    app = build_app()
    callback, _ = start_login(app)
    fake.token_answer = (429, body)
    response = app.get(callback, headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert "auth0_session" not in app.cookies
