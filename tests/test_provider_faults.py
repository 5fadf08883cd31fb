"""A provider that is down, slow or answers garbage gives 502/503, never a 500 or a traceback."""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
import requests
import webtest
from joserfc.jwk import RSAKey

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.discovery import SigningKeys
from tests.conftest import echo_app, log_in, query_of, start_login
from tests.support.fake_provider import CLIENT_SECRET
from tests.support.servers import free_port


@pytest.mark.parametrize("mode, status, code", [
    ("500", 503, "provider_unavailable"),
    ("html", 502, "provider_error"),
    ("truncated", 502, "provider_error"),
    ("error:server_error", 502, "provider_error"),
], ids=["http-500", "html", "truncated-json", "oauth-server-error"])
def test_token_endpoint_faults(app, fake, mode, status, code):
    callback, _ = start_login(app)
    fake.token_mode = mode
    response = app.get(callback, headers={"Accept": "application/json"}, status=status)
    assert response.json["error"] == code
    assert "Traceback" not in response.text
    assert "auth0_session" not in app.cookies


def test_slow_token_endpoint_times_out_with_503(make_app, fake):
    app = make_app(http_timeout=0.3)
    callback, _ = start_login(app)
    fake.token_delay = 1.0
    response = app.get(callback, headers={"Accept": "application/json"}, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()


def test_unreachable_provider_at_start_up_serves_public_paths_and_503s_login():
    dead = f"http://127.0.0.1:{free_port()}/"
    app = webtest.TestApp(Auth0Middleware(echo_app, issuer=dead, client_id="c", client_secret="s",
                                          base_url="http://app.test", secret="k" * 32,
                                          public_paths="/health", http_timeout=0.5))
    assert app.get("/health").json["path"] == "/health"
    response = app.get("/login", headers={"Accept": "text/html"}, status=503)
    assert "provider" in response.text.lower()
    assert response.headers["Retry-After"]


def test_discovery_with_another_issuer_is_refused_and_says_what_to_configure(make_app, fake):
    fake.discovery_overrides["issuer"] = fake.issuer.rstrip("/")
    app = make_app()
    response = app.get("/login", headers={"Accept": "application/json"}, status=502)
    assert response.json["error"] == "issuer_mismatch"
    assert f"configure issuer = {fake.issuer.rstrip('/')}" in response.json["error_description"]


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


def test_key_rotated_right_after_start_up_is_still_picked_up(fake):
    """The cool-down applies between kid-triggered refetches, not after the initial fetch."""
    keys = SigningKeys(lambda: fake.issuer + "jwks", __import__("requests").Session(), 2)
    keys.get("k1")
    fake.extra_keys.append(RSAKey.generate_key(2048, parameters={"kid": "k2"}))
    assert any(k.kid == "k2" for k in keys.get("k2").keys)


def test_client_secret_basic_form_encodes_odd_secrets(make_app, fake):
    fake.auth_method = "client_secret_basic"
    app = make_app(token_endpoint_auth_method="client_secret_basic")
    assert log_in(app).status_int == 302
    assert fake.last_authorization_header.startswith("Basic ")
    assert "client_secret" not in fake.last_token_request


def test_jwks_down_before_any_fetch_is_not_asked_again_on_every_request(app, fake):
    from tests.test_backchannel_logout import logout_token
    fake.jwks_status = 500
    for _ in range(10):
        app.post("/backchannel-logout", {"logout_token": logout_token(fake)}, status=503)
    assert fake.counts["/jwks"] == 1


# -- every answer of the token endpoint is untrusted input ----------------------------------------------

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
def login_tokens(fake, monkeypatch):
    """The access tokens the fake provider issued, in order."""
    issued: list[str] = []
    original = fake.access_token

    def recording(now: int, sub: str | None = None) -> str:
        issued.append(original(now, sub))
        return issued[-1]

    monkeypatch.setattr(fake, "access_token", recording)
    return issued


@pytest.mark.parametrize("status, body", ODD_ANSWERS)
def test_odd_token_answer_on_refresh_serves_the_unexpired_token_and_backs_off(build_app, fake, login_tokens,
                                                                              status, body):
    fake.access_token_ttl = 30  # inside the 60 s leeway: due, but not expired
    app = build_app()
    log_in(app)
    fake.token_answer = (status, body)
    for _ in range(3):
        response = app.get("/x", headers={"Accept": "application/json"})
        assert response.json["auth0.access_token"] == login_tokens[0]
    assert fake.counts["grant:refresh_token"] == 1  # the first try failed; then the backoff holds


@pytest.mark.parametrize("status, body", ODD_ANSWERS)
def test_odd_token_answer_on_refresh_with_an_expired_token_is_a_503(build_app, fake, status, body):
    fake.access_token_ttl = 0  # expired at once
    app = build_app()
    log_in(app)
    fake.token_answer = (status, body)
    response = app.get("/x", headers={"Accept": "application/json"}, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert not [v for k, v in response.headerlist if k == "Set-Cookie"]  # the session is kept
    assert MARKER not in response.text


# -- huge answers are never read whole -------------------------------------------------------------------

READ_AT_MOST = 16 * 1024 * 1024  # of 50 MB offered: what the server wrote before we hung up (socket buffers)


def _peak_memory(call):
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


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
        response, peak = _peak_memory(lambda: app.get("/login", headers={"Accept": "application/json"},
                                                      status="*"))
    else:
        callback, _ = start_login(app)
        fake.huge_paths.add(path)
        started = time.monotonic()
        response, peak = _peak_memory(lambda: app.get(callback, headers={"Accept": "application/json"},
                                                      status="*"))
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
        response = app.get(callback, headers={"Accept": "application/json"}, status=502)
    else:
        fake.raw_answers[path] = (200, spoil(good))
        response = app.get("/login", headers={"Accept": "application/json"}, status=502)
    assert response.json["error"] == "provider_error"
    assert "auth0_session" not in app.cookies
