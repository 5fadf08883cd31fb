"""The example API (examples/api/api.ini) under real gunicorn, against the real local provider.

The access tokens come from a scripted login (authorization code + PKCE) at the provider, exactly
as the web app's middleware would get them, so the filter sees what Auth0 would send.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from auth0_wsgi.resource_server import ResourceServerConfig
from tests.support.gunicorn import gunicorn
from tests.support.real_idp import Client, LocalIdP, follow_redirects, login_via_form, require_local_idp
from tests.support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REDIRECT_URI = "http://127.0.0.1:9/callback"  # nothing listens: the login stops at the redirect
CLIENT = Client("example-api-caller", f"secret:{secrets.token_hex(8)}%+", [REDIRECT_URI])


@pytest.fixture(scope="module")
def idp() -> Iterator[LocalIdP]:
    require_local_idp()
    with LocalIdP([CLIENT]) as provider:
        yield provider


@pytest.fixture(scope="module")
def api(idp: LocalIdP) -> Iterator[str]:
    # Every other AUTH0_* option blanked: a developer's shell must not change what is tested.
    env = {f"AUTH0_{name.upper()}": "" for name in ResourceServerConfig.__dataclass_fields__}
    env.update({"AUTH0_DOMAIN": "", "AUTH0_ISSUER": idp.issuer, "AUTH0_AUDIENCE": idp.audience})
    with gunicorn("examples/api/api.ini", free_port(), env, workers=2,
                  extra_args=("--pythonpath", "examples/api")) as url:
        yield url


def access_token(idp: LocalIdP, scope: str) -> str:
    """Log in as alice at the provider and redeem the code for an access token for the API."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": CLIENT.client_id, "redirect_uri": REDIRECT_URI,
             "scope": scope, "audience": idp.audience, "state": secrets.token_urlsafe(16),
             "nonce": secrets.token_urlsafe(16), "code_challenge": challenge, "code_challenge_method": "S256"}
    with requests.Session() as browser:
        start = browser.get(f"{idp.url('authorize')}?{urlencode(query)}", allow_redirects=False, timeout=10)
        login_page = follow_redirects(browser, start, REDIRECT_URI)
        back = login_via_form(browser, login_page, "alice", stop_at_redirect_to=REDIRECT_URI)
    code = parse_qs(urlsplit(back.headers["Location"]).query)["code"][0]
    response = requests.post(idp.url("oauth/token"), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier, "client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture(scope="module")
def reader_token(idp: LocalIdP) -> str:
    return access_token(idp, "openid profile read:messages")


def get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=10)


def test_health_is_public(api):
    response = get(api + "/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_messages_without_a_token_get_the_bare_challenge(api):
    response = get(api + "/messages")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Cache-Control"] == "no-store"


def test_messages_with_a_real_access_token(api, reader_token):
    for _ in range(4):  # both workers fetch the provider's keys and accept the token
        response = get(api + "/messages", reader_token)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sub"] == "alice"
        assert "read:messages" in body["scopes"]
        assert body["messages"] and {"id", "text"} <= set(body["messages"][0])


def test_whoami_shows_the_token_claims(api, idp, reader_token):
    body = get(api + "/whoami", reader_token).json()
    assert body["sub"] == "alice"
    assert idp.audience in body["aud"]
    assert "read:messages" in body["scope"].split()


def test_a_token_without_the_scope_is_forbidden_on_messages_only(api, idp):
    token = access_token(idp, "openid profile")
    response = get(api + "/messages", token)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'scope="read:messages"' in response.headers["WWW-Authenticate"]
    assert get(api + "/whoami", token).json()["sub"] == "alice"


def test_a_tampered_token_is_invalid(api, reader_token):
    header, payload, signature = reader_token.split(".")
    forged = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    response = get(api + "/messages", f"{header}.{forged}.{signature}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"] == "invalid_token"
