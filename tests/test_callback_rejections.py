"""Every callback rejection happens before any token request, and shows a clear 4xx page."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from joserfc.jwk import RSAKey

from tests.support.flows import log_in, start_login
from tests.support.http import HTML, JSON, query_of


def _token_requests(fake) -> int:
    return fake.counts["grant:authorization_code"]


def test_provider_error_is_shown_escaped_and_no_token_request(app, fake):
    response = app.get("/callback?" + urlencode({
        "error": "access_denied", "error_description": "<script>alert(1)</script>", "state": "x"}),
        headers=HTML, status=400)
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert "access_denied" in response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert _token_requests(fake) == 0


@pytest.mark.parametrize("mutate, code", [
    pytest.param(lambda q: {**q, "state": "forged"}, "invalid_state", id="forged-state"),
    pytest.param(lambda q: {k: v for k, v in q.items() if k != "state"}, "missing_state", id="missing-state"),
    pytest.param(lambda q: {k: v for k, v in q.items() if k != "code"}, "missing_code", id="missing-code"),
    pytest.param(lambda q: {**q, "iss": "https://evil.example/"}, "issuer_mismatch", id="wrong-iss"),
    pytest.param(lambda q: {k: v for k, v in q.items() if k != "iss"}, "missing_issuer",
                 id="missing-iss-when-advertised"),
])
def test_bad_callback_is_refused_before_the_token_request(app, fake, mutate, code):
    callback, _ = start_login(app)
    params = mutate(query_of(callback))
    response = app.get("/callback?" + urlencode(params), headers=JSON, status=400)
    assert response.json["error"] == code
    assert _token_requests(fake) == 0


def test_duplicate_parameters_are_refused(app, fake):
    callback, _ = start_login(app)
    response = app.get(callback + "&code=second", headers=JSON, status=400)
    assert response.json["error"] == "duplicate_parameter"
    assert _token_requests(fake) == 0


def test_replayed_callback_is_a_4xx_with_a_link_to_start_again(app, fake):
    callback, _ = start_login(app)
    assert app.get(callback).status_int == 302
    response = app.get(callback, headers=HTML, status=400)
    assert "/login" in response.text
    assert _token_requests(fake) == 1


def test_state_from_another_browser_is_refused(make_app, fake):
    """Login CSRF: the attacker's callback URL finished in the victim's browser has no login cookie."""
    attacker, victim = make_app(), make_app()
    callback, _ = start_login(attacker)
    response = victim.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_state"
    assert _token_requests(fake) == 0


def test_callback_without_iss_is_accepted_when_not_advertised(app, fake):
    fake.discovery_overrides["authorization_response_iss_parameter_supported"] = None
    fake.omit_iss = True
    assert log_in(app).status_int == 302


def test_post_callback_is_refused(app):
    response = app.post("/callback", {"code": "x", "state": "y"}, headers=JSON,
                        status=400)
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda c: {**c, "iss": "https://evil.example/"}, id="iss"),
    pytest.param(lambda c: {**c, "aud": "someone-else"}, id="aud"),
    pytest.param(lambda c: {**c, "aud": ["fake-client", "other"]}, id="aud-list-without-azp"),
    pytest.param(lambda c: {**c, "exp": c["iat"] - 3600}, id="expired"),
    pytest.param(lambda c: {**c, "iat": c["iat"] + 3600}, id="issued-in-future"),
    pytest.param(lambda c: {**c, "nonce": "replayed-nonce"}, id="nonce"),
    pytest.param(lambda c: {k: v for k, v in c.items() if k != "nonce"}, id="no-nonce"),
    pytest.param(lambda c: {k: v for k, v in c.items() if k != "sub"}, id="no-sub"),
])
def test_bad_id_token_claims_open_no_session(app, fake, mutate):
    fake.id_token_claims = mutate
    callback, _ = start_login(app)
    response = app.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_token"
    assert "auth0_session" not in app.cookies


def test_id_token_signed_by_an_unknown_key_is_refused(app, fake):
    fake.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    callback, _ = start_login(app)
    assert _json_error(app, callback) == "invalid_token"


def test_id_token_with_alg_none_is_refused(app, fake, monkeypatch):
    import base64
    import json

    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    original = fake.id_token

    def unsigned(nonce, now, sub=None):
        claims = query_claims(original(nonce, now, sub))
        return f"{b64({'alg': 'none'})}.{b64(claims)}."

    monkeypatch.setattr(fake, "id_token", unsigned)
    callback, _ = start_login(app)
    assert _json_error(app, callback) == "invalid_token"


def test_hs256_id_token_keyed_with_the_public_rsa_key_is_refused(app, fake, monkeypatch):
    """The classic algorithm confusion: HS256 with the RSA public key as the HMAC secret."""
    import hashlib
    import hmac

    from auth0_wsgi.sealing import b64encode

    original = fake.id_token
    public_pem = fake.key.as_pem(private=False)  # joserfc refuses to do this, so sign by hand

    def confused(nonce, now, sub=None):
        claims = query_claims(original(nonce, now, sub))
        header = json_bytes({"alg": "HS256", "kid": "k1"})
        signing_input = f"{b64encode(header)}.{b64encode(json_bytes(claims))}"
        signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64encode(signature)}"

    monkeypatch.setattr(fake, "id_token", confused)
    callback, _ = start_login(app)
    assert _json_error(app, callback) == "invalid_token"


def test_oversized_id_token_is_refused_unparsed(app, fake):
    # Over the 16 KB ID-token limit, under the 256 KB cap on a whole provider answer.
    fake.id_token_claims = lambda c: {**c, "padding": "x" * 100_000}
    callback, _ = start_login(app)
    assert _json_error(app, callback) == "invalid_token"


def test_code_refused_by_provider_is_a_4xx(app, fake):
    fake.token_mode = "error:invalid_grant"
    callback, _ = start_login(app)
    response = app.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_grant"


def _json_error(app, url: str) -> str:
    return app.get(url, headers=JSON, status=400).json["error"]


def json_bytes(claims: dict) -> bytes:
    import json
    return json.dumps(claims).encode()


def query_claims(token: str) -> dict:
    from auth0_wsgi.tokens import unverified_payload
    return unverified_payload(token) or {}


def test_double_submitted_callback_spends_the_code_once(app, fake):
    """Two copies of one callback (a double click) race: the second is refused before the token request.

    The second request carries the login cookie exactly as the browser sent it the first time (the raw
    Cookie header: WebTest's set_cookie would quote it), so only the memory of consumed states stops it.
    """
    callback, _ = start_login(app)
    raw_cookie = "; ".join(f"{k}={v}" for k, v in app.cookies.items() if k.startswith("a0tx."))
    assert raw_cookie
    assert app.get(callback, headers={"Cookie": raw_cookie}).status_int == 302
    response = app.get(callback, headers={**JSON, "Cookie": raw_cookie}, status=400)
    assert response.json["error"] == "invalid_state"
    assert _token_requests(fake) == 1


def test_hs256_id_tokens_are_verified_with_the_client_secret(make_app, fake, monkeypatch):
    from joserfc import jwt
    from joserfc.jwk import OctKey

    from tests.support.fake_provider import CLIENT_SECRET

    original = fake.id_token

    def hs256(nonce, now, sub=None):
        claims = query_claims(original(nonce, now, sub))
        return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET.encode()),
                          algorithms=["HS256"])

    monkeypatch.setattr(fake, "id_token", hs256)
    assert log_in(make_app(id_token_signing_alg="HS256")).status_int == 302
    # the same token is refused by an app that pins RS256
    app = make_app()
    callback, _ = start_login(app)
    assert _json_error(app, callback) == "invalid_token"
