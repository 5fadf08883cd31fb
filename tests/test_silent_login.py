"""Silent login (``attempt_silent_login``): a browser's first page navigation without a session goes
once through ``/authorize`` with ``prompt=none``; the user comes back logged in, or to the same page,
anonymous and without an error. Never a loop, never for a POST or XHR, forgotten at logout."""

from __future__ import annotations

import secrets

import pytest
import requests
import webtest

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.handlers import SILENT_LOGIN_COOKIE
from tests.support.apps import echo_app
from tests.support.flows import BASE_URL, browser, log_in
from tests.support.http import HTML, JSON, query
from tests.support.real_idp import Client, LocalIdP, login_via_form, require_local_idp
from tests.support.servers import free_port, serve

SILENT = {"attempt_silent_login": True, "require_auth": False}
MAX_HOPS = 10


def navigate(app: webtest.TestApp, fake, path: str, **kwargs) -> tuple[webtest.TestResponse, list[str]]:
    """A browser's navigation to ``path``, following every redirect (the fake provider's too) like a
    browser with a bounded patience; returns the final response and the URLs it went through."""
    hops: list[str] = []
    response = app.get(path, headers=HTML, **kwargs)
    while response.status_int in (302, 303):
        location = response.headers["Location"]
        hops.append(location)
        assert len(hops) <= MAX_HOPS, f"a redirect loop: {hops}"
        if location.startswith(fake.issuer):
            location = requests.get(location, allow_redirects=False, timeout=5).headers["Location"]
            hops.append(location)
        assert location.startswith(BASE_URL), location
        response = app.get(location[len(BASE_URL):], headers=HTML, expect_errors=True)
    return response, hops


def _authorize_hops(hops: list[str], fake) -> list[dict[str, str]]:
    return [query(url) for url in hops if url.startswith(fake.issuer + "authorize")]


# -- failure modes first -------------------------------------------------------------------------------

def test_no_provider_session_brings_the_user_back_anonymous_without_a_loop(fake):
    fake.has_session = False
    app = browser(fake, **SILENT)
    page, hops = navigate(app, fake, "/news?id=7")
    assert page.status_int == 200 and "REMOTE_USER" not in page.json
    assert page.json["path"] == "/news"
    assert [params["prompt"] for params in _authorize_hops(hops, fake)] == ["none"]
    assert len(hops) == 3  # /authorize, the callback, the page
    assert not [name for name in app.cookies if name.startswith("a0tx.") and name != SILENT_LOGIN_COOKIE]
    # Remembered: the next pages are served straight away, with no trip to the provider.
    again, hops = navigate(app, fake, "/other")
    assert again.status_int == 200 and hops == []


@pytest.mark.parametrize("error", ["login_required", "consent_required", "interaction_required"])
def test_each_silent_refusal_is_quiet(fake, error):
    fake.has_session, fake.prompt_none_error = False, error
    page, _ = navigate(browser(fake, **SILENT), fake, "/")
    assert page.status_int == 200 and "REMOTE_USER" not in page.json


def test_another_error_of_a_silent_login_is_an_error_page(fake):
    fake.has_session, fake.prompt_none_error = False, "access_denied"
    page, hops = navigate(browser(fake, **SILENT), fake, "/")
    assert page.status_int == 400 and "access_denied" in page.text
    assert len(hops) == 2


def test_login_required_for_a_normal_login_is_still_an_error(fake):
    """Only a login that asked prompt=none (its transaction says so) comes back quietly."""
    fake.has_session = False
    app = browser(fake, **SILENT)
    app.set_cookie(SILENT_LOGIN_COOKIE, "1")
    start = app.get("/login", {"return_to": "/x"})
    params = query(start.headers["Location"])
    response = app.get("/callback", {"error": "login_required", "state": params["state"],
                                     "iss": fake.issuer}, headers=HTML, status=400)
    assert "login_required" in response.text


def test_login_required_with_a_forged_or_spent_state_is_an_error(fake):
    app = browser(fake, **SILENT)
    response = app.get("/callback", {"error": "login_required", "state": secrets.token_urlsafe(32)},
                       headers=HTML, status=400)
    assert "login_required" in response.text


def test_a_provider_that_is_down_serves_the_page_anonymously_once(fake):
    fake.discovery_status = 500
    app = browser(fake, **SILENT)
    page = app.get("/news", headers=HTML)
    assert page.status_int == 200 and page.json["path"] == "/news"
    assert app.cookies[SILENT_LOGIN_COOKIE] == "1"
    assert app.get("/news", headers=HTML).status_int == 200


@pytest.mark.parametrize(("method", "headers"), [
    pytest.param("POST", HTML, id="post"),
    pytest.param("HEAD", HTML, id="head"),
    pytest.param("GET", {**HTML, "X-Requested-With": "XMLHttpRequest"}, id="xhr"),
    pytest.param("GET", JSON, id="api-client"),
    pytest.param("GET", {"Accept": "*/*"}, id="fetch-without-navigate"),
])
def test_never_for_a_post_an_xhr_or_an_api_client(fake, method, headers):
    app = browser(fake, **SILENT)
    response = getattr(app, method.lower())("/news", headers=headers)
    assert response.status_int == 200
    assert SILENT_LOGIN_COOKIE not in app.cookies


def test_not_right_after_a_logout(fake):
    app = browser(fake, **SILENT)
    app.set_cookie("a0tx.out", "1")
    assert app.get("/news", headers=HTML).status_int == 200


def test_not_on_another_host_name(fake):
    """The login cookie would be set on a host the callback does not see."""
    app = browser(fake, **SILENT)
    response = app.get("/news", headers=HTML, extra_environ={"HTTP_HOST": "www.app.test"})
    assert response.status_int == 200


def test_a_protected_page_still_gets_the_normal_login_after_a_failed_silent_one(fake):
    fake.has_session = False
    app = browser(fake, attempt_silent_login=True, public_paths="/news")
    navigate(app, fake, "/news")
    assert app.cookies[SILENT_LOGIN_COOKIE]
    challenge = app.get("/account", headers=HTML)
    assert challenge.headers["Location"] == BASE_URL + "/login?return_to=/account"
    authorize = app.get("/login", {"return_to": "/account"}).headers["Location"]
    assert "prompt" not in query(authorize)


def test_a_protected_page_never_tries_silently(fake):
    app = browser(fake, attempt_silent_login=True, public_paths="/news")
    response = app.get("/account", headers=HTML)
    assert response.headers["Location"].startswith(BASE_URL + "/login")
    assert SILENT_LOGIN_COOKIE not in app.cookies


def test_two_tabs_racing_both_end_on_their_page(fake):
    """Two first navigations at once (neither has the marker yet): two transactions, both quiet."""
    fake.has_session = False
    app = browser(fake, **SILENT)
    first = app.get("/a", headers=HTML).headers["Location"]
    for cookie in [c for c in app.cookiejar if c.name == SILENT_LOGIN_COOKIE]:  # as the second tab saw it
        app.cookiejar.clear(cookie.domain, cookie.path, cookie.name)
    second = app.get("/b", headers=HTML).headers["Location"]
    for authorize, page in ((second, "/b"), (first, "/a")):
        back = requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"]
        landed = app.get(back[len(BASE_URL):], headers=HTML)
        assert landed.headers["Location"] == BASE_URL + page


# -- the option on and off -----------------------------------------------------------------------------

def test_off_by_default(fake):
    app = browser(fake, require_auth=False)
    page, hops = navigate(app, fake, "/news")
    assert page.status_int == 200 and hops == []
    assert fake.counts["/authorize"] == 0


def test_with_a_provider_session_the_user_comes_back_logged_in(fake):
    app = browser(fake, **SILENT)
    page, hops = navigate(app, fake, "/news?id=7")
    assert page.json["REMOTE_USER"] == fake.sub and page.json["path"] == "/news"
    assert hops[-1] == BASE_URL + "/news?id=7"
    assert _authorize_hops(hops, fake)[0]["prompt"] == "none"


def test_a_silent_login_asks_for_the_configured_organization_and_opens_its_session(fake):
    fake.organizations = {"org_abc123": "acme"}
    app = browser(fake, organization="org_abc123", **SILENT)
    page, hops = navigate(app, fake, "/news")
    assert _authorize_hops(hops, fake)[0]["organization"] == "org_abc123"
    assert page.json["REMOTE_USER"] == fake.sub  # the callback's organization check passed


def test_silent_login_with_par_pushes_prompt_none(fake):
    app = browser(fake, pushed_authorization_requests="true", **SILENT)
    page, hops = navigate(app, fake, "/news")
    assert fake.last_par_request["prompt"] == "none"
    assert set(_authorize_hops(hops, fake)[0]) == {"client_id", "request_uri"}
    assert page.json["REMOTE_USER"] == fake.sub


def test_logout_forgets_the_marker(fake):
    fake.has_session = False
    app = browser(fake, **SILENT)
    navigate(app, fake, "/news")
    assert app.cookies[SILENT_LOGIN_COOKIE]
    fake.has_session = True
    log_in(app)
    response = app.get("/logout")
    deleted = [value for name, value in response.headerlist
               if name == "Set-Cookie" and value.startswith(SILENT_LOGIN_COOKIE + "=")]
    assert deleted and "Max-Age=0" in deleted[0]
    assert SILENT_LOGIN_COOKIE not in app.cookies


# -- against the real provider ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_app():
    require_local_idp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = Client("app-silent", f"secret:{secrets.token_hex(8)}", [base + "/callback"], [base + "/"])
    with LocalIdP([client]) as idp:
        middleware = Auth0Middleware(echo_app, issuer=idp.issuer, client_id=client.client_id,
                                     client_secret=client.client_secret, base_url=base, secret="s" * 40,
                                     audience=idp.audience, attempt_silent_login=True, public_paths="/news")
        with serve(middleware, port) as url:
            yield url


def _follow(http: requests.Session, url: str) -> tuple[requests.Response, int]:
    response = http.get(url, headers=HTML, allow_redirects=False, timeout=10)
    hops = 0
    while response.is_redirect:
        hops += 1
        assert hops <= MAX_HOPS, "a redirect loop"
        response = http.get(requests.compat.urljoin(response.url, response.headers["Location"]),
                            headers=HTML, allow_redirects=False, timeout=10)
    return response, hops


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_without_a_session_answers_login_required_quietly(real_app):
    http = requests.Session()
    page, hops = _follow(http, real_app + "/news?id=1")
    assert page.url == real_app + "/news?id=1"
    assert "REMOTE_USER" not in page.json()
    assert hops <= 4
    assert _follow(http, real_app + "/news")[1] == 0  # tried once: not again


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_with_a_session_logs_in_silently(real_app):
    http = requests.Session()
    login_page = http.get(real_app + "/account", headers=HTML, timeout=10)
    assert login_via_form(http, login_page, "bob").json()["REMOTE_USER"] == "bob"
    for cookie in list(http.cookies):  # a new visit to the app: the provider's session stays
        if cookie.name.startswith("auth0_session"):
            http.cookies.clear(cookie.domain, cookie.path, cookie.name)
    assert "REMOTE_USER" not in http.get(real_app + "/news", headers=JSON, timeout=10).json()
    page, hops = _follow(http, real_app + "/news")
    assert page.json()["REMOTE_USER"] == "bob"
    assert hops <= 4
