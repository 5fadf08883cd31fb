"""auth0_wsgi.environ: the helpers take the environ or any common framework's request object.

Real request objects of each framework (WebOb and Pyramid, Werkzeug and Flask, Django, Bottle), a
table of things that are neither (each helper refuses them with a ``TypeError`` saying what to
pass), and Flask and Django apps behind the real middleware calling the helpers with ``request``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import MappingProxyType, SimpleNamespace
from typing import Any

import bottle
import django
import flask
import pyramid.request
import pytest
import requests
import webob
import webtest
import werkzeug.wrappers
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

from auth0_wsgi import (
    Auth0Middleware,
    api_session,
    get_access_token,
    get_id_token,
    get_user,
    refresh_access_token,
)
from auth0_wsgi import environ as keys
from auth0_wsgi.environ import filtered_environ, wsgi_environ
from tests.support.flows import log_in, settings_for

USER = {"sub": "auth0|alice", "name": "Alice Example"}


class RecordingContext:
    """Stands in for the middleware's request context: records which environ a refresh got."""

    def __init__(self) -> None:
        self.refreshed: list[tuple[dict[str, Any], bool]] = []

    def refresh(self, environ: dict[str, Any], *, force: bool = False) -> str:
        self.refreshed.append((environ, force))
        environ[keys.ACCESS_TOKEN] = "refreshed-token"
        return "refreshed-token"


@pytest.fixture
def environ() -> dict[str, Any]:
    """The environ of a logged-in request as the middleware leaves it."""
    environ = webob.Request.blank("/messages", environ={"HTTP_HOST": "app.test"}).environ
    environ.update({keys.MIDDLEWARE: True, keys.USER: dict(USER), keys.ACCESS_TOKEN: "access-token",
                    keys.ID_TOKEN: "id-token", keys.CONTEXT: RecordingContext()})
    return environ


@pytest.fixture(scope="session")
def configured_django() -> None:
    """Django's settings, once per process: WSGIRequest reads them, the in-process app routes by them."""
    if not django_settings.configured:
        django_settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["app.test"], SECRET_KEY="k" * 50,
                                  INSTALLED_APPS=[], MIDDLEWARE=[], DEBUG=False, USE_TZ=True)
        django.setup()


# -- each framework's request object -----------------------------------------------------------------
Requests = Callable[[dict[str, Any]], AbstractContextManager[Any]]


@contextmanager
def _built(make: Callable[[dict[str, Any]], Any], environ: dict[str, Any]) -> Iterator[Any]:
    yield make(environ)


def _request(make: Callable[[dict[str, Any]], Any]) -> Requests:
    return lambda environ: _built(make, environ)


@contextmanager
def _flask_proxy(environ: dict[str, Any]) -> Iterator[Any]:
    """``flask.request``: the context-local proxy a Flask view actually holds."""
    with flask.Flask(__name__).request_context(environ):
        yield flask.request


@contextmanager
def _bottle_local(environ: dict[str, Any]) -> Iterator[Any]:
    """``bottle.request``: the thread-local request a Bottle route actually holds."""
    bottle.request.bind(environ)
    yield bottle.request


def _django_meta_only(environ: dict[str, Any]) -> HttpRequest:
    """An ``HttpRequest`` with ``META`` and no ``environ`` (a subclass or test double may be)."""
    request = HttpRequest()
    request.META = environ
    return request


REQUESTS = [
    pytest.param(_request(lambda environ: environ), id="environ-dict"),
    pytest.param(_request(webob.Request), id="webob"),
    pytest.param(_request(pyramid.request.Request), id="pyramid"),
    pytest.param(_request(werkzeug.wrappers.Request), id="werkzeug"),
    pytest.param(_request(flask.Request), id="flask-request"),
    pytest.param(_flask_proxy, id="flask-proxy"),
    pytest.param(_request(WSGIRequest), id="django-wsgirequest"),
    pytest.param(_request(_django_meta_only), id="django-httprequest-meta"),
    pytest.param(_request(bottle.BaseRequest), id="bottle-request"),
    pytest.param(_bottle_local, id="bottle-local-request"),
]


@pytest.mark.usefixtures("configured_django")
@pytest.mark.parametrize("request_of", REQUESTS)
def test_wsgi_environ_is_the_environ_itself(request_of: Requests, environ: dict[str, Any]) -> None:
    with request_of(environ) as request:
        assert wsgi_environ(request) is environ  # not a copy: a refresh must write where the app reads
        assert filtered_environ(request) is environ


@pytest.mark.usefixtures("configured_django")
@pytest.mark.parametrize("request_of", REQUESTS)
def test_accessors_read_any_request(request_of: Requests, environ: dict[str, Any]) -> None:
    with request_of(environ) as request:
        assert get_user(request) == USER
        assert get_access_token(request) == "access-token"
        assert get_id_token(request) == "id-token"


@pytest.mark.usefixtures("configured_django")
@pytest.mark.parametrize("request_of", REQUESTS)
def test_api_session_and_refresh_take_any_request(request_of: Requests, environ: dict[str, Any]) -> None:
    with request_of(environ) as request:
        with api_session(request) as api:
            prepared = api.prepare_request(requests.Request("GET", "http://api.test/messages"))
        assert prepared.headers["Authorization"] == "Bearer access-token"
        assert refresh_access_token(request) == "refreshed-token"
    assert environ[keys.CONTEXT].refreshed == [(environ, True)]


@pytest.mark.usefixtures("configured_django")
def test_a_request_of_an_anonymous_visit_reads_none() -> None:
    environ = webob.Request.blank("/", environ={keys.MIDDLEWARE: True}).environ
    for request in (webob.Request(environ), flask.Request(environ), WSGIRequest(environ)):
        assert (get_user(request), get_access_token(request), get_id_token(request)) == (None, None, None)


# -- anything else: a TypeError that says what to pass ---------------------------------------------
HELPERS = [
    pytest.param(get_user, id="get_user"),
    pytest.param(get_access_token, id="get_access_token"),
    pytest.param(get_id_token, id="get_id_token"),
    pytest.param(api_session, id="api_session"),
    pytest.param(refresh_access_token, id="refresh_access_token"),
    pytest.param(filtered_environ, id="filtered_environ"),
    pytest.param(wsgi_environ, id="wsgi_environ"),
]
NOT_A_REQUEST = [
    pytest.param(None, "None", id="none"),
    pytest.param("/messages", "a 'str' object", id="a-string"),
    pytest.param(b"GET /", "a 'bytes' object", id="bytes"),
    pytest.param(42, "a 'int' object", id="a-number"),
    pytest.param([("PATH_INFO", "/")], "a 'list' object", id="a-list-of-pairs"),
    pytest.param(os.environ, "a '_Environ' object", id="os-environ"),
    pytest.param(MappingProxyType({keys.USER: USER}), "a 'mappingproxy' object", id="a-read-only-mapping"),
    pytest.param(webob.Request, "a 'type' object", id="the-request-class"),
    pytest.param(SimpleNamespace(environ=None), "a 'SimpleNamespace' object", id="environ-attribute-none"),
    pytest.param(SimpleNamespace(META="REMOTE_USER"), "a 'SimpleNamespace' object",
                 id="meta-attribute-a-string"),
    pytest.param(object(), "a 'object' object", id="an-object"),
]


@pytest.mark.parametrize("helper", HELPERS)
@pytest.mark.parametrize(("thing", "got"), NOT_A_REQUEST)
def test_anything_else_is_refused_with_what_to_pass(helper: Callable[[Any], Any], thing: Any,
                                                     got: str) -> None:
    with pytest.raises(TypeError) as raised:
        helper(thing)
    message = str(raised.value)
    assert f"got {got}." in message
    assert "Pass the request itself" in message and "request.META in Django" in message


def test_a_mapping_that_is_not_a_dict_is_named_as_not_the_environ() -> None:
    with pytest.raises(TypeError, match=r"os\.environ is the process's environment"):
        get_user(os.environ)


# -- Flask and Django apps behind the real middleware ------------------------------------------------
def _flask_app(fake: Any) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/whoami")
    @app.get("/public/whoami")
    def whoami() -> dict[str, Any]:
        return {"user": get_user(flask.request), "token": get_access_token(flask.request),
                "id_token": get_id_token(flask.request)}

    @app.get("/api-header")
    def api_header() -> dict[str, Any]:
        with api_session(flask.request) as api:
            prepared = api.prepare_request(requests.Request("GET", "http://api.test/x"))
        return {"authorization": prepared.headers["Authorization"]}

    @app.get("/refresh")
    def refresh() -> dict[str, Any]:
        return {"new": refresh_access_token(flask.request), "now": get_access_token(flask.request)}

    # The Flask way: the app stays a Flask app (flask run, test_client, extensions still work)
    app.wsgi_app = Auth0Middleware(app.wsgi_app,  # type: ignore[method-assign]
                                   **settings_for(fake, public_paths="/public"))
    return app


def _django_whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": get_user(request), "token": get_access_token(request),
                         "id_token": get_id_token(request), "remote_user": request.META.get("REMOTE_USER")})


def _django_api_header(request: HttpRequest) -> JsonResponse:
    with api_session(request) as api:
        prepared = api.prepare_request(requests.Request("GET", "http://api.test/x"))
    return JsonResponse({"authorization": prepared.headers["Authorization"]})


def _django_refresh(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"new": refresh_access_token(request), "now": get_access_token(request)})


# the in-process Django's ROOT_URLCONF is this module (configured_django)
urlpatterns = [path("whoami", _django_whoami), path("public/whoami", _django_whoami),
               path("api-header", _django_api_header), path("refresh", _django_refresh)]


@pytest.fixture(params=["flask", "django"])
def framework_app(request: pytest.FixtureRequest, fake: Any) -> webtest.TestApp:
    if request.param == "flask":
        app: Any = _flask_app(fake)
    else:
        request.getfixturevalue("configured_django")
        # The Django way: wsgi.py's application, wrapped
        app = Auth0Middleware(get_wsgi_application(), **settings_for(fake, public_paths="/public"))
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "app.test"})


def test_views_read_the_logged_in_user_from_their_request(framework_app: webtest.TestApp) -> None:
    log_in(framework_app)
    seen = framework_app.get("/whoami").json
    assert seen["user"]["sub"] == "auth0|alice" and seen["user"]["name"] == "Alice Example"
    assert seen["token"].count(".") == 2 and seen["id_token"].count(".") == 2
    assert seen.get("remote_user", "auth0|alice") == "auth0|alice"  # Django's request.META


def test_views_call_the_api_and_force_a_refresh_with_their_request(framework_app: webtest.TestApp,
                                                                    fake: Any) -> None:
    log_in(framework_app)
    token = framework_app.get("/whoami").json["token"]
    assert framework_app.get("/api-header").json == {"authorization": f"Bearer {token}"}
    cookie = framework_app.cookies["auth0_session"]
    refreshed = framework_app.get("/refresh").json
    assert refreshed["new"] != token and refreshed["now"] == refreshed["new"]
    assert fake.counts["grant:refresh_token"] == 1
    assert framework_app.cookies["auth0_session"] != cookie  # the rotated tokens reached the cookie


def test_views_of_an_anonymous_visit_read_none(framework_app: webtest.TestApp) -> None:
    seen = framework_app.get("/public/whoami").json
    assert (seen["user"], seen["token"], seen["id_token"]) == (None, None, None)
