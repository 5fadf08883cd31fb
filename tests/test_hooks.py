"""``on_login`` (refuse, choose the session's claims, or fail safely), ``on_refresh`` (told once per
refresh, never breaking the request), a slow hook named in the log, and a hook named in an ini file;
against the fake provider and the real one."""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Any

import pytest
import requests
import webtest
from paste.deploy import loadapp

import auth0_wsgi
from auth0_wsgi import Auth0Middleware, hooks
from tests.support import login_hooks
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET
from tests.support.flows import BASE_URL, addressed_as, log_in, settings_for, start_login
from tests.support.gunicorn import ROOT
from tests.support.http import HTML, JSON
from tests.support.inifiles import login_filter_ini
from tests.support.real_idp import login_via_form, provider_for_an_app
from tests.support.servers import serve

HOOKS = "tests.support.login_hooks"


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    login_hooks.reset()


def session_cookie_bytes(app: webtest.TestApp) -> int:
    return sum(len(name) + len(value) for name, value in app.cookies.items()
               if name == "auth0_session" or name.startswith("auth0_session."))


# -- on_login: refusing ------------------------------------------------------------------------
@pytest.mark.parametrize("accept", [pytest.param(HTML, id="page"), pytest.param(JSON, id="json")])
def test_a_refusing_hook_shows_its_message_and_opens_no_session(build_app, fake, accept):
    fake.sub = "contractor|bob"
    app = build_app(on_login=f"{HOOKS}:refuse_contractors")
    callback, _ = start_login(app)
    response = app.get(callback, headers=accept, status=403)
    assert "Contractors sign in at https://contractors.example.com." in response.text
    if accept is JSON:
        assert response.json["error"] == "login_refused"
    assert not any(name.startswith("auth0_session") for name in app.cookies)
    app.get("/x", headers=JSON, status=401)


def test_the_same_hook_lets_others_in(build_app, fake):
    app = build_app(on_login=f"{HOOKS}:refuse_contractors")
    log_in(app)
    assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"


# -- on_login: failing -------------------------------------------------------------------------
def test_a_hook_that_raises_refuses_the_login_generically(build_app, fake, caplog):
    caplog.set_level(logging.INFO, logger="auth0_wsgi")
    app = build_app(on_login=f"{HOOKS}:broken")
    callback, _ = start_login(app)
    page = app.get(callback, headers=HTML, status=500)
    callback, _ = start_login(app)  # that state is spent: a second login, for the JSON answer
    json_answer = app.get(callback, headers=JSON, status=500)
    assert json_answer.json["error"] == "login_hook_failed"
    for text in (page.text, json_answer.text):
        assert login_hooks.SECRET_WORD not in text and "alice@example.com" not in text
        assert "ValueError" not in text
    assert not any(name.startswith("auth0_session") for name in app.cookies)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"{HOOKS}:broken" in logged and "ValueError" in logged and "login_hooks.py:" in logged
    assert login_hooks.SECRET_WORD not in logged and "alice@example.com" not in logged
    assert not any(call[3]["access_token"] in logged for call in login_hooks.calls)


class _Weird:
    pass


BAD_ANSWERS = [
    pytest.param(["auth0|alice"], "a list, not a dict", id="a-list"),
    pytest.param({"name": "no sub"}, "another sub", id="no-sub"),
    pytest.param({"sub": "auth0|mallory"}, "another sub", id="another-sub"),
    pytest.param({"sub": "auth0|alice", "when": _Weird()}, "not JSON values", id="not-json"),
    pytest.param({"sub": "auth0|alice", "score": float("nan")}, "not JSON values", id="nan"),
    pytest.param({"sub": "auth0|alice", 1: "one"}, "not a string", id="int-key"),
]


@pytest.mark.parametrize("answer, logged", BAD_ANSWERS)
def test_a_hook_answer_that_cannot_be_the_claims_refuses_the_login(build_app, fake, caplog, answer, logged):
    caplog.set_level(logging.INFO, logger="auth0_wsgi")
    app = build_app(on_login=lambda environ, claims, tokens: answer)
    callback, _ = start_login(app)
    assert app.get(callback, headers=JSON, status=500).json["error"] == "login_hook_failed"
    assert not any(name.startswith("auth0_session") for name in app.cookies)
    assert any(logged in r.getMessage() and "test_hooks" in r.getMessage() for r in caplog.records)


# -- on_login: what it is given, what it chooses -----------------------------------------------
def test_the_hook_gets_the_callback_environ_claims_and_tokens(build_app, fake):
    app = build_app(on_login=f"{HOOKS}:record")
    log_in(app)
    [(_, environ, claims, tokens)] = login_hooks.calls
    assert environ["PATH_INFO"] == "/callback"
    assert claims["sub"] == "auth0|alice" and claims["email"] == "alice@example.com"
    seen = app.get("/x", headers=JSON).json  # no refresh yet: the login's own tokens
    assert tokens["access_token"] == seen["auth0.access_token"]
    assert tokens["id_token"] == seen["auth0.id_token"] and tokens["refresh_token"]


def test_the_hook_works_on_copies(build_app, fake):
    def vandal(environ, claims, tokens):
        claims["email"] = "mallory@example.com"
        claims.clear()
        tokens.clear()

    app = build_app(on_login=vandal, session_store="memory")
    log_in(app)
    seen = app.get("/x", headers=JSON).json
    assert seen["auth0.user"]["email"] == "alice@example.com"
    assert seen["auth0.access_token"] and seen["auth0.id_token"]


def test_the_claims_a_hook_returns_are_the_session_s_even_after_refreshes(build_app, fake):
    fake.access_token_ttl = 30  # inside refresh_leeway: every request refreshes
    plain = build_app()
    log_in(plain)
    app = build_app(on_login=f"{HOOKS}:keep_name_and_role")
    log_in(app)
    assert session_cookie_bytes(app) < session_cookie_bytes(plain) - 300  # the ID token's size
    first = app.get("/x", headers=JSON).json
    fake.id_token_claims = lambda claims: {**claims, "name": "Renamed at the provider"}
    second = app.get("/x", headers=JSON).json
    assert first["auth0.access_token"] != second["auth0.access_token"]  # a refresh happened
    for seen in (first, second):
        assert seen["auth0.user"] == {"sub": "auth0|alice", "name": "Alice Example", "role": "editor",
                                      "sid": "sid-1", "iss": fake.issuer}
        assert seen["auth0.id_token"] is None
    assert session_cookie_bytes(app) < session_cookie_bytes(plain) - 300


def test_a_hook_cannot_forge_what_the_middleware_checks(build_app, fake):
    """acr/amr would pass a step-up, org_id an organization check, iss the refresh's same-user test:
    they come from the ID token only, whatever the hook returns."""
    fake.id_token_claims = lambda claims: {**claims, "org_id": "org_Real1"}

    def forger(environ, claims, tokens):
        return {**claims, "acr": auth0_wsgi.stepup.MFA_POLICY, "amr": ["mfa"], "org_id": "org_Evil",
                "iss": "https://evil.example/", "sid": "sid-evil"}

    app = build_app(on_login=forger)
    log_in(app)
    user = app.get("/x", headers=JSON).json["auth0.user"]
    assert "acr" not in user and "amr" not in user
    assert (user["org_id"], user["iss"], user["sid"]) == ("org_Real1", fake.issuer, "sid-1")


# -- budget --------------------------------------------------------------------------------------
class _Monotonic:
    """``hooks``' view of ``time``, moved by the hook itself: a slow hook without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("spent, warned", [pytest.param(0.9, False, id="within"),
                                           pytest.param(1.2, True, id="over")])
def test_a_slow_login_hook_is_named_in_a_warning(build_app, fake, caplog, monkeypatch, spent, warned):
    clock = _Monotonic()
    monkeypatch.setattr(hooks, "time", clock)
    assert hooks.BUDGET_SECONDS == 1.0

    def slow(environ, claims, tokens):
        clock.now += spent

    caplog.set_level(logging.WARNING, logger="auth0_wsgi")
    log_in(build_app(on_login=slow))
    warnings = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert bool(warnings) is warned
    if warned:
        assert "on_login hook tests.test_hooks:" in warnings[0] and "slow" in warnings[0]


# -- on_refresh --------------------------------------------------------------------------------
def test_on_refresh_is_told_once_per_refresh(build_app, fake):
    clock = Clock()
    app = build_app(on_refresh=f"{HOOKS}:on_refresh", clock=clock)
    log_in(app)
    app.get("/x", headers=JSON)
    assert login_hooks.calls == []  # no refresh yet: not told
    fake.access_token_ttl = 7200  # the refreshed tokens outlive the moves below
    fake.id_token_claims = lambda claims: {**claims, "exp": claims["iat"] + 86400}
    tokens_seen = []
    for seconds in (3600 - 30, 7200 - 30):
        clock.advance(seconds)  # inside refresh_leeway: this request refreshes, the next does not
        tokens_seen.append(app.get("/x", headers=JSON).json["auth0.access_token"])
        app.get("/x", headers=JSON)
    assert fake.counts["grant:refresh_token"] == 2
    assert [call[0] for call in login_hooks.calls] == ["on_refresh", "on_refresh"]
    _, environ, claims, tokens = login_hooks.calls[-1]
    assert environ["PATH_INFO"] == "/x" and claims["sub"] == "auth0|alice"
    assert tokens["access_token"] == tokens_seen[-1]
    assert tokens["audience"] == "https://api.example.com" and isinstance(tokens["expires_at"], int)


def test_an_on_refresh_that_raises_does_not_break_the_request(build_app, fake, caplog):
    caplog.set_level(logging.ERROR, logger="auth0_wsgi")
    fake.access_token_ttl = 30
    app = build_app(on_refresh=f"{HOOKS}:on_refresh_broken")
    log_in(app)
    before = app.cookies.copy()
    seen = app.get("/x", headers=JSON, status=200).json
    assert seen["REMOTE_USER"] == "auth0|alice"
    assert app.cookies != before  # the refreshed tokens were saved all the same
    assert len(login_hooks.calls) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{HOOKS}:on_refresh_broken" in logged and "RuntimeError" in logged
    assert seen["auth0.access_token"] not in logged


def test_requests_sharing_one_refresh_tell_on_refresh_once(build_app, fake):
    """Two requests of one session arrive together: one grant, and one call of the hook."""
    fake.access_token_ttl = 30  # inside refresh_leeway: every request refreshes
    app = build_app(on_refresh=f"{HOOKS}:on_refresh", session_store="memory")
    log_in(app)
    fake.token_delay = 0.3  # the provider's latency: both requests wait on the same grant
    cookie = "; ".join(f"{k}={v}" for k, v in app.cookies.items())
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(
        app.get("/x", headers={**JSON, "Cookie": cookie}).json)) for _ in range(2)]
    grants_before = fake.counts["grant:refresh_token"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.counts["grant:refresh_token"] - grants_before == 1
    assert len({seen["auth0.access_token"] for seen in answers}) == 1
    assert len(login_hooks.calls) == 1


# -- a hook named in an ini file ---------------------------------------------------------------
def test_hooks_named_in_an_ini_file(fake, tmp_path):
    settings = settings_for(fake, on_login=f"{HOOKS}:refuse_contractors",
                            on_refresh=f"{HOOKS}:on_refresh", on_logout=f"{HOOKS}:on_logout")
    settings = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()}
    app = webtest.TestApp(loadapp(f"config:{login_filter_ini(tmp_path, **settings)}"),
                          extra_environ={"HTTP_HOST": "app.test"})
    fake.sub = "contractor|bob"
    callback, _ = start_login(app)
    assert app.get(callback, headers=JSON, status=403).json["error"] == "login_refused"
    fake.sub = "auth0|alice"
    log_in(app)
    assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"
    login_hooks.reset()
    app.get("/logout")
    told = [(event, claims["sub"]) for event, _, claims, _ in login_hooks.calls]
    assert told == [("on_logout", "auth0|alice")]


def test_a_hook_that_cannot_be_imported_stops_the_start(fake):
    with pytest.raises(auth0_wsgi.ConfigError, match="on_login"):
        Auth0Middleware(echo_app, **settings_for(fake, on_login=f"{HOOKS}:no_such_function"))


def test_the_demo_s_on_login_example_records_logins(fake, monkeypatch):
    """``examples/pyramid_app/development.ini`` (the demo's) names ``login_history:record_login``."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "pyramid_app"))
    for name, value in {"ISSUER": fake.issuer, "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET,
                        "SECRET": "s" * 40, "BASE_URL": BASE_URL, "AUDIENCE": AUDIENCE,
                        "ALLOW_INSECURE_BASE_URL": "true"}.items():
        monkeypatch.setenv(f"AUTH0_{name}", value)
    app = webtest.TestApp(loadapp("config:examples/pyramid_app/development.ini", relative_to=str(ROOT)),
                          extra_environ=addressed_as())
    log_in(app, "/logins")
    page = app.get("/logins", headers=HTML).text
    assert "Alice Example" in page and "auth0|alice" in page


# -- against the real provider -----------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    with provider_for_an_app("app-hooks") as started:
        yield started


def _refreshing_app(environ, start_response):
    """Forces a refresh on /refresh (as a view does after a role change), then echoes."""
    if environ["PATH_INFO"] == "/refresh":
        assert auth0_wsgi.refresh_access_token(environ)
    return echo_app(environ, start_response)


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_hooks_refuse_choose_and_hear_refreshes(real):
    idp, client, port = real
    middleware = Auth0Middleware(
        _refreshing_app, issuer=idp.issuer, client_id=client.client_id, client_secret=client.client_secret,
        base_url=f"http://127.0.0.1:{port}", secret=secrets.token_urlsafe(32), audience=idp.audience,
        on_login=_real_hook, on_refresh=f"{HOOKS}:on_refresh")
    with serve(middleware, port) as url:
        refused = requests.Session()
        page = login_via_form(refused, refused.get(url + "/x", headers=HTML, timeout=10), "contractor-bob")
        assert page.status_code == 403 and "Contractors sign in elsewhere." in page.text
        assert not any(c.name.startswith("auth0_session") for c in refused.cookies)
        http = requests.Session()
        seen = login_via_form(http, http.get(url + "/x", headers=HTML, timeout=10), "alice").json()
        assert seen["auth0.user"]["team"] == "blue" and "email" not in seen["auth0.user"]
        assert seen["auth0.id_token"] is None
        refreshed = http.get(url + "/refresh", headers=JSON, timeout=10).json()
        assert refreshed["auth0.access_token"] != seen["auth0.access_token"]
        assert refreshed["auth0.user"] == seen["auth0.user"]
        assert [call[0] for call in login_hooks.calls] == ["on_refresh"]


def _real_hook(environ, claims, tokens):
    if claims["sub"].startswith("contractor"):
        raise auth0_wsgi.LoginRefused("Contractors sign in elsewhere.")
    return {"sub": claims["sub"], "team": "blue"}
