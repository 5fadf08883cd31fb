"""``fetch_userinfo``: the UserInfo answer is merged under the ID token's claims at login, and is
untrusted: another ``sub``, registered claims, garbage, a huge body or an endpoint that is down
refuse the login with a clear error. Against the fake provider and the real one."""

from __future__ import annotations

import json
import secrets

import pytest
import requests

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.stepup import MFA_POLICY
from tests.support import login_hooks
from tests.support.apps import echo_app
from tests.support.flows import log_in, start_login
from tests.support.http import HTML, JSON
from tests.support.real_idp import login_via_form, provider_for_an_app
from tests.support.servers import serve


def refused(app, status: int) -> dict:
    """A login whose callback answers ``status``: its JSON error, and no session opened."""
    callback, _ = start_login(app)
    answer = app.get(callback, headers=JSON, status=status)
    assert not any(name.startswith("auth0_session") for name in app.cookies)
    app.get("/x", headers=JSON, status=401)
    return answer.json


def test_off_by_default_the_endpoint_is_never_asked(make_app, fake):
    app = make_app()
    log_in(app)
    user = app.get("/x", headers=JSON).json["auth0.user"]
    assert fake.counts["/userinfo"] == 0 and "nickname" not in user


def test_on_the_answer_is_merged_under_the_id_token_s_claims(make_app, fake):
    fake.userinfo_claims = {"name": "Someone Else", "https://example.com/plan": "gold"}
    app = make_app(fetch_userinfo=True)
    log_in(app)
    seen = app.get("/x", headers=JSON).json
    assert fake.counts["/userinfo"] == 1
    assert fake.last_userinfo_authorization == f"Bearer {seen['auth0.access_token']}"
    user = seen["auth0.user"]
    assert user["nickname"] == "alice" and user["https://example.com/plan"] == "gold"
    assert user["name"] == "Alice Example"  # the ID token's claim wins
    assert user["sub"] == "auth0|alice" and user["sid"] == "sid-1"


def test_refreshes_neither_ask_again_nor_lose_the_merged_claims(build_app, fake):
    fake.access_token_ttl = 30  # inside refresh_leeway: every request refreshes
    app = build_app(fetch_userinfo="true")
    log_in(app)
    first = app.get("/x", headers=JSON).json
    second = app.get("/x", headers=JSON).json
    assert first["auth0.access_token"] != second["auth0.access_token"]
    assert second["auth0.user"] == first["auth0.user"] and second["auth0.user"]["nickname"] == "alice"
    assert fake.counts["/userinfo"] == 1


def test_the_login_hook_sees_the_merged_claims_and_session_claims_trims_them(build_app, fake):
    login_hooks.reset()
    app = build_app(fetch_userinfo=True, on_login="tests.support.login_hooks:record",
                    session_claims="nickname")
    log_in(app)
    assert login_hooks.calls[-1][2]["nickname"] == "alice" and login_hooks.calls[-1][2]["email"]
    assert app.get("/x", headers=JSON).json["auth0.user"] == {
        "sub": "auth0|alice", "sid": "sid-1", "iss": fake.issuer, "nickname": "alice"}


@pytest.mark.parametrize("answer", [
    pytest.param({"sub": "auth0|mallory"}, id="another-sub"),
    pytest.param({"sub": None}, id="null-sub"),
    pytest.param({"sub": ["auth0|alice"]}, id="sub-not-a-string"),
])
def test_an_answer_for_another_user_refuses_the_login(build_app, fake, answer):
    fake.userinfo_claims = answer
    error = refused(build_app(fetch_userinfo=True), 502)
    assert error["error"] == "userinfo_mismatch"


def test_an_answer_without_sub_refuses_the_login(build_app, fake):
    fake.raw_answers["/userinfo"] = (200, json.dumps({"name": "No Sub"}).encode())
    assert refused(build_app(fetch_userinfo=True), 502)["error"] == "userinfo_mismatch"


def test_registered_claims_never_come_from_userinfo(build_app, fake):
    """An ``acr``/``amr`` from there would pass a step-up, an ``org_id`` an organization check."""
    forged = {"iss": "https://evil.example/", "aud": "someone-else", "exp": 1, "iat": 1, "nonce": "n",
              "acr": MFA_POLICY, "amr": ["mfa"], "auth_time": 4_000_000_000, "org_id": "org_Evil",
              "org_name": "evil", "sid": "sid-evil", "azp": "x"}
    fake.userinfo_claims = forged
    app = build_app(fetch_userinfo=True)
    log_in(app)
    user = app.get("/x", headers=JSON).json["auth0.user"]
    assert (user["iss"], user["aud"], user["sid"]) == (fake.issuer, "fake-client", "sid-1")
    assert user["exp"] > 1 and user["nonce"] != "n"
    for name in ("acr", "amr", "auth_time", "org_id", "org_name", "azp"):
        assert name not in user


@pytest.mark.parametrize("status, body, code", [
    pytest.param(200, b"[1, 2]", "provider_error", id="not-an-object"),
    pytest.param(200, b"<html>maintenance</html>", "provider_error", id="html"),
    pytest.param(200, b'{"sub": "auth0|alice", "n": NaN}', "provider_error", id="nan"),
    pytest.param(200, b"[" * 100_000, "provider_error", id="deeply-nested"),
    pytest.param(200, b'{"sub": "auth0|alice", "deep": ' + b"[" * 900 + b"]" * 900 + b"}", "provider_error",
                 id="nested-deep-but-valid-json"),
    pytest.param(401, b'{"error": "invalid_token"}', "provider_error", id="401"),
    pytest.param(500, b"down", "provider_unavailable", id="500"),
])
def test_garbage_or_an_error_refuses_the_login_clearly(build_app, fake, status, body, code):
    fake.raw_answers["/userinfo"] = (status, body)
    expected = 503 if code == "provider_unavailable" else 502
    assert refused(build_app(fetch_userinfo=True), expected)["error"] == code


@pytest.mark.parametrize("declares_length", [True, False], ids=["content-length", "chunked"])
def test_a_huge_answer_is_not_read(build_app, fake, declares_length):
    fake.huge_paths.add("/userinfo")
    fake.huge_declares_length = declares_length
    assert refused(build_app(fetch_userinfo=True), 502)["error"] == "provider_error"
    assert fake.huge_bytes_sent < 10 * 1024 * 1024


def test_an_unreachable_endpoint_is_a_503(build_app, fake, dropping_server):
    fake.discovery_overrides = {"userinfo_endpoint": dropping_server("reset").url + "/userinfo"}
    assert refused(build_app(fetch_userinfo=True), 503)["error"] == "provider_unavailable"


def test_a_provider_without_userinfo_endpoint_says_so(build_app, fake, caplog):
    fake.discovery_overrides = {"userinfo_endpoint": None}
    assert refused(build_app(fetch_userinfo=True), 502)["error"] == "provider_error"
    assert "userinfo_endpoint" in caplog.text


def test_the_error_page_and_the_log_hold_no_token(build_app, fake, caplog):
    fake.userinfo_claims = {"sub": "auth0|mallory"}
    app = build_app(fetch_userinfo=True)
    callback, _ = start_login(app)
    page = app.get(callback, headers=HTML, status=502)
    token = fake.last_userinfo_authorization.removeprefix("Bearer ")
    assert token and token not in page.text and token not in caplog.text
    assert "auth0|mallory" not in page.text


# -- against the real provider -----------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    with provider_for_an_app("app-userinfo") as started:
        yield started


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("fetch", [True, False], ids=["on", "off"])
def test_real_provider_userinfo(real, fetch):
    idp, client, port = real
    middleware = Auth0Middleware(
        echo_app, issuer=idp.issuer, client_id=client.client_id, client_secret=client.client_secret,
        base_url=f"http://127.0.0.1:{port}", secret=secrets.token_urlsafe(32), audience=idp.audience,
        fetch_userinfo=fetch)
    with serve(middleware, port) as url:
        http = requests.Session()
        seen = login_via_form(http, http.get(url + "/x", headers=HTML, timeout=10), "alice").json()
    userinfo = requests.get(idp.issuer + "userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {seen['auth0.access_token']}"}).json()
    assert userinfo["sub"] == "alice"
    user = seen["auth0.user"]
    assert {name: user[name] for name in userinfo} == userinfo  # what it says, the session says
    assert user["iss"] == idp.issuer and user["sid"]
    # On, the login read /userinfo with the API's access token (the real provider accepted it and
    # answered for the same sub, else the login is refused) and keeps claims of its own.
    assert (seen["auth0.id_token"] is None) is fetch


def test_a_profile_too_large_for_the_cookie_store_refuses_the_login_instead_of_looping(build_app, fake):
    """60 KB of profile (under the 64 KB cap) would not fit the session cookie: the session could not
    be kept, and a redirect to the page would send the browser straight back to the provider."""
    fake.userinfo_claims = {"groups": [secrets.token_urlsafe(30) for _ in range(1500)]}
    app = build_app(fetch_userinfo=True)
    callback, _ = start_login(app)
    answer = app.get(callback, headers=JSON, status=500).json
    assert answer["error"] == "session_too_large"
    assert "auth0_session" not in app.cookies
