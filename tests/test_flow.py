"""Whole flows through WebTest against the fake provider over real loopback HTTP."""

from __future__ import annotations

import base64
import hashlib

from tests.support.fake_provider import AUDIENCE, CLIENT_ID
from tests.support.flows import BASE_URL, log_in, start_login
from tests.support.http import HTML, JSON, query_of


def test_browser_without_session_is_sent_to_login_with_its_path(app):
    response = app.get("/reports/7?x=1", headers=HTML)
    assert response.status_int == 302
    assert response.headers["Location"] == f"{BASE_URL}/login?return_to=/reports/7%3Fx%3D1"
    assert response.headers["Cache-Control"] == "no-store"


def test_api_request_without_session_gets_401_json(app):
    response = app.get("/api/items", headers=JSON, status=401)
    assert response.json["error"] == "login_required"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_login_redirect_carries_pkce_state_nonce_audience_scope(app, fake):
    response = app.get("/login?return_to=/x")
    url = response.headers["Location"]
    assert url.startswith(fake.issuer + "authorize?")
    params = query_of(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == BASE_URL + "/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 22 and len(params["nonce"]) >= 22
    assert params["audience"] == AUDIENCE
    assert params["scope"].split() == ["openid", "profile", "email", "offline_access"]
    assert response.headers["Cache-Control"] == "no-store"
    assert any(c.startswith("a0tx.") for c in app.cookies)


def test_full_login_puts_claims_and_tokens_in_environ(app, fake):
    response = log_in(app, "/profile?tab=1")
    assert response.headers["Location"] == BASE_URL + "/profile?tab=1"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    seen = app.get("/profile").json
    assert seen["auth0.user"]["sub"] == "auth0|alice"
    assert seen["auth0.user"]["email"] == "alice@example.com"
    assert seen["REMOTE_USER"] == "auth0|alice"
    assert seen["auth0.access_token"].count(".") == 2
    assert seen["auth0.id_token"].count(".") == 2
    # the code went to the token endpoint with the verifier whose S256 hash was the challenge
    verifier = fake.last_token_request["code_verifier"]
    assert 43 <= len(verifier) <= 128
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == fake.last_authorize["code_challenge"]


def test_two_tabs_logging_in_at_once_both_succeed(app):
    first, _ = start_login(app, "/one")
    second, _ = start_login(app, "/two")
    assert app.get(second).headers["Location"] == BASE_URL + "/two"
    assert app.get(first).headers["Location"] == BASE_URL + "/one"
