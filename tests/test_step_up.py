"""Step-up in the app: ``step_up`` paths, ``StepUpRequired`` from a view or an API's RFC 9470
challenge, the callback's check of ``acr``/``auth_time`` (OIDC Core §3.1.3.7), and no loops.

Against the fake provider (``honour_step_up``: auth_time, and acr/amr for the MFA policy), then the
real one (its one-time-code page).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
import webtest

import auth0_wsgi
from auth0_wsgi import StepUpRequired, stepup
from tests.support.clocks import Clock
from tests.support.fake_provider import MFA_POLICY
from tests.support.flows import BASE_URL, browser, log_in, middleware, provider_answer
from tests.support.http import HTML, JSON, query_of
from tests.support.real_idp import Client, LocalIdP, login_via_form, require_local_idp, submit_one_time_code
from tests.support.servers import free_port, serve

RULES = f"/admin acr_values={MFA_POLICY}\n/billing max_age=300"
PLAIN_LOGIN = {"name", "email", "sub"}


def _api(environ: dict, start_response: Any) -> list[bytes]:
    """A tiny API: it answers every request with the RFC 9470 challenge for the MFA policy."""
    challenge = stepup.challenge(stepup.StepUpRule((MFA_POLICY,)))
    start_response("401 Unauthorized", [("WWW-Authenticate", challenge),
                                        ("Content-Type", "application/json")])
    return [b'{"error": "insufficient_user_authentication"}']


API_URL: list[str] = []  # where _api listens, for the view below (set by the api_url fixture)


def app(environ: dict, start_response: Any) -> Any:
    """The echo app, plus views that ask for a step-up in each way an app can."""
    path, user = environ["PATH_INFO"], environ.get("auth0.user") or {}
    has_mfa = "mfa" in user.get("amr", ())
    if path == "/raise" and not has_mfa:
        raise StepUpRequired(acr_values=MFA_POLICY)
    if path == "/raise-met":  # a rule the session meets by our rules: the app checks something else
        raise StepUpRequired(max_age=3600)
    if path == "/raise-hostile":
        raise StepUpRequired(acr_values='x",error="other')
    if path == "/raise-after-start":  # start_response called, then the exception, before any body
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise StepUpRequired(acr_values=MFA_POLICY)
    if path == "/raise-late":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _late()
    if path == "/calls-api" and not has_mfa:
        with auth0_wsgi.api_session(environ) as api:
            api.get(API_URL[0], timeout=5)  # the API's RFC 9470 challenge: StepUpRequired escapes
    seen = {"path": path, "user": user}
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _late() -> Any:
    yield b"first part"
    raise StepUpRequired(acr_values=MFA_POLICY)


@pytest.fixture
def fake_mfa(fake):
    fake.honour_step_up = True
    return fake


def _client(fake, **overrides) -> webtest.TestApp:
    return browser(fake, app, step_up=RULES, **overrides)


def _through_provider(client: webtest.TestApp, response: webtest.TestResponse) -> webtest.TestResponse:
    """A redirect to the provider's /authorize, followed: the callback's answer."""
    assert response.status_int == 302 and response.location.startswith(client.app.config.issuer), response
    callback = provider_answer(response.location)
    return client.get(callback[len(BASE_URL):], headers=HTML, expect_errors=True)


# ------------------------------------------------------------------ step_up paths, browsers


def test_a_first_login_for_a_step_up_page_asks_for_its_rule_at_once(fake_mfa):
    client = _client(fake_mfa)
    to_login = client.get("/admin?tab=2", headers=HTML)
    assert to_login.location == f"{BASE_URL}/login?return_to=/admin%3Ftab%3D2"
    to_provider = client.get("/login?return_to=/admin%3Ftab%3D2")
    assert query_of(to_provider.location)["acr_values"] == MFA_POLICY
    landed = _through_provider(client, to_provider)
    assert landed.location == f"{BASE_URL}/admin?tab=2"
    page = client.get("/admin?tab=2", headers=HTML)
    assert page.status_int == 200 and "mfa" in page.json["user"]["amr"]
    assert fake_mfa.counts["/authorize"] == 1  # one login, not two


def test_a_session_without_the_step_up_is_sent_through_a_new_login_back_to_the_same_page(fake_mfa):
    client = _client(fake_mfa)
    log_in(client)
    assert client.get("/x", headers=JSON).json["user"].get("amr") is None
    to_provider = client.get("/admin/users?page=3", headers=HTML)
    asked = query_of(to_provider.location)
    assert asked["acr_values"] == MFA_POLICY and "max_age" not in asked
    assert to_provider.headers["Cache-Control"] == "no-store"
    landed = _through_provider(client, to_provider)
    assert landed.location == f"{BASE_URL}/admin/users?page=3"
    assert client.get("/admin/users?page=3", headers=HTML).json["user"]["acr"] == MFA_POLICY


@pytest.mark.parametrize("headers, method", [
    pytest.param(JSON, "GET", id="api-client"),
    pytest.param({**HTML, "X-Requested-With": "XMLHttpRequest"}, "GET", id="xhr"),
    pytest.param(HTML, "POST", id="form-post-keeps-its-body-out-of-a-redirect"),
])
def test_requests_that_are_no_page_navigation_get_the_rfc_9470_challenge(fake_mfa, headers, method):
    client = _client(fake_mfa)
    log_in(client)
    send = client.post if method == "POST" else client.get
    response = send("/admin", headers=headers, expect_errors=True)
    assert response.status_int == 401
    assert response.json["error"] == "insufficient_user_authentication"
    assert stepup.from_challenge(response.headers["WWW-Authenticate"]) == stepup.StepUpRule((MFA_POLICY,))
    assert fake_mfa.counts["/authorize"] == 1  # only the first login
    assert client.get("/x", headers=JSON).status_int == 200  # the session is untouched


def test_max_age_counts_from_the_login_with_a_moved_clock(fake_mfa):
    clock = fake_mfa.clock = Clock()
    client = _client(fake_mfa, clock=clock)
    log_in(client)
    assert client.get("/billing", headers=HTML).status_int == 200
    clock.advance(300 + 60)  # max_age, and clock_skew's leeway
    assert client.get("/billing", headers=HTML).status_int == 200
    clock.advance(2)
    to_provider = client.get("/billing", headers=HTML)
    assert query_of(to_provider.location)["max_age"] == "300"
    assert _through_provider(client, to_provider).location == f"{BASE_URL}/billing"
    assert client.get("/billing", headers=HTML).json["user"]["auth_time"] == int(clock.now)


def test_public_paths_win_and_require_auth_false_still_guards_step_up_paths(fake_mfa):
    client = _client(fake_mfa, public_paths="/admin/help", require_auth=False)
    assert client.get("/admin/help", headers=HTML).status_int == 200
    assert client.get("/elsewhere", headers=HTML).status_int == 200
    assert client.get("/admin", headers=HTML).location == f"{BASE_URL}/login?return_to=/admin"
    assert client.get("/admin", headers=JSON, status=401).json["error"] == "login_required"


# ------------------------------------------------------------------ the callback's check


def _with(**claims):
    return lambda issued: {**issued, **claims}


@pytest.mark.parametrize("page, claims", [
    pytest.param("/admin", _with(acr="http://forged.example/acr"), id="forged-acr"),
    pytest.param("/admin", _with(amr=["pwd"]), id="no-mfa-in-amr"),
    pytest.param("/admin", _with(amr="mfa"), id="amr-not-a-list"),
    pytest.param("/billing", _with(auth_time=1), id="old-auth-time"),
    pytest.param("/billing", _with(auth_time="now"), id="auth-time-not-a-number"),
    pytest.param("/billing", lambda issued: {k: v for k, v in issued.items() if k != "auth_time"},
                 id="no-auth-time"),
])
def test_a_step_up_login_that_falls_short_is_refused_and_the_old_session_stays(fake, page, claims):
    client = _client(fake)
    log_in(client)
    before = client.get("/x", headers=JSON).json["user"]
    fake.id_token_claims = claims  # the provider does not give what the step-up asked for
    refused = _through_provider(client, client.get(page, headers=HTML))
    assert refused.status_int == 400 and "Location" not in refused.headers  # a page: never a loop
    assert "insufficient_user_authentication" in refused.text
    assert client.get("/x", headers=JSON).json["user"] == before  # the old session, untouched
    fake.id_token_claims = lambda issued: issued
    assert client.get(page, headers=JSON, status=401).json["error"] == "insufficient_user_authentication"


def test_a_step_up_login_keeps_the_configured_organization(fake_mfa):
    fake_mfa.organizations = {"org_W7aV3sQ2pLk9xZ1b": "acme"}
    client = _client(fake_mfa, organization="acme")
    log_in(client)
    to_provider = client.get("/admin", headers=HTML)
    assert query_of(to_provider.location)["organization"] == "acme"
    assert _through_provider(client, to_provider).status_int == 302
    assert client.get("/admin", headers=JSON).json["user"]["org_name"] == "acme"


def test_a_step_up_login_the_provider_fails_leaves_the_session(fake_mfa):
    client = _client(fake_mfa)
    log_in(client)
    to_provider = client.get("/admin", headers=HTML)
    fake_mfa.token_mode = "500"
    assert _through_provider(client, to_provider).status_int == 503
    fake_mfa.token_mode = "ok"
    assert client.get("/x", headers=JSON).json["user"]["sub"] == "auth0|alice"


def test_two_tabs_stepping_up_at_once_both_land(fake_mfa):
    client = _client(fake_mfa)
    log_in(client)
    first, second = client.get("/admin/a", headers=HTML), client.get("/admin/b", headers=HTML)
    callbacks = [provider_answer(r.location)[len(BASE_URL):] for r in (first, second)]
    answers: list[webtest.TestResponse] = []
    threads = [threading.Thread(target=lambda c=c: answers.append(client.get(c))) for c in callbacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.location for a in answers) == [f"{BASE_URL}/admin/a", f"{BASE_URL}/admin/b"]
    assert "mfa" in client.get("/admin/b", headers=JSON).json["user"]["amr"]


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("query", [
    pytest.param({"acr_values": "anything", "max_age": "0"}, id="step-up-params"),
    pytest.param({"prompt": "none", "login_hint": "mallory", "redirect_uri": "https://evil.example/"},
                 id="other-authorize-params"),
])
def test_a_login_link_cannot_add_authorize_parameters(fake, query):
    to_provider = _client(fake).get("/login", {"return_to": "/x", **query})
    asked = query_of(to_provider.location)
    for name, value in query.items():
        assert asked.get(name) != value, name


def test_a_login_link_for_a_step_up_page_gets_the_rule_from_the_configuration(fake):
    for return_to in ("/admin", "/admin/x?y=1", "/%61dmin"):
        asked = query_of(_client(fake).get("/login", {"return_to": return_to}).location)
        assert asked["acr_values"] == MFA_POLICY, return_to
    assert "acr_values" not in query_of(_client(fake).get("/login", {"return_to": "/administer"}).location)


def test_requested_drops_what_cannot_stand_in_a_url_or_a_challenge():
    assert stepup.requested('x" y,z', None) is None  # a quote, a comma: no acr value
    assert stepup.requested('x" ok', None) == stepup.StepUpRule(("ok",))
    assert stepup.requested(None, "12a") is None
    assert stepup.requested("", None) is None
    assert stepup.requested(f"{MFA_POLICY} other", "300") == stepup.StepUpRule((MFA_POLICY, "other"), 300)
    assert stepup.requested(None, str(10**12)) is None


# ------------------------------------------------------------------ StepUpRequired from a view


def test_a_view_raising_step_up_required_sends_a_browser_through_the_login(fake_mfa):
    client = _client(fake_mfa)
    log_in(client)
    to_provider = client.get("/raise?x=1", headers=HTML)
    assert query_of(to_provider.location)["acr_values"] == MFA_POLICY
    assert _through_provider(client, to_provider).location == f"{BASE_URL}/raise?x=1"
    assert "mfa" in client.get("/raise?x=1", headers=HTML).json["user"]["amr"]


def test_a_view_raising_step_up_required_gives_xhr_the_challenge(fake_mfa):
    client = _client(fake_mfa)
    log_in(client)
    response = client.get("/raise", headers=JSON, status=401)
    assert response.json["error"] == "insufficient_user_authentication"
    assert f'acr_values="{MFA_POLICY}"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/raise-met", "/raise-hostile"])
def test_a_step_up_a_login_cannot_give_is_an_error_page_not_a_loop(fake_mfa, path):
    client = _client(fake_mfa)
    log_in(client)
    response = client.get(path, headers=HTML, status=403)
    assert "insufficient_user_authentication" in response.text and "Location" not in response.headers
    assert fake_mfa.counts["/authorize"] == 1


@pytest.mark.parametrize("path", ["/raise-late", "/raise-after-start"])
def test_step_up_required_after_the_response_started_cannot_become_a_redirect(fake_mfa, path):
    client = _client(fake_mfa)
    log_in(client)
    with pytest.raises(StepUpRequired):
        client.get(path, headers=HTML)


def test_a_step_up_login_the_provider_cannot_satisfy_ends_on_a_page(fake):
    client = _client(fake)  # no honour_step_up: no acr, no amr
    log_in(client)
    refused = _through_provider(client, client.get("/raise", headers=HTML))
    assert refused.status_int == 400 and "Location" not in refused.headers


@pytest.fixture
def api_url():
    with serve(_api) as url:
        API_URL[:] = [url + "/messages"]
        yield url
    API_URL.clear()


def test_an_api_challenge_becomes_a_step_up(fake_mfa, api_url):
    client = _client(fake_mfa)
    log_in(client)
    refused = client.get("/calls-api", headers=JSON, status=401)
    assert refused.json["error"] == "insufficient_user_authentication"
    to_provider = client.get("/calls-api", headers=HTML)
    assert query_of(to_provider.location)["acr_values"] == MFA_POLICY
    assert _through_provider(client, to_provider).location == f"{BASE_URL}/calls-api"
    assert client.get("/calls-api", headers=JSON).json["path"] == "/calls-api"


def test_middleware_without_step_up_lets_step_up_required_through_as_a_step_up(fake_mfa):
    """No ``step_up`` option: a view can still ask for one."""
    client = webtest.TestApp(middleware(fake_mfa, app), extra_environ={"HTTP_HOST": "app.test"})
    log_in(client)
    assert client.get("/admin", headers=JSON).status_int == 200  # no rule for it
    assert query_of(client.get("/raise", headers=HTML).location)["acr_values"] == MFA_POLICY


# ------------------------------------------------------------------ against the real provider


@pytest.fixture(scope="module")
def real_app():
    require_local_idp()
    port = free_port()
    client = Client("step-up-app", "step-up-secret", [f"http://127.0.0.1:{port}/callback"])
    with LocalIdP([client]) as idp:
        settings = {"issuer": idp.issuer, "client_id": client.client_id,
                    "client_secret": client.client_secret, "base_url": f"http://127.0.0.1:{port}",
                    "secret": "s" * 40, "audience": idp.audience,
                    "step_up": f"/admin acr_values={MFA_POLICY}"}
        with serve(auth0_wsgi.Auth0Middleware(app, **settings), port) as url:
            yield url


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("page", ["/admin/settings", "/raise"])
def test_real_provider_step_up_asks_for_the_one_time_code_and_comes_back(real_app, page):
    http = requests.Session()
    landed = login_via_form(http, http.get(real_app + "/profile", headers=HTML, timeout=10))
    assert "amr" not in landed.json()["user"]
    assert http.get(real_app + page, headers=JSON, timeout=10).status_code == 401
    # The provider asks for the password again (its policy for step-up), then the code.
    code_page = login_via_form(http, http.get(real_app + page, headers=HTML, timeout=10))
    assert 'name="otp"' in code_page.text
    back = submit_one_time_code(http, code_page)
    assert back.url == real_app + page
    user = back.json()["user"]
    assert user["amr"] == ["mfa"] and user["acr"] == MFA_POLICY
    assert http.get(real_app + page, headers=HTML, timeout=10).status_code == 200  # once is enough
