"""The local Auth0-like provider (examples/local_idp), driven by a minimal
relying party written with plain requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "local_idp"))

import local_idp
from local_idp import (
    MFA_POLICY,
    Api,
    Client,
    LocalIdP,
    Organization,
    confirm_logout,
    ensure_installed,
    follow_redirects,
    login_via_form,
    submit_one_time_code,
)

from tests.support.real_idp import require_local_idp
from tests.support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REDIRECT_URI = "http://127.0.0.1:9/callback"  # nothing listens: we stop at the redirect
POST_LOGOUT_URI = "http://127.0.0.1:9/logged-out"
AUDIENCE = "https://api.example.com"
ACCESS_TOKEN_TTL = 7
FULL_SCOPE = "openid profile email offline_access read:messages"
BILLING = "https://billing.example.com"
APIS = [Api(AUDIENCE, "read:messages write:messages"), Api(BILLING, "read:invoices write:invoices")]
ACME = Organization("org_abc123", "acme", ["inv_xyz"])

POST_CLIENT = Client("post-app", "post-secret", [REDIRECT_URI], [POST_LOGOUT_URI])
BASIC_CLIENT = Client(
    "basic:app",
    "s3cr:et%2B+x/=",  # must be form-urlencoded before base64 (RFC 6749 §2.3.1)
    [REDIRECT_URI],
    token_endpoint_auth_method="client_secret_basic",
    id_token_signed_response_alg="HS256",
    apis=[AUDIENCE],  # its MRRT policy leaves out BILLING
)


def require_provider() -> None:
    """Skip when the npm deps are missing, but fail in CI where they must exist."""
    require_local_idp()


@pytest.fixture(scope="module")
def idp() -> Iterator[LocalIdP]:
    require_provider()
    with LocalIdP(
        [POST_CLIENT, BASIC_CLIENT], access_token_ttl=ACCESS_TOKEN_TTL, apis=APIS, organizations=[ACME]
    ) as provider:
        yield provider


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@pytest.fixture(scope="module")
def discovery(idp: LocalIdP) -> dict[str, Any]:
    response = requests.get(idp.url(".well-known/openid-configuration"), timeout=10)
    response.raise_for_status()
    metadata: dict[str, Any] = response.json()
    return metadata


# ------------------------------------------------------------ RP helpers


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def verify_rs256(token: str, jwks: dict[str, Any]) -> None:
    """RSASSA-PKCS1-v1_5 / SHA-256 verification with plain integers (RFC 8017 §8.2.2)."""
    header_b64, payload_b64, signature_b64 = token.split(".")
    kid = json.loads(b64url_decode(header_b64))["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    modulus = int.from_bytes(b64url_decode(key["n"]), "big")
    exponent = int.from_bytes(b64url_decode(key["e"]), "big")
    size = (modulus.bit_length() + 7) // 8
    signature = int.from_bytes(b64url_decode(signature_b64), "big")
    encoded = pow(signature, exponent, modulus).to_bytes(size, "big")
    digest = hashlib.sha256(f"{header_b64}.{payload_b64}".encode()).digest()
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    expected = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    assert hmac.compare_digest(encoded, expected), "bad RS256 signature"


def verify_hs256(token: str, secret: str) -> None:
    signing_input, _, signature = token.rpartition(".")
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(mac, b64url_decode(signature)), "bad HS256 signature"


@dataclass
class Authorization:
    callback: dict[str, str]
    nonce: str
    state: str
    verifier: str


def authorization_params(client: Client, **params: str) -> tuple[dict[str, str], str, str, str]:
    """The code flow's authorization request parameters, and its nonce, state and PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    nonce, state = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": FULL_SCOPE,
        "audience": AUDIENCE,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return query, nonce, state, verifier


def authorize_url(discovery: dict[str, Any], client: Client, **params: str) -> tuple[str, str, str, str]:
    query, nonce, state, verifier = authorization_params(client, **params)
    return f"{discovery['authorization_endpoint']}?{urlencode(query)}", nonce, state, verifier


def callback_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code in (302, 303), response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def log_in(
    http: requests.Session, discovery: dict[str, Any], client: Client, user: str = "alice", **params: str
) -> Authorization:
    """Browser part of the code flow: /authorize, the login form, back to the RP."""
    url, nonce, state, verifier = authorize_url(discovery, client, **params)
    login_page = follow_redirects(http, http.get(url, allow_redirects=False, timeout=10), REDIRECT_URI)
    assert login_page.status_code == 200 and 'name="login"' in login_page.text, login_page.text
    final = login_via_form(http, login_page, user, stop_at_redirect_to=REDIRECT_URI)
    return Authorization(callback_params(final), nonce, state, verifier)


def token_request(discovery: dict[str, Any], client: Client, data: dict[str, str]) -> requests.Response:
    if client.token_endpoint_auth_method == "client_secret_basic":
        credentials = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        headers = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
        return requests.post(discovery["token_endpoint"], data=data, headers=headers, timeout=10)
    auth = {"client_id": client.client_id, "client_secret": client.client_secret}
    return requests.post(discovery["token_endpoint"], data={**data, **auth}, timeout=10)


def redeem(discovery: dict[str, Any], client: Client, authorization: Authorization) -> dict[str, Any]:
    response = token_request(
        discovery,
        client,
        {
            "grant_type": "authorization_code",
            "code": authorization.callback["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": authorization.verifier,
        },
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def refresh(
    discovery: dict[str, Any], client: Client, refresh_token: str, **params: str
) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **params}
    return token_request(discovery, client, data)


def refreshed(discovery: dict[str, Any], client: Client, refresh_token: str, **params: str) -> dict[str, Any]:
    response = refresh(discovery, client, refresh_token, **params)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def open_authorize(http: requests.Session, url: str) -> requests.Response:
    """GET an authorization URL and follow the provider's redirects up to a page or the RP."""
    return follow_redirects(http, http.get(url, allow_redirects=False, timeout=10), REDIRECT_URI)


def log_in_silently(
    http: requests.Session, discovery: dict[str, Any], client: Client, **params: str
) -> Authorization:
    """The code flow for a browser with a provider session: no page on the way."""
    url, nonce, state, verifier = authorize_url(discovery, client, **params)
    return Authorization(callback_params(open_authorize(http, url)), nonce, state, verifier)


def log_in_with_mfa(
    http: requests.Session, discovery: dict[str, Any], client: Client, **params: str
) -> Authorization:
    """The code flow with step-up: password form, then the one-time-code page."""
    url, nonce, state, verifier = authorize_url(discovery, client, acr_values=MFA_POLICY, **params)
    login_page = open_authorize(http, url)
    assert 'name="login"' in login_page.text, login_page.text
    code_page = login_via_form(http, login_page, stop_at_redirect_to=REDIRECT_URI)
    assert code_page.status_code == 200 and 'name="otp"' in code_page.text, code_page.text
    final = submit_one_time_code(http, code_page, stop_at_redirect_to=REDIRECT_URI)
    return Authorization(callback_params(final), nonce, state, verifier)


# ------------------------------------------------------------------ tests


def test_discovery_looks_like_auth0(idp: LocalIdP, discovery: dict[str, Any]) -> None:
    assert idp.issuer == f"http://127.0.0.1:{idp.port}/"
    assert discovery["issuer"] == idp.issuer
    assert discovery["end_session_endpoint"] == idp.url("oidc/logout")
    assert discovery["authorization_response_iss_parameter_supported"] is True
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "profile", "email", "offline_access"} <= set(discovery["scopes_supported"])
    assert discovery["token_endpoint"] == idp.url("oauth/token")


def test_login_page_has_no_internet_resources(discovery: dict[str, Any], browser: requests.Session) -> None:
    url, *_ = authorize_url(discovery, POST_CLIENT)
    page = browser.get(url, timeout=10)
    assert page.status_code == 200 and 'name="login"' in page.text
    assert "@import" not in page.text and "googleapis" not in page.text
    # The app shares 127.0.0.1 (cookies ignore ports), so the names must not clash.
    names = set(browser.cookies.keys())
    assert {"_idp_interaction", "_idp_interaction_resume"} <= names
    assert all(name.startswith("_idp_") for name in names), names


def test_code_flow_with_audience_and_offline_access(
    idp: LocalIdP, discovery: dict[str, Any], browser: requests.Session
) -> None:
    authorization = log_in(browser, discovery, POST_CLIENT)
    assert authorization.callback["state"] == authorization.state
    assert authorization.callback["iss"] == idp.issuer

    tokens = redeem(discovery, POST_CLIENT, authorization)
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["expires_in"] == ACCESS_TOKEN_TTL
    assert tokens["refresh_token"]  # offline_access kept without prompt=consent
    assert set(tokens["scope"].split()) == set(FULL_SCOPE.split())

    jwks = requests.get(discovery["jwks_uri"], timeout=10).json()
    verify_rs256(tokens["id_token"], jwks)
    _, id_token = jwt_parts(tokens["id_token"])
    assert id_token["iss"] == idp.issuer and id_token["aud"] == POST_CLIENT.client_id
    assert id_token["sub"] == "alice" and id_token["nonce"] == authorization.nonce
    assert id_token["name"] == "Alice Example" and id_token["nickname"] == "alice"
    assert id_token["email"] == "alice@example.com" and id_token["email_verified"] is True
    assert id_token["picture"].startswith("data:image/svg+xml")
    assert id_token["sid"]

    verify_rs256(tokens["access_token"], jwks)
    header, access_token = jwt_parts(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert access_token["aud"] == [AUDIENCE, idp.url("userinfo")]
    assert access_token["sub"] == "alice" and access_token["iss"] == idp.issuer
    assert access_token["azp"] == POST_CLIENT.client_id
    assert set(access_token["scope"].split()) == set(FULL_SCOPE.split())
    assert access_token["exp"] - access_token["iat"] == ACCESS_TOKEN_TTL


def test_client_secret_basic_with_special_characters(
    discovery: dict[str, Any], browser: requests.Session
) -> None:
    tokens = redeem(discovery, BASIC_CLIENT, log_in(browser, discovery, BASIC_CLIENT, user="bob.smith"))
    header, id_token = jwt_parts(tokens["id_token"])
    assert header["alg"] == "HS256"
    verify_hs256(tokens["id_token"], BASIC_CLIENT.client_secret)
    assert id_token["aud"] == BASIC_CLIENT.client_id
    assert id_token["name"] == "Bob Smith" and id_token["email"] == "bob.smith@example.com"

    wrong = Client(
        BASIC_CLIENT.client_id, "s3cr:et", [REDIRECT_URI], token_endpoint_auth_method="client_secret_basic"
    )
    response = refresh(discovery, wrong, tokens["refresh_token"])
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_refresh_rotates_and_rejects_reuse(
    idp: LocalIdP, discovery: dict[str, Any], browser: requests.Session
) -> None:
    idp.reset_stats()
    first = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT))

    response = refresh(discovery, POST_CLIENT, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == ACCESS_TOKEN_TTL
    assert jwt_parts(second["id_token"])[1]["sub"] == "alice"
    assert AUDIENCE in jwt_parts(second["access_token"])[1]["aud"]

    reused = refresh(discovery, POST_CLIENT, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # Reuse revokes the whole grant, the newest refresh token included.
    revoked = refresh(discovery, POST_CLIENT, second["refresh_token"])
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"

    assert idp.stats() == {
        "authorization_code": 1,
        "authorization_code_errors": 0,
        "refresh_token": 3,
        "refresh_token_errors": 2,
    }
    idp.reset_stats()
    assert idp.stats()["refresh_token"] == 0


def test_revocation_endpoint_revokes_refresh_token(
    discovery: dict[str, Any], browser: requests.Session
) -> None:
    tokens = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT))
    revoke = requests.post(
        discovery["revocation_endpoint"],
        data={
            "token": tokens["refresh_token"],
            "client_id": POST_CLIENT.client_id,
            "client_secret": POST_CLIENT.client_secret,
        },
        timeout=10,
    )
    assert revoke.status_code == 200
    assert refresh(discovery, POST_CLIENT, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_without_audience_the_access_token_is_for_userinfo(
    discovery: dict[str, Any], browser: requests.Session
) -> None:
    authorization = log_in(browser, discovery, POST_CLIENT, scope="openid profile email", audience="")
    tokens = redeem(discovery, POST_CLIENT, authorization)
    assert tokens["access_token"].count(".") != 2  # opaque, like Auth0 without audience
    assert "refresh_token" not in tokens
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = requests.get(discovery["userinfo_endpoint"], headers=bearer, timeout=10)
    assert userinfo.status_code == 200
    assert userinfo.json()["email"] == "alice@example.com"


def test_sso_then_rp_initiated_logout(discovery: dict[str, Any], browser: requests.Session) -> None:
    http = browser
    tokens = redeem(discovery, POST_CLIENT, log_in(http, discovery, POST_CLIENT))

    # The provider session logs the user in again without the form.
    url, *_ = authorize_url(discovery, POST_CLIENT)
    silent = follow_redirects(http, http.get(url, allow_redirects=False, timeout=10), REDIRECT_URI)
    assert "code" in callback_params(silent)

    logout_query = urlencode(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "bye"}
    )
    page = http.get(f"{discovery['end_session_endpoint']}?{logout_query}", timeout=10)
    assert page.status_code == 200 and ".submit()" in page.text
    done = confirm_logout(http, page, stop_at_redirect_to=POST_LOGOUT_URI)
    assert done.status_code in (302, 303) and done.headers["Location"] == f"{POST_LOGOUT_URI}?state=bye"

    url, *_ = authorize_url(discovery, POST_CLIENT)
    assert 'name="login"' in http.get(url, timeout=10).text  # session gone: the form again
    # Like Auth0, logging out does not revoke offline (refresh) access.
    assert refresh(discovery, POST_CLIENT, tokens["refresh_token"]).status_code == 200


class LogoutReceiver(BaseHTTPRequestHandler):
    """An RP's back-channel logout endpoint that records the logout tokens."""

    tokens: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.tokens.append(parse_qs(body)["logout_token"][0])
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output quiet


def test_backchannel_logout_sends_logout_token(browser: requests.Session) -> None:
    require_provider()
    receiver = HTTPServer(("127.0.0.1", 0), LogoutReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    client = Client(
        "bc-app",
        "bc-secret",
        [REDIRECT_URI],
        backchannel_logout_uri=f"http://127.0.0.1:{receiver.server_port}/backchannel",
    )
    try:
        with LocalIdP([client]) as idp:
            discovery = requests.get(idp.url(".well-known/openid-configuration"), timeout=10).json()
            assert discovery["backchannel_logout_supported"] is True
            tokens = redeem(discovery, client, log_in(browser, discovery, client))
            page = browser.get(discovery["end_session_endpoint"], params={"client_id": "bc-app"}, timeout=10)
            assert confirm_logout(browser, page).status_code == 200
            verify_rs256(LogoutReceiver.tokens[-1], requests.get(discovery["jwks_uri"], timeout=10).json())
    finally:
        receiver.shutdown()
        receiver.server_close()
    _, logout = jwt_parts(LogoutReceiver.tokens[-1])
    assert logout["sub"] == "alice" and logout["aud"] == "bc-app"
    assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    assert logout["sid"] == jwt_parts(tokens["id_token"])[1]["sid"]


def test_unknown_audience_is_rejected(discovery: dict[str, Any]) -> None:
    url, *_ = authorize_url(discovery, POST_CLIENT, audience="https://unknown.example.com")
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert callback_params(response)["error"] == "invalid_target"


def test_missing_node_is_reported() -> None:
    with pytest.raises(RuntimeError, match="not found"):
        ensure_installed(node="definitely-not-node-executable")


def test_startup_failure_reports_stderr() -> None:
    require_provider()
    bad = Client("bad", "secret", ["not a url"])
    with pytest.raises(RuntimeError, match="exited with code") as error, LocalIdP([bad]):
        pass
    assert "redirect_uris" in str(error.value)


HANGS_ONCE = """#!{python}
# A stand-in for node: the first start spins in JavaScript and never gets ready, later ones are
# the real node.
import os, sys
first = not os.path.exists({mark!r})
open({mark!r}, "a").close()
script = ["--eval", "for (;;) {{}}"] if first else sys.argv[1:]
os.execvp("node", ["node", *script])
"""


def test_a_start_that_hangs_is_reported_and_started_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_provider()
    fake_node = tmp_path / "node"
    fake_node.write_text(HANGS_ONCE.format(python=sys.executable, mark=str(tmp_path / "started")))
    fake_node.chmod(0o755)

    with LocalIdP([POST_CLIENT], node=str(fake_node)).start(timeout=3) as idp:
        assert requests.get(idp.url(".well-known/openid-configuration"), timeout=10).ok

    said = capsys.readouterr().err
    assert "local IdP not ready after 3s (pid " in said and "starting it again" in said
    assert "state R" in said or "s of CPU" in said  # what the hung process was doing


def test_a_start_that_always_hangs_fails_with_what_it_was_doing(tmp_path: Path) -> None:
    require_provider()
    fake_node = tmp_path / "node"
    fake_node.write_text("#!/bin/sh\nexec node --eval 'for (;;) {}'\n")
    fake_node.chmod(0o755)
    idp = LocalIdP([POST_CLIENT], node=str(fake_node))

    with pytest.raises(RuntimeError, match=r"not ready after 1s \(pid \d+: state R, [\d.]+ s of CPU"):
        idp.start(timeout=1, attempts=2)
    assert idp._process is None  # stopped, not left spinning


def test_the_diagnosis_of_a_process_that_is_gone_says_so() -> None:
    assert local_idp.process_diagnosis(2**22 + 12345) == f"pid {2**22 + 12345}: no /proc details"

# ------------------------------------------- multi-resource refresh tokens


def test_refresh_token_gets_access_tokens_for_other_apis(
    idp: LocalIdP, discovery: dict[str, Any], browser: requests.Session
) -> None:
    tokens = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT))

    # Without scope: every scope of the API, for that API alone.
    billing = refreshed(discovery, POST_CLIENT, tokens["refresh_token"], audience=BILLING)
    assert billing["refresh_token"] != tokens["refresh_token"]  # rotated as usual
    _, access_token = jwt_parts(billing["access_token"])
    assert access_token["aud"] == [BILLING, idp.url("userinfo")]
    api_scopes = set(access_token["scope"].split()) - {"openid", "profile", "email", "offline_access"}
    assert api_scopes == {"read:invoices", "write:invoices"}
    assert set(billing["scope"].split()) == set(access_token["scope"].split())
    assert jwt_parts(billing["id_token"])[1]["sub"] == "alice"

    # With scope: only what was asked; no openid, so no userinfo audience.
    narrow = refreshed(
        discovery, POST_CLIENT, billing["refresh_token"], audience=BILLING, scope="read:invoices"
    )
    _, access_token = jwt_parts(narrow["access_token"])
    assert access_token["aud"] == BILLING and access_token["scope"] == "read:invoices"

    # Without audience: the login's API, as before.
    again = refreshed(discovery, POST_CLIENT, narrow["refresh_token"])
    _, access_token = jwt_parts(again["access_token"])
    assert access_token["aud"] == [AUDIENCE, idp.url("userinfo")]
    assert set(access_token["scope"].split()) == set(FULL_SCOPE.split())


def test_refresh_for_an_api_outside_the_policy_is_refused(
    discovery: dict[str, Any], browser: requests.Session
) -> None:
    tokens = redeem(discovery, BASIC_CLIENT, log_in(browser, discovery, BASIC_CLIENT))
    for audience in (BILLING, "https://unknown.example.com"):  # not in its policy; no such API
        response = refresh(discovery, BASIC_CLIENT, tokens["refresh_token"], audience=audience)
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "access_denied"
    # A refused request does not use up the refresh token.
    same = refreshed(discovery, BASIC_CLIENT, tokens["refresh_token"], audience=AUDIENCE)
    assert AUDIENCE in jwt_parts(same["access_token"])[1]["aud"]


def test_the_logins_own_api_needs_no_policy() -> None:
    require_provider()
    narrow = Client("narrow-app", "narrow-secret", [REDIRECT_URI], apis=[BILLING])
    with requests.Session() as browser, LocalIdP([narrow], apis=APIS) as idp:
        discovery = requests.get(idp.url(".well-known/openid-configuration"), timeout=10).json()
        tokens = redeem(discovery, narrow, log_in(browser, discovery, narrow))  # audience=AUDIENCE
        own = refreshed(discovery, narrow, tokens["refresh_token"], audience=AUDIENCE)
        assert jwt_parts(own["access_token"])[1]["aud"][0] == AUDIENCE
        billing = refreshed(discovery, narrow, own["refresh_token"], audience=BILLING)
        assert jwt_parts(billing["access_token"])[1]["aud"][0] == BILLING


# ------------------------------------------------------- step-up (MFA)


def test_step_up_asks_for_a_one_time_code(
    idp: LocalIdP, discovery: dict[str, Any], browser: requests.Session
) -> None:
    url, *_ = authorize_url(discovery, POST_CLIENT, acr_values=MFA_POLICY)
    code_page = login_via_form(browser, open_authorize(browser, url), stop_at_redirect_to=REDIRECT_URI)
    assert 'name="otp"' in code_page.text
    retry = submit_one_time_code(browser, code_page, "12ab56", stop_at_redirect_to=REDIRECT_URI)
    assert retry.status_code == 200 and 'role="alert"' in retry.text  # not 6 digits: asked again
    final = submit_one_time_code(browser, retry, "654321", stop_at_redirect_to=REDIRECT_URI)
    assert "code" in callback_params(final)

    before = time.time()
    tokens = redeem(discovery, POST_CLIENT, log_in_with_mfa(requests.Session(), discovery, POST_CLIENT))
    _, id_token = jwt_parts(tokens["id_token"])
    assert id_token["acr"] == MFA_POLICY and id_token["amr"] == ["mfa"]
    assert before - 2 <= id_token["auth_time"] <= time.time() + 1

    # Refreshed ID tokens keep the original login's acr, amr and auth_time.
    first = refreshed(discovery, POST_CLIENT, tokens["refresh_token"])
    second = refreshed(discovery, POST_CLIENT, first["refresh_token"], audience=BILLING)
    for refreshed_tokens in (first, second):
        _, again = jwt_parts(refreshed_tokens["id_token"])
        login = (again["acr"], again["amr"], again["auth_time"])
        assert login == (MFA_POLICY, ["mfa"], id_token["auth_time"])


def test_step_up_of_a_session_without_mfa(discovery: dict[str, Any], browser: requests.Session) -> None:
    plain = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT))
    _, id_token = jwt_parts(plain["id_token"])
    assert "amr" not in id_token and id_token.get("acr") != MFA_POLICY
    assert "amr" not in jwt_parts(refreshed(discovery, POST_CLIENT, plain["refresh_token"])["id_token"])[1]

    # The session lives, yet MFA asks for the login again, then the code.
    stepped = redeem(discovery, POST_CLIENT, log_in_with_mfa(browser, discovery, POST_CLIENT))
    assert jwt_parts(stepped["id_token"])[1]["amr"] == ["mfa"]
    # Once passed, MFA requests are silent for the session's life.
    url, *_ = authorize_url(discovery, POST_CLIENT, acr_values=MFA_POLICY, prompt="none")
    assert "code" in callback_params(browser.get(url, allow_redirects=False, timeout=10))


def test_max_age_forces_a_new_login(discovery: dict[str, Any], browser: requests.Session) -> None:
    tokens = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT))
    auth_time = jwt_parts(tokens["id_token"])[1]["auth_time"]
    time.sleep(2.1)  # auth_time has a one-second resolution

    url, *_ = authorize_url(discovery, POST_CLIENT, max_age="3600")
    assert "code" in callback_params(open_authorize(browser, url))  # young enough: silent
    url, *_ = authorize_url(discovery, POST_CLIENT, max_age="1")
    assert 'name="login"' in open_authorize(browser, url).text  # too old: the form again

    fresh = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT, max_age="1"))
    assert jwt_parts(fresh["id_token"])[1]["auth_time"] > auth_time


# ------------------------------------------------------- organizations


def test_organization_claims_in_tokens_and_after_refresh(
    discovery: dict[str, Any], browser: requests.Session
) -> None:
    log_in(browser, discovery, POST_CLIENT)  # a provider session without organization
    for organization in (ACME.name, ACME.id):
        authorization = log_in_silently(browser, discovery, POST_CLIENT, organization=organization)
        tokens = redeem(discovery, POST_CLIENT, authorization)
        rotated = refreshed(discovery, POST_CLIENT, tokens["refresh_token"])
        billing = refreshed(discovery, POST_CLIENT, rotated["refresh_token"], audience=BILLING)
        for token_set in (tokens, rotated, billing):
            for token in (token_set["id_token"], token_set["access_token"]):
                _, claims = jwt_parts(token)
                assert (claims["org_id"], claims["org_name"]) == (ACME.id, ACME.name)

    # The same session, without organization: no organization in the tokens.
    plain = redeem(discovery, POST_CLIENT, log_in_silently(browser, discovery, POST_CLIENT))
    assert "org_id" not in jwt_parts(plain["id_token"])[1]
    assert "org_id" not in jwt_parts(plain["access_token"])[1]


def test_unknown_organization_or_invitation_is_an_error_redirect(
    discovery: dict[str, Any], browser: requests.Session
) -> None:
    bad = [
        {"organization": "org_unknown"},
        {"organization": ACME.id, "invitation": "inv_unknown"},
        {"invitation": "inv_xyz"},  # an invitation needs its organization
    ]
    for params in bad:
        url, *_ = authorize_url(discovery, POST_CLIENT, **params)
        callback = callback_params(browser.get(url, allow_redirects=False, timeout=10))
        assert callback["error"] == "invalid_request", params

    url, *_ = authorize_url(discovery, POST_CLIENT, organization=ACME.id, invitation="inv_xyz")
    assert 'name="login"' in open_authorize(browser, url).text


# ----------------------------------------------------------------- PAR


def push(discovery: dict[str, Any], client: Client, params: dict[str, str]) -> requests.Response:
    """POST to the PAR endpoint, with the client's token-endpoint authentication."""
    endpoint = discovery["pushed_authorization_request_endpoint"]
    if client.token_endpoint_auth_method == "client_secret_basic":
        credentials = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        headers = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
        return requests.post(endpoint, data=params, headers=headers, timeout=10)
    auth = {"client_id": client.client_id, "client_secret": client.client_secret}
    return requests.post(endpoint, data={**params, **auth}, timeout=10)


def par_url(discovery: dict[str, Any], client: Client, request_uri: str) -> str:
    query = urlencode({"client_id": client.client_id, "request_uri": request_uri})
    return f"{discovery['authorization_endpoint']}?{query}"


def test_pushed_authorization_request_carries_audience_organization_and_acr(
    idp: LocalIdP, discovery: dict[str, Any], browser: requests.Session
) -> None:
    assert discovery["pushed_authorization_request_endpoint"] == idp.url("oauth/par")
    assert not discovery.get("require_pushed_authorization_requests")

    params, nonce, state, verifier = authorization_params(
        POST_CLIENT, organization=ACME.name, acr_values=MFA_POLICY
    )
    pushed = push(discovery, POST_CLIENT, params)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")

    login_page = open_authorize(browser, par_url(discovery, POST_CLIENT, pushed.json()["request_uri"]))
    code_page = login_via_form(browser, login_page, stop_at_redirect_to=REDIRECT_URI)
    final = submit_one_time_code(browser, code_page, stop_at_redirect_to=REDIRECT_URI)
    authorization = Authorization(callback_params(final), nonce, state, verifier)
    assert authorization.callback["state"] == state
    tokens = redeem(discovery, POST_CLIENT, authorization)
    assert tokens["refresh_token"]  # offline_access kept, as through /authorize
    _, id_token = jwt_parts(tokens["id_token"])
    assert id_token["nonce"] == nonce and id_token["acr"] == MFA_POLICY and id_token["org_id"] == ACME.id
    _, access_token = jwt_parts(tokens["access_token"])
    assert access_token["aud"][0] == AUDIENCE and access_token["org_id"] == ACME.id

    # Client authentication as at the token endpoint: basic works, a wrong secret does not.
    basic_params, *_ = authorization_params(BASIC_CLIENT)
    assert push(discovery, BASIC_CLIENT, basic_params).status_code == 201
    wrong = Client(POST_CLIENT.client_id, "wrong", [REDIRECT_URI])
    refused = push(discovery, wrong, params)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    # Pushed parameters are checked as /authorize checks them.
    unknown_org, *_ = authorization_params(POST_CLIENT, organization="org_unknown")
    assert push(discovery, POST_CLIENT, unknown_org).json()["error"] == "invalid_request"


def test_require_par(browser: requests.Session) -> None:
    require_provider()
    with LocalIdP([POST_CLIENT], require_par=True) as idp:
        discovery = requests.get(idp.url(".well-known/openid-configuration"), timeout=10).json()
        assert discovery["require_pushed_authorization_requests"] is True

        url, *_ = authorize_url(discovery, POST_CLIENT)
        plain = browser.get(url, allow_redirects=False, timeout=10)
        assert callback_params(plain)["error"] == "invalid_request"

        params, *_ = authorization_params(POST_CLIENT)
        pushed = push(discovery, POST_CLIENT, params)
        assert pushed.status_code == 201, pushed.text
        page = open_authorize(browser, par_url(discovery, POST_CLIENT, pushed.json()["request_uri"]))
        assert "code" in callback_params(login_via_form(browser, page, stop_at_redirect_to=REDIRECT_URI))


# --------------------------------------------------------- prompt=none


def test_prompt_none(discovery: dict[str, Any], browser: requests.Session) -> None:
    url, *_ = authorize_url(discovery, POST_CLIENT, prompt="none")
    callback = callback_params(browser.get(url, allow_redirects=False, timeout=10))
    assert callback["error"] == "login_required" and "code" not in callback

    log_in(browser, discovery, POST_CLIENT)
    url, *_ = authorize_url(discovery, POST_CLIENT, prompt="none")
    # Straight back to the client with a code: no page, no provider redirect.
    callback = callback_params(browser.get(url, allow_redirects=False, timeout=10))
    assert "code" in callback and "error" not in callback


# ------------------------------------------------------------ userinfo


def test_userinfo_answers_the_api_access_token(discovery: dict[str, Any], browser: requests.Session) -> None:
    tokens = redeem(discovery, POST_CLIENT, log_in(browser, discovery, POST_CLIENT, organization=ACME.id))

    def userinfo(access_token: str) -> requests.Response:
        bearer = {"Authorization": f"Bearer {access_token}"}
        return requests.get(discovery["userinfo_endpoint"], headers=bearer, timeout=10)

    response = userinfo(tokens["access_token"])
    assert response.status_code == 200, response.text
    claims = response.json()
    assert claims["sub"] == "alice" and claims["name"] == "Alice Example"
    assert claims["email"] == "alice@example.com" and claims["org_id"] == ACME.id

    header, payload, signature = tokens["access_token"].split(".")
    forged = json.loads(b64url_decode(payload)) | {"sub": "mallory"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert userinfo(f"{header}.{forged_payload}.{signature}").status_code == 401

    # An access token without openid has no userinfo audience.
    narrow = refreshed(
        discovery, POST_CLIENT, tokens["refresh_token"], audience=BILLING, scope="read:invoices"
    )
    assert userinfo(narrow["access_token"]).status_code == 401


# ------------------------------------------------------- the command line (the demo's)

CLI_CLIENT = Client("cli-app", "cli-secret", [REDIRECT_URI])


def cli_args(*extra: str) -> list[str]:
    return ["--client-id", CLI_CLIENT.client_id, "--client-secret", CLI_CLIENT.client_secret,
            "--redirect-uri", REDIRECT_URI, *extra]


def test_cli_parses_apis_and_organizations() -> None:
    args = local_idp._parse_args(cli_args("--api", f"{BILLING}=read:invoices  write:invoices",
                                          "--api", AUDIENCE, "--organization", "org_abc123:acme",
                                          "--require-par"))
    assert args.api == [Api(BILLING, "read:invoices write:invoices"), Api(AUDIENCE, "")]
    assert args.organization == [Organization("org_abc123", "acme")]
    assert args.require_par is True
    assert args.audience == BILLING  # without --audience, the first --api is the login's API
    # as before these flags: --audience alone, or its default
    assert local_idp._parse_args(cli_args("--audience", AUDIENCE, "--api", BILLING)).audience == AUDIENCE
    assert local_idp._parse_args(cli_args()).audience == AUDIENCE
    assert local_idp._parse_args(cli_args()).api == []


@pytest.mark.parametrize("flag", ["--api==read:invoices", "--organization=acme", "--organization=:acme",
                                  "--organization=org_abc123:"])
def test_cli_refuses_a_malformed_api_or_organization(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        local_idp._parse_args(cli_args(flag))
    assert "is not" in capsys.readouterr().err


def test_cli_serves_the_apis_and_organizations_of_its_flags(browser: requests.Session) -> None:
    """What the demo starts: the CLI's --audience and --api both reach the provider, and so does
    --organization; an API it was not given stays unknown."""
    require_provider()
    port = free_port()
    command = [sys.executable, str(Path(local_idp.__file__)), "--port", str(port), "--audience", AUDIENCE,
               "--api", f"{BILLING}=read:invoices", "--organization", "org_cli:cli-org",
               "--client-id", CLI_CLIENT.client_id, "--redirect-uri", REDIRECT_URI]
    # the secret in the environment, as the demo gives it
    env = {**os.environ, local_idp.SECRET_VARIABLE: CLI_CLIENT.client_secret}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            assert "Local IdP ready" in process.stdout.readline()  # it prints this once listening
            issuer = f"http://127.0.0.1:{port}/"
            metadata = requests.get(issuer + ".well-known/openid-configuration", timeout=10).json()

            login = log_in(browser, metadata, CLI_CLIENT, organization="cli-org")
            tokens = redeem(metadata, CLI_CLIENT, login)
            _, claims = jwt_parts(tokens["access_token"])
            assert AUDIENCE in claims["aud"] and "read:messages" in claims["scope"].split()
            assert (claims["org_id"], claims["org_name"]) == ("org_cli", "cli-org")
            billing = refreshed(metadata, CLI_CLIENT, tokens["refresh_token"], audience=BILLING)
            _, claims = jwt_parts(billing["access_token"])
            assert BILLING in claims["aud"] and AUDIENCE not in claims["aud"]
            assert "read:invoices" in claims["scope"].split()

            unknown, *_ = authorize_url(metadata, CLI_CLIENT, audience="https://unknown.example.com")
            refused = requests.get(unknown, allow_redirects=False, timeout=10)
            assert callback_params(refused)["error"] == "invalid_target"
        finally:
            process.terminate()
            process.wait(10)
