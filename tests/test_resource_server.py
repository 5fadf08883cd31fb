"""The resource-server filter (``egg:auth0-wsgi#api``): bad tokens, bad requests, scopes, config.

Tokens are signed here with the fake provider's key (kid "k1"), whose JWKS the filter fetches over
real loopback HTTP; forged ones are built by hand where joserfc (rightly) refuses to build them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import webtest
from joserfc import jwt
from joserfc.jwk import RSAKey
from paste.deploy import loadapp

from auth0_wsgi import ConfigError
from auth0_wsgi.bearer import InsufficientScope, InvalidToken
from auth0_wsgi.resource_server import (
    CLAIMS,
    ResourceServerConfig,
    ResourceServerMiddleware,
    get_claims,
    has_scopes,
    requires_scopes,
)
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, FakeProvider
from tests.support.inifiles import api_filter_ini
from tests.support.servers import free_port

SUB = "auth0|alice"
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k2"})
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token", error_description="'


@pytest.fixture(autouse=True)
def _no_auth0_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The filter falls back to AUTH0_* variables: none from the developer's shell may leak in."""
    for name in [k for k in os.environ if k.startswith("AUTH0_")]:
        monkeypatch.delenv(name)


def claims_app(environ: dict, start_response: Any) -> list[bytes]:
    """Shows whether the app got claims, and the body it could still read."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    seen = {"has_claims": CLAIMS in environ, "claims": environ.get(CLAIMS), "body": body.decode()}
    data = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


@pytest.fixture
def make_api(fake: FakeProvider) -> Callable[..., webtest.TestApp]:
    def make(app: Any = claims_app, **overrides: Any) -> webtest.TestApp:
        settings = {"issuer": fake.issuer, "audience": AUDIENCE, "http_timeout": 2,
                    "public_paths": "/health", **overrides}
        return webtest.TestApp(ResourceServerMiddleware(app, **settings))
    return make


@pytest.fixture
def api(make_api: Callable[..., webtest.TestApp]) -> webtest.TestApp:
    return make_api(required_scopes="read:messages")


def claims_for(fake: FakeProvider, drop: tuple[str, ...] = (), **claims: Any) -> dict[str, Any]:
    """What Auth0 puts in an access token for this API (an RS256 JWT), with overrides."""
    now = int(time.time())
    payload = {"iss": fake.issuer, "sub": SUB, "aud": AUDIENCE, "iat": now, "exp": now + 600,
               "azp": CLIENT_ID, "scope": "openid read:messages", **claims}
    for name in drop:
        payload.pop(name)
    return payload


def sign(fake: FakeProvider, key: RSAKey | None = None, header: dict[str, Any] | None = None,
         drop: tuple[str, ...] = (), **claims: Any) -> str:
    header = {"alg": "RS256", "kid": "k1", **(header or {})}
    return jwt.encode(header, claims_for(fake, drop, **claims), key or fake.key)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(fake: FakeProvider) -> str:
    _, payload, _ = sign(fake).split(".")
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."


def hs256_with_public_key(fake: FakeProvider) -> str:
    """Algorithm confusion: HMAC keyed with the RSA public key a verifier might treat as a secret."""
    _, payload, _ = sign(fake).split(".")
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{payload}"
    secret = fake.key.as_pem(private=False)
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def tampered_signature(fake: FakeProvider) -> str:
    token = sign(fake)
    head, _, signature = token.rpartition(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{signature[:middle]}{flipped}{signature[middle + 1:]}"


def tampered_payload(fake: FakeProvider) -> str:
    header, _, signature = sign(fake, scope="openid").split(".")
    forged = claims_for(fake, scope="openid read:messages admin")
    return f"{header}.{b64(json.dumps(forged).encode())}.{signature}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_no_store(response: webtest.TestResponse) -> None:
    assert response.headers["Cache-Control"] == "no-store"
    assert response.content_type == "application/json"


# -- the token table ------------------------------------------------------------------------------
TOKENS = [  # token, status, why
    pytest.param(lambda f: sign(f), 200, "", id="valid"),
    pytest.param(lambda f: sign(f, aud=["https://other.example", AUDIENCE]), 200, "",
                 id="aud-list-with-audience"),
    pytest.param(lambda f: sign(f, scope="openid", permissions=["read:messages"]), 200, "",
                 id="scope-via-permissions"),
    pytest.param(lambda f: sign(f, exp=int(time.time()) - 30), 200, "", id="expired-within-clock-skew"),
    pytest.param(lambda f: jwt.encode({"alg": "RS256"}, claims_for(f), f.key), 200, "",
                 id="no-kid-single-key"),
    pytest.param(lambda f: sign(f, exp=int(time.time()) - 120), 401, "expired", id="expired"),
    pytest.param(lambda f: sign(f, drop=("exp",)), 401, "'exp'", id="no-exp"),
    pytest.param(lambda f: sign(f, exp="tomorrow"), 401, "'exp'", id="exp-not-a-number"),
    pytest.param(lambda f: sign(f, nbf=int(time.time()) + 300), 401, "not yet valid", id="nbf-in-the-future"),
    pytest.param(lambda f: sign(f, iat=int(time.time()) + 300), 401, "issued in the future",
                 id="iat-in-the-future"),
    pytest.param(lambda f: sign(f, aud="https://other.example"), 401, "'aud'", id="wrong-aud"),
    pytest.param(lambda f: sign(f, aud=["https://other.example", "x"]), 401, "'aud'",
                 id="aud-list-without-audience"),
    pytest.param(lambda f: sign(f, aud=CLIENT_ID), 401, "'aud'", id="id-token-for-the-client"),
    pytest.param(lambda f: sign(f, drop=("aud",)), 401, "'aud'", id="no-aud"),
    pytest.param(lambda f: sign(f, iss="https://evil.example/"), 401, "'iss'", id="wrong-iss"),
    pytest.param(lambda f: sign(f, iss=f.issuer.rstrip("/")), 401, "'iss'", id="iss-without-trailing-slash"),
    pytest.param(lambda f: sign(f, drop=("sub",)), 401, "'sub'", id="no-sub"),
    pytest.param(unsigned, 401, "'none' is not allowed", id="alg-none"),
    pytest.param(hs256_with_public_key, 401, "'HS256' is not allowed", id="hs256-with-rsa-public-key"),
    pytest.param(lambda f: sign(f, key=OTHER_KEY, header={"kid": "k2"}), 401, "kid",
                 id="unknown-kid-other-key"),
    pytest.param(lambda f: sign(f, key=OTHER_KEY), 401, "bad signature", id="other-key-claiming-k1"),
    pytest.param(tampered_signature, 401, "bad signature", id="tampered-signature"),
    pytest.param(tampered_payload, 401, "bad signature", id="tampered-payload"),
    pytest.param(lambda f: "abc.def", 401, "JSON Web Signature", id="not-a-jwt"),
    pytest.param(lambda f: sign(f, scope=["read:messages"]), 401, "scope claim", id="scope-not-a-string"),
    pytest.param(lambda f: sign(f, scope="openid", permissions=[1]), 401, "permissions claim",
                 id="permissions-not-strings"),
    pytest.param(lambda f: sign(f, padding="x" * 20_000), 401, "too large", id="oversized"),
    pytest.param(lambda f: sign(f, scope="openid profile"), 403, "read:messages", id="missing-scope"),
    pytest.param(lambda f: sign(f, scope="openid", permissions=["write:x"]),
                 403, "read:messages", id="permissions-without-the-scope"),
]


@pytest.mark.parametrize(("make_token", "status", "why"), TOKENS)
def test_bearer_tokens(api: webtest.TestApp, fake: FakeProvider, make_token: Callable[[FakeProvider], str],
                       status: int, why: str) -> None:
    response = api.get("/messages", headers=bearer(make_token(fake)), status="*")
    assert response.status_int == status, response.text
    if status == 200:
        assert response.json["has_claims"] is True
        assert response.json["claims"]["sub"] == SUB
        assert response.json["claims"]["iss"] == fake.issuer
        return
    assert_no_store(response)
    assert why in response.json["error_description"]
    if status == 401:
        assert response.json["error"] == "invalid_token"
        assert response.headers["WWW-Authenticate"].startswith(INVALID_TOKEN_CHALLENGE)
    else:
        assert response.json["error"] == "insufficient_scope"
        assert response.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", error_description="This request needs the scopes: '
            'read:messages", scope="read:messages"')


def test_an_oversized_token_is_refused_before_any_key_is_fetched(api, fake):
    response = api.get("/messages", headers=bearer(sign(fake, padding="x" * 20_000)), status=401)
    assert "too large" in response.json["error_description"]
    assert fake.counts["/jwks"] == 0 and fake.counts["/.well-known/openid-configuration"] == 0


# -- the Authorization header ---------------------------------------------------------------------
HEADERS = [  # Authorization header from a good token, status, error
    pytest.param(lambda t: None, 401, None, id="no-header"),
    pytest.param(lambda t: "", 401, None, id="empty-header"),
    pytest.param(lambda t: "Basic dXNlcjpwYXNz", 401, None, id="basic-scheme"),
    pytest.param(lambda t: "Bearer", 401, None, id="bearer-without-token"),
    pytest.param(lambda t: "Bearer    ", 401, None, id="bearer-blank-token"),
    pytest.param(lambda t: f"Bearer {t} {t}", 400, "invalid_request", id="two-tokens"),
    pytest.param(lambda t: f"Bearer {t},x", 400, "invalid_request", id="comma-separated"),
    pytest.param(lambda t: f"bearer {t}", 200, None, id="lowercase-scheme"),
    pytest.param(lambda t: f"BEARER {t}", 200, None, id="uppercase-scheme"),
    pytest.param(lambda t: f"Bearer   {t}", 200, None, id="several-spaces"),
]


@pytest.mark.parametrize(("header", "status", "error"), HEADERS)
def test_authorization_headers(api, fake, header, status, error):
    value = header(sign(fake))
    headers = {} if value is None else {"Authorization": value}
    response = api.get("/messages", headers=headers, status="*")
    assert response.status_int == status, response.text
    if status == 200:
        assert response.json["claims"]["sub"] == SUB
    elif error is None:  # RFC 6750 §3.1: no authentication at all gets the bare challenge
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json["error"] == "missing_token"
    else:
        assert response.headers["WWW-Authenticate"].startswith(f'Bearer error="{error}"')
        assert response.json["error"] == error
        assert_no_store(response)


# -- tokens elsewhere than the header -------------------------------------------------------------
def test_a_token_in_the_query_string_is_refused_even_with_a_valid_header(api, fake):
    token = sign(fake)
    response = api.get(f"/messages?access_token={token}", headers=bearer(token), status=400)
    assert response.json["error"] == "invalid_request"
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')
    api.get(f"/messages?x=1&access%5Ftoken={token}", status=400)  # percent-encoded name


def test_a_token_in_a_form_body_is_refused(api, fake):
    token = sign(fake)
    response = api.post("/messages", {"note": "hi", "access_token": token}, headers=bearer(token), status=400)
    assert response.json["error"] == "invalid_request"


def test_other_form_bodies_reach_the_app_whole(api, fake):
    response = api.post("/messages", {"note": "hi", "token_hint": "x"}, headers=bearer(sign(fake)))
    assert response.json["body"] == "note=hi&token_hint=x"
    json_body = api.post_json("/messages", {"access_token": "not-a-form"}, headers=bearer(sign(fake)))
    assert json_body.json["has_claims"] is True  # only form bodies carry RFC 6750 §2.2 tokens


# -- public paths and the environ -----------------------------------------------------------------
@pytest.mark.parametrize(("path", "status"), [
    pytest.param("/health", 200, id="exact"),
    pytest.param("/health/live", 200, id="below"),
    pytest.param("/healthz", 401, id="prefix-only"),
    pytest.param("/", 401, id="root"),
])
def test_public_paths_match_whole_segments(api, path, status):
    response = api.get(path, status=status)
    if status == 200:
        assert response.json["has_claims"] is False


def test_spoofed_claims_never_reach_the_app(api, fake):
    spoof = {CLAIMS: {"sub": "auth0|mallory", "scope": "read:messages admin"}}
    assert api.get("/health", extra_environ=spoof).json["has_claims"] is False
    api.get("/messages", extra_environ=spoof, status=401)
    real = api.get("/messages", headers=bearer(sign(fake)), extra_environ=spoof).json["claims"]
    assert real["sub"] == SUB and "admin" not in real["scope"]


# -- the provider ---------------------------------------------------------------------------------
@pytest.mark.parametrize("breakage", ["discovery_status", "jwks_status"])
@pytest.mark.parametrize("status", [500, 404])
def test_a_broken_provider_answers_503_with_retry_after(api, fake, breakage, status):
    setattr(fake, breakage, status)
    response = api.get("/messages", headers=bearer(sign(fake)), status=503)
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"] == "provider_unavailable"
    assert_no_store(response)
    assert "WWW-Authenticate" not in response.headers


def test_an_unreachable_provider_answers_503(make_api, fake):
    api = make_api(issuer=f"http://127.0.0.1:{free_port()}/")
    response = api.get("/messages", headers=bearer(sign(fake)), status=503)
    assert response.headers["Retry-After"] == "5"


def test_cached_keys_serve_while_the_provider_is_down(api, fake):
    api.get("/messages", headers=bearer(sign(fake)), status=200)
    fake.discovery_status = fake.jwks_status = 500
    api.get("/messages", headers=bearer(sign(fake)), status=200)
    assert fake.counts["/jwks"] == 1


def test_an_unknown_kid_refetches_the_jwks_once(api, fake):
    api.get("/messages", headers=bearer(sign(fake)), status=200)
    rotated = sign(fake, key=OTHER_KEY, header={"kid": "k2"})
    api.get("/messages", headers=bearer(rotated), status=401)
    api.get("/messages", headers=bearer(rotated), status=401)
    assert fake.counts["/jwks"] == 2  # one refetch, then the cool-down: a kid flood cannot DoS the IdP


def test_a_rotated_key_is_picked_up(api, fake):
    api.get("/messages", headers=bearer(sign(fake)), status=200)
    fake.extra_keys = [OTHER_KEY]
    response = api.get("/messages", headers=bearer(sign(fake, key=OTHER_KEY, header={"kid": "k2"})))
    assert response.json["claims"]["sub"] == SUB


def test_pinned_algorithms_refuse_a_correctly_signed_other_algorithm(make_api, fake):
    api = make_api(algorithms="RS384")
    api.get("/messages", headers=bearer(sign(fake)), status=401)
    token = jwt.encode({"alg": "RS384", "kid": "k1"}, {"iss": fake.issuer, "sub": SUB, "aud": AUDIENCE,
                                                     "exp": int(time.time()) + 60}, fake.key,
                       algorithms=["RS384"])
    assert api.get("/messages", headers=bearer(token)).json["claims"]["sub"] == SUB


def test_no_token_is_ever_logged(api, fake, caplog):
    caplog.set_level(logging.DEBUG)
    valid, expired = sign(fake), sign(fake, exp=int(time.time()) - 600)
    api.get("/messages", headers=bearer(valid))
    api.get("/messages", headers=bearer(expired), status=401)
    api.get(f"/messages?access_token={valid}", status=400)
    api.get("/messages", headers=bearer(sign(fake, key=OTHER_KEY, header={"kid": "k2"})), status=401)
    assert any("invalid_token" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        text = record.getMessage()
        assert valid not in text and expired not in text
        assert valid.split(".")[2] not in text and expired.split(".")[1] not in text


# -- scopes for views -----------------------------------------------------------------------------
@requires_scopes("read:messages", "write:messages")
def writer(environ: dict, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [get_claims(environ)["sub"].encode()]


@pytest.mark.parametrize(("claims", "status"), [
    pytest.param({"scope": "read:messages"}, 403, id="one-of-two"),
    pytest.param({"scope": "read:messages write:messages"}, 200, id="both-in-scope"),
    pytest.param({"scope": "read:messages", "permissions": ["write:messages"]}, 200,
                 id="scope-and-permissions"),
    pytest.param({"scope": "", "permissions": ["write:messages", "read:messages"]}, 200,
                 id="both-in-permissions"),
])
def test_requires_scopes_needs_every_scope(make_api, fake, claims, status):
    api = make_api(app=writer)
    response = api.get("/write", headers=bearer(sign(fake, **claims)), status=status)
    if status == 403:
        assert response.json["error"] == "insufficient_scope"
        assert response.headers["WWW-Authenticate"].endswith('scope="read:messages write:messages"')
    else:
        assert response.text == SUB


def test_requires_scopes_without_the_filter_challenges():
    response = webtest.TestApp(writer).get("/write", status=401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_requires_scopes_refuses_a_bad_scope_name_at_import():
    with pytest.raises(ValueError, match="not a valid scope name"):
        requires_scopes('read:"quoted"')


def test_has_scopes():
    environ = {CLAIMS: {"sub": SUB, "scope": "a b", "permissions": ["c"]}}
    assert has_scopes(environ, "a", "c") and has_scopes(environ)
    assert not has_scopes(environ, "a", "d")
    assert not has_scopes({}, "a") and not has_scopes({})


def test_challenges_quote_safely():
    assert InvalidToken('bad "kid" \\ here').challenge() == (
        'Bearer error="invalid_token", error_description="bad ?kid? ? here"')
    assert InsufficientScope(["a", "b"]).challenge().endswith(', scope="a b"')


# -- PasteDeploy ----------------------------------------------------------------------------------
def test_the_paste_entry_point(tmp_path, fake):
    ini = api_filter_ini(tmp_path, issuer=fake.issuer, audience=AUDIENCE, required_scopes="read:messages",
                         public_paths="/health")
    app = webtest.TestApp(loadapp(f"config:{ini}"))
    assert app.get("/health").json["path"] == "/health"
    assert app.get("/messages", status=401).headers["WWW-Authenticate"] == "Bearer"
    app.get("/messages", headers=bearer(sign(fake)), status=200)
    app.get("/messages", headers=bearer(sign(fake, scope="openid")), status=403)


# -- configuration --------------------------------------------------------------------------------
GOOD_CONFIG = [  # settings, environment, expected Config fields
    pytest.param({"domain": "tenant.us.auth0.com", "audience": "https://api"}, {},
                 {"issuer": "https://tenant.us.auth0.com/", "audience": "https://api",
                  "algorithms": ("RS256",), "clock_skew": 60, "http_timeout": 5.0, "required_scopes": (),
                  "public_paths": ()}, id="domain"),
    pytest.param({"issuer": "http://127.0.0.1:9400/", "audience": "a"}, {},
                 {"issuer": "http://127.0.0.1:9400/"}, id="loopback-http-issuer"),
    pytest.param({}, {"AUTH0_DOMAIN": "t.auth0.com", "AUTH0_AUDIENCE": "https://api",
                      "AUTH0_REQUIRED_SCOPES": "read:x write:x", "AUTH0_CLOCK_SKEW": "5"},
                 {"issuer": "https://t.auth0.com/", "required_scopes": ("read:x", "write:x"),
                  "clock_skew": 5}, id="all-from-environment"),
    pytest.param({"audience": "a"}, {"AUTH0_ISSUER": "https://id.example/"},
                 {"issuer": "https://id.example/"}, id="issuer-from-environment"),
    pytest.param({"domain": "mine.auth0.com", "audience": "mine"},
                 {"AUTH0_ISSUER": "https://theirs/", "AUTH0_AUDIENCE": "theirs"},
                 {"issuer": "https://mine.auth0.com/", "audience": "mine"}, id="explicit-beats-environment"),
    pytest.param({"domain": "t.auth0.com", "audience": "a"}, {"AUTH0_ALGORITHMS": ""},
                 {"algorithms": ("RS256",)}, id="empty-environment-ignored"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "required_scopes": ["a", "b", "a"],
                  "public_paths": ["/health/", "/docs"], "clock_skew": 0, "http_timeout": 1.5,
                  "algorithms": ["rs256", "ES256"]}, {},
                 {"required_scopes": ("a", "b"), "public_paths": ("/health", "/docs"), "clock_skew": 0,
                  "http_timeout": 1.5, "algorithms": ("RS256", "ES256")}, id="native-values"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "required_scopes": None}, {},
                 {"required_scopes": ()}, id="none-means-unset"),
]


@pytest.mark.parametrize(("settings", "environ", "expected"), GOOD_CONFIG)
def test_good_config(settings, environ, expected):
    config = ResourceServerConfig.from_settings(settings, environ)
    assert {name: getattr(config, name) for name in expected} == expected


BAD_CONFIG = [  # settings, environment, the option the error names, a fragment of its message
    pytest.param({"domain": "t.auth0.com"}, {}, "audience", "is required", id="no-audience"),
    pytest.param({"domain": "t.auth0.com", "audience": "  "}, {}, "audience", "not an API identifier",
                 id="blank-audience"),
    pytest.param({"audience": "a"}, {}, "domain", "is required", id="no-issuer"),
    pytest.param({"domain": "t.auth0.com", "issuer": "https://t.auth0.com/", "audience": "a"}, {},
                 "domain", "together", id="domain-and-issuer"),
    pytest.param({"domain": "https://t.auth0.com", "audience": "a"}, {}, "domain", "bare host",
                 id="domain-with-scheme"),
    pytest.param({"issuer": "http://id.example/", "audience": "a"}, {}, "issuer", "loopback",
                 id="http-issuer-not-loopback"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "algorithms": "none"}, {}, "algorithms",
                 "unsigned", id="alg-none"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "algorithms": "RS256 HS256"}, {}, "algorithms",
                 "shared secret", id="alg-hs256"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "algorithms": "RS1"}, {}, "algorithms",
                 "is not one of", id="alg-unknown"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "algorithms": " "}, {}, "algorithms", "empty",
                 id="alg-empty"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "clock_skew": "-1"}, {}, "clock_skew",
                 "below", id="clock-skew-negative"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "clock_skew": "a minute"}, {},
                 "clock_skew", "whole number", id="clock-skew-word"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "http_timeout": "0"}, {}, "http_timeout",
                 "below", id="http-timeout-zero"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "public_paths": "health"}, {},
                 "public_paths", "absolute path", id="public-path-relative"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "required_scopes": 'read:"x"'}, {},
                 "required_scopes", "scope name", id="scope-with-quote"),
    pytest.param({"domain": "t.auth0.com", "audiance": "a"}, {}, "audiance", "did you mean 'audience'",
                 id="typo"),
    pytest.param({"domain": "t.auth0.com", "audience": "a", "client_id": "x"}, {}, "client_id",
                 "not an option", id="login-option"),
    pytest.param({"domain": "t.auth0.com", "audience": "a"}, {"AUTH0_CLOCK_SKEW": "lots"},
                 "clock_skew", "whole number", id="bad-environment"),
]


@pytest.mark.parametrize(("settings", "environ", "option", "fragment"), BAD_CONFIG)
def test_bad_config(settings, environ, option, fragment):
    with pytest.raises(ConfigError) as caught:
        ResourceServerConfig.from_settings(settings, environ)
    assert caught.value.option == option
    assert f"option '{option}'" in str(caught.value) and fragment in str(caught.value)


def test_the_middleware_reads_the_process_environment(monkeypatch, fake):
    monkeypatch.setenv("AUTH0_ISSUER", fake.issuer)
    monkeypatch.setenv("AUTH0_AUDIENCE", AUDIENCE)
    api = webtest.TestApp(ResourceServerMiddleware(claims_app))
    assert api.get("/x", headers=bearer(sign(fake))).json["claims"]["aud"] == AUDIENCE


def test_config_and_settings_are_exclusive(fake):
    config = ResourceServerConfig.from_settings({"issuer": fake.issuer, "audience": AUDIENCE}, {})
    with pytest.raises(TypeError):
        ResourceServerMiddleware(claims_app, config, audience="x")
