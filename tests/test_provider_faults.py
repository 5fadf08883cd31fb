"""A provider that is down, slow or answers garbage gives 502/503, never a 500 or a traceback."""

from __future__ import annotations

import pytest
import webtest
from joserfc.jwk import RSAKey

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.discovery import SigningKeys
from tests.conftest import echo_app, log_in, start_login
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
