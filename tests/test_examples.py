"""The example apps, and the Pyramid and Bottle adapters they use.

End to end: each example (Pyramid, Bottle, Flask: their ini; Django: its ``wsgi.py``) under gunicorn
(2 workers), the Flask example under ``flask run`` too, the example API under gunicorn, and the
local provider, driven by a scripted HTTP client. Unit level: ``auth0_wsgi.pyramid`` and
``auth0_wsgi.bottle`` through WebTest, behind the middleware and the fake provider (Flask and
Django need no adapter: ``tests/test_environ.py`` runs their requests through the helpers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bottle
import pytest
import requests
import webtest
from pyramid.config import Configurator

import auth0_wsgi.bottle as auth0_bottle
from auth0_wsgi import Auth0Middleware
from tests.support.examples import (
    EXAMPLES,
    assert_shows_the_api_answer,
    example_api,
    example_app,
    example_client,
    flask_run,
)
from tests.support.flows import log_in, settings_for
from tests.support.http import HTML, JSON
from tests.support.real_idp import LocalIdP, confirm_logout, login_via_form, require_local_idp
from tests.support.servers import free_port


# -- end to end: the examples under gunicorn ---------------------------------------------------------
@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {name: free_port() for name in (*EXAMPLES, "api", "no-api", "flask-run")}


@pytest.fixture(scope="module")
def idp(ports: dict[str, int]) -> Iterator[LocalIdP]:
    require_local_idp()
    names = [*EXAMPLES, "no-api", "flask-run"]
    clients = [example_client(name, ports[name]) for name in names]
    with LocalIdP(clients) as provider:
        provider.clients_by_name = dict(zip(names, clients, strict=True))
        yield provider


@pytest.fixture(scope="module")
def api_url(idp: LocalIdP, ports: dict[str, int]) -> Iterator[str]:
    with example_api(idp, ports["api"]) as url:
        yield url


@pytest.fixture(scope="module", params=list(EXAMPLES))
def example(request: pytest.FixtureRequest, idp: LocalIdP, ports: dict[str, int],
            api_url: str) -> Iterator[str]:
    name = request.param
    with example_app(name, idp, idp.clients_by_name[name], ports[name], api_url) as url:
        yield url


def _log_in(http: requests.Session, idp: LocalIdP, url: str, user: str) -> requests.Response:
    login_page = http.get(url + "/profile", headers=HTML, timeout=10)
    assert login_page.url.startswith(idp.issuer)  # the provider's login form, not the app
    return login_via_form(http, login_page, user)


@pytest.mark.e2e
@pytest.mark.slow
def test_login_profile_messages_and_logout(example: str, idp: LocalIdP) -> None:
    http = requests.Session()
    profile = _log_in(http, idp, example, "jane.doe")
    assert profile.url == example + "/profile"
    assert '<strong class="name">Jane Doe</strong>' in profile.text
    assert '<dd class="email">jane.doe@example.com</dd>' in profile.text
    assert 'src="data:image/svg+xml;base64,' in profile.text  # the picture claim
    assert 'class="fingerprint"' in profile.text

    messages = http.get(example + "/messages", headers=HTML, timeout=10)
    assert messages.status_code == 200
    assert_shows_the_api_answer(messages.text, "jane.doe")

    provider_logout = http.get(example + "/logout", headers=HTML, timeout=10)
    back = confirm_logout(http, provider_logout, stop_at_redirect_to=example)
    assert back.headers["Location"] == example + "/"
    assert http.get(example + "/messages", headers=JSON, timeout=10).status_code == 401
    again = http.get(example + "/profile", headers=HTML, timeout=10)
    assert again.url.startswith(idp.issuer) and 'name="password"' in again.text


@pytest.mark.e2e
@pytest.mark.slow
def test_pages_escape_what_the_tokens_say(example: str, idp: LocalIdP) -> None:
    http = requests.Session()
    profile = _log_in(http, idp, example, "<i>eve</i>")  # the provider derives name and email from it
    assert "&lt;i&gt;eve&lt;/i&gt; Example" in profile.text
    assert "<i>eve</i>" not in profile.text
    messages = http.get(example + "/messages", headers=HTML, timeout=10)
    assert "<i>eve</i>" not in messages.text
    assert_shows_the_api_answer(messages.text, "&lt;i&gt;eve&lt;/i&gt;")


@pytest.mark.e2e
@pytest.mark.slow
def test_health_is_public_and_touches_no_session(example: str) -> None:
    response = requests.get(example + "/health", timeout=10)
    assert response.status_code == 200 and response.text == "ok\n"
    assert "Set-Cookie" not in response.headers


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_messages_page_says_so_when_the_api_is_down(name: str, idp: LocalIdP, ports: dict[str, int]) -> None:
    port, nowhere = ports["no-api"], f"http://127.0.0.1:{free_port()}"
    with example_app(name, idp, idp.clients_by_name["no-api"], port, nowhere) as url:
        http = requests.Session()
        _log_in(http, idp, url, "alice")
        page = http.get(url + "/messages", headers=HTML, timeout=10)
    assert page.status_code == 502
    assert f"The API at {nowhere}/messages is unreachable." in page.text


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("example", ["django"], indirect=True)
def test_django_request_user_follows_the_filter(example: str, idp: LocalIdP) -> None:
    """RemoteUserMiddleware turns the filter's REMOTE_USER into request.user, and ends Django's
    login when the auth0 session ends (PersistentRemoteUserMiddleware would keep it)."""
    http = requests.Session()
    profile = _log_in(http, idp, example, "jane.doe")
    assert '<dd class="django-user">jane.doe</dd>' in profile.text
    assert '<dd class="django-email">jane.doe@example.com</dd>' in profile.text  # copied at login
    assert "sessionid" in http.cookies  # Django's own login session
    assert "Hello, Jane Doe." in http.get(example + "/", headers=HTML, timeout=10).text

    confirm_logout(http, http.get(example + "/logout", headers=HTML, timeout=10), stop_at_redirect_to=example)
    assert "You are not logged in." in http.get(example + "/", headers=HTML, timeout=10).text

    again = _log_in(http, idp, example, "bob")  # the same browser: Django's user follows
    assert '<dd class="django-user">bob</dd>' in again.text


@pytest.mark.e2e
@pytest.mark.slow
def test_flask_run_serves_the_example_with_the_filter_inside(idp: LocalIdP, ports: dict[str, int],
                                                             api_url: str) -> None:
    """``create_app`` wraps ``app.wsgi_app``: the command a Flask developer types works unchanged."""
    with flask_run(idp, idp.clients_by_name["flask-run"], ports["flask-run"], api_url) as url:
        http = requests.Session()
        profile = _log_in(http, idp, url, "jane.doe")
        assert profile.url == url + "/profile"
        assert '<strong class="name">Jane Doe</strong>' in profile.text
        messages = http.get(url + "/messages", headers=HTML, timeout=10)
        assert messages.status_code == 200
        assert_shows_the_api_answer(messages.text, "jane.doe")
        provider_logout = http.get(url + "/logout", headers=HTML, timeout=10)
        back = confirm_logout(http, provider_logout, stop_at_redirect_to=url)
        assert back.headers["Location"] == url + "/"
        assert http.get(url + "/messages", headers=JSON, timeout=10).status_code == 401


# -- auth0_wsgi.pyramid through WebTest ---------------------------------------------------------------
def _pyramid_app() -> Any:
    def whoami(request: Any) -> dict[str, Any]:
        return {"user": request.auth0_user, "token": request.auth0_access_token,
                "environ_token": request.environ.get("auth0.access_token")}

    def api_header(request: Any) -> dict[str, Any]:
        prepared = request.auth0_api.prepare_request(requests.Request("GET", "http://api.test/x"))
        return {"authorization": prepared.headers["Authorization"]}

    with Configurator() as config:
        config.include("auth0_wsgi.pyramid")
        for name, path, view in (("whoami", "/whoami", whoami), ("public", "/public/whoami", whoami),
                                 ("api", "/api-header", api_header),
                                 ("public-api", "/public/api-header", api_header)):
            config.add_route(name, path)
            config.add_view(view, route_name=name, renderer="json")
    return config.make_wsgi_app()


@pytest.fixture
def pyramid_app(fake: Any) -> webtest.TestApp:
    middleware = Auth0Middleware(_pyramid_app(), **settings_for(fake, public_paths="/public"))
    return webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})


def test_pyramid_request_properties_read_the_logged_in_user(pyramid_app: webtest.TestApp) -> None:
    log_in(pyramid_app)
    seen = pyramid_app.get("/whoami").json
    assert seen["user"]["name"] == "Alice Example"
    assert seen["user"]["sub"] == "auth0|alice"
    assert seen["token"] == seen["environ_token"] and seen["token"].count(".") == 2


def test_pyramid_api_session_sends_the_bearer_token(pyramid_app: webtest.TestApp) -> None:
    log_in(pyramid_app)
    token = pyramid_app.get("/whoami").json["token"]
    assert pyramid_app.get("/api-header").json == {"authorization": f"Bearer {token}"}


def test_pyramid_anonymous_request_on_a_public_path_reads_none(pyramid_app: webtest.TestApp) -> None:
    seen = pyramid_app.get("/public/whoami").json
    assert seen == {"user": None, "token": None, "environ_token": None}


def test_pyramid_api_session_of_an_anonymous_request_is_refused(pyramid_app: webtest.TestApp) -> None:
    with pytest.raises(RuntimeError, match="no access token"):
        pyramid_app.get("/public/api-header")


def test_pyramid_without_the_filter_raises_an_error_naming_the_fix() -> None:
    bare = webtest.TestApp(_pyramid_app())
    with pytest.raises(RuntimeError, match=r"\[filter:auth0\].*pipeline = auth0"):
        bare.get("/public/whoami")


def test_pyramid_sees_a_marked_anonymous_request_as_anonymous() -> None:
    bare = webtest.TestApp(_pyramid_app(), extra_environ={"auth0.middleware": True})
    assert bare.get("/public/whoami").json["user"] is None


# -- auth0_wsgi.bottle through WebTest ----------------------------------------------------------------
def _bottle_app(plugin: auth0_bottle.Auth0Plugin | None = None) -> bottle.Bottle:
    app = bottle.Bottle()
    app.config["catchall"] = False  # let errors reach the test
    app.install(plugin or auth0_bottle.Auth0Plugin())

    @app.route("/whoami")
    @app.route("/public/whoami")
    def whoami(user: Any, access_token: Any) -> dict[str, Any]:
        return {"user": user, "token": access_token, "current_user": auth0_bottle.current_user(),
                "current_token": auth0_bottle.current_access_token()}

    @app.route("/public/plain/<user>")
    def plain(user: str) -> str:  # a URL argument named like the keyword, and no auth0 keyword
        return user

    @app.route("/public/me")
    def me(me: Any) -> dict[str, Any]:
        return {"me": me}

    return app


def _behind_filter(fake: Any, app: bottle.Bottle) -> webtest.TestApp:
    middleware = Auth0Middleware(app, **settings_for(fake, public_paths="/public"))
    return webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})


def test_bottle_plugin_passes_user_and_token_to_routes_that_ask(fake: Any) -> None:
    app = _behind_filter(fake, _bottle_app())
    log_in(app)
    seen = app.get("/whoami").json
    assert seen["user"]["name"] == "Alice Example"
    assert seen["user"] == seen["current_user"]
    assert seen["token"] == seen["current_token"] and seen["token"].count(".") == 2


def test_bottle_plugin_gives_none_to_an_anonymous_request(fake: Any) -> None:
    app = _behind_filter(fake, _bottle_app())
    seen = app.get("/public/whoami").json
    assert seen == {"user": None, "token": None, "current_user": None, "current_token": None}


def test_bottle_plugin_honours_its_keyword_names(fake: Any) -> None:
    app = _behind_filter(fake, _bottle_app(auth0_bottle.Auth0Plugin(user_keyword="me")))
    log_in(app)
    assert app.get("/public/me").json["me"]["sub"] == "auth0|alice"
    # "user" is no longer the plugin's: the URL argument of that name reaches the route untouched
    assert app.get("/public/plain/bob").text == "bob"


def test_bottle_plugin_leaves_other_routes_alone() -> None:
    route = next(r for r in _bottle_app().routes if r.rule == "/public/me")
    assert auth0_bottle.Auth0Plugin().apply(route.callback, route) is route.callback


def test_bottle_without_the_filter_raises_an_error_naming_the_fix() -> None:
    with pytest.raises(RuntimeError, match=r"\[filter:auth0\]"):
        webtest.TestApp(_bottle_app()).get("/public/whoami")
