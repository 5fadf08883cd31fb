"""Identity spoofing and access control: the app sees an identity only from us, and only with a session.

tests/test_session_flow.py::test_client_supplied_identity_never_reaches_the_app covers three environ
keys on a public path; this covers headers too, every situation (protected path, public path, real
session), the refresh hook, other methods, and public-path prefixes that a dot-segment escapes.
"""

from __future__ import annotations

import json

import pytest
import webtest

import auth0_wsgi
from tests.support.flows import log_in, middleware
from tests.support.http import HTML, JSON, cookie_header
from tests.support.wsgi import wsgi_call


class _Spoofed:
    """What a forged ``auth0.context`` would be: a refresh hook that hands out a chosen token."""

    def refresh(self, *, force: bool = False) -> str:
        return "forged-token"


def identity_app(environ, start_response):
    """Reports every identity the app could be fooled by, and what the refresh hook does."""
    environ["tests.app_called"] = True
    seen = {k: environ[k] for k in ("REMOTE_USER", "auth0.user", "auth0.access_token", "auth0.id_token")
            if k in environ}
    try:
        seen["refreshed"] = auth0_wsgi.refresh_access_token(environ)
    except RuntimeError:
        seen["refreshed"] = "refused"
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


SPOOFS = [
    # (request headers, environ keys an outer layer or a server might set)
    pytest.param({"Remote-User": "admin"}, {}, id="remote-user-header"),
    pytest.param({"X-Remote-User": "admin"}, {}, id="x-remote-user-header"),
    pytest.param({"X-Forwarded-User": "admin"}, {}, id="x-forwarded-user-header"),
    pytest.param({"X-Auth-Request-User": "admin", "X-Auth-Request-Email": "a@x"}, {},
                 id="x-auth-request-user-header"),
    pytest.param({"Auth0-User": '{"sub": "admin"}', "Auth0.User": "admin"}, {}, id="auth0-named-headers"),
    pytest.param({"Authorization": "Bearer forged"}, {}, id="bearer-token-header"),
    pytest.param({"Authorization": "Basic YWRtaW46YWRtaW4="}, {}, id="basic-auth-header"),
    pytest.param({}, {"REMOTE_USER": "admin"}, id="environ-remote-user"),
    pytest.param({}, {"auth0.user": {"sub": "admin"}}, id="environ-auth0-user"),
    pytest.param({}, {"auth0.access_token": "forged", "auth0.id_token": "forged"}, id="environ-auth0-tokens"),
    pytest.param({}, {"auth0.context": _Spoofed()}, id="environ-auth0-context"),
    pytest.param({"Remote-User": "admin"},
                 {"REMOTE_USER": "admin", "auth0.user": {"sub": "admin"}, "auth0.access_token": "forged",
                  "auth0.context": _Spoofed()}, id="environ-everything"),
]


def _spoofed_call(mw, path, headers, environ, accept, cookie=""):
    sent = {**headers, **accept}
    if cookie:
        sent["Cookie"] = cookie
    return wsgi_call(mw, path, headers=sent, environ=dict(environ))


@pytest.mark.parametrize("headers, environ", SPOOFS)
def test_spoofed_identity_does_not_authenticate_a_protected_path(fake, headers, environ):
    mw = middleware(fake, identity_app)
    api = _spoofed_call(mw, "/admin", headers, environ, JSON)
    assert api.status == 401, api.escaped or api.text
    assert not api.app_called
    page = _spoofed_call(mw, "/admin", headers, environ, HTML)
    assert page.status == 302 and not page.app_called


@pytest.mark.parametrize("headers, environ", SPOOFS)
def test_spoofed_identity_never_reaches_the_app_on_a_public_path(fake, headers, environ):
    mw = middleware(fake, identity_app, public_paths="/public")
    result = _spoofed_call(mw, "/public/page", headers, environ, JSON)
    assert result.status == 200, result.escaped or result.text
    assert result.json == {"refreshed": "refused"}


@pytest.mark.parametrize("headers, environ", SPOOFS)
def test_spoofed_identity_never_overrides_the_session(fake, headers, environ):
    mw = middleware(fake, identity_app)
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    log_in(client)
    result = _spoofed_call(mw, "/admin", headers, environ, JSON, cookie_header(dict(client.cookies)))
    assert result.status == 200, result.escaped or result.text
    seen = result.json
    assert seen["REMOTE_USER"] == "auth0|alice"
    assert seen["auth0.user"]["sub"] == "auth0|alice"
    assert seen["auth0.access_token"] not in ("forged", None)
    assert seen["refreshed"] not in ("forged-token", "refused")


def test_with_require_auth_false_anonymous_requests_carry_no_identity(fake):
    mw = middleware(fake, identity_app, require_auth=False)
    result = _spoofed_call(mw, "/anything", {"Remote-User": "admin"},
                           {"REMOTE_USER": "admin", "auth0.user": {"sub": "admin"}}, JSON)
    assert result.json == {"refreshed": "refused"}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND"])
def test_other_methods_without_a_session_get_401_and_never_reach_the_app(fake, method):
    result = wsgi_call(middleware(fake, identity_app), "/admin", method=method, headers=HTML)
    assert result.status == (302 if method == "HEAD" else 401)
    assert not result.app_called


# -- public path prefixes and dot-segments ---------------------------------------------------------------

ESCAPES = [
    # PATH_INFO as a server hands it over (it decodes %2e and %2f before the app sees the path)
    pytest.param("/public/../admin", id="parent-of-public"),
    pytest.param("/public/x/../../admin", id="parent-twice"),
    pytest.param("/public/./../admin", id="dot-then-parent"),
    pytest.param("/public/..", id="parent-at-the-end"),
    pytest.param("/public/../../admin", id="beyond-the-root"),
]


@pytest.mark.parametrize("path", ESCAPES)
def test_dot_segments_do_not_escape_a_public_prefix(fake, path):
    """'/public/../admin' *is* '/admin' (RFC 3986 §5.2.4) for any router that normalises the path."""
    result = wsgi_call(middleware(fake, identity_app, public_paths="/public"), path, headers=JSON)
    assert result.escaped is None
    assert not result.app_called, f"{path!r} was served without a session as if it were under /public"
    assert result.status in (400, 401)


@pytest.mark.parametrize("path, public", [
    ("/public", True), ("/public/", True), ("/public/x", True), ("/public/x/y", True),
    ("/publicity", False), ("/publi", False), ("/Public", False), ("//public", False), ("/x/public", False),
], ids=lambda v: repr(v) if isinstance(v, str) else None)
def test_public_prefixes_match_whole_segments_exactly(fake, path, public):
    result = wsgi_call(middleware(fake, identity_app, public_paths="/public"), path, headers=JSON)
    assert result.app_called == public
    assert result.status == (200 if public else 401)


# PATH_INFO as a server hands it over, for paths that some layer after us (a second decoding, a
# Tomcat/Spring/Jetty proxy cutting ";params", IIS or a Windows file system reading "\\" as "/" and
# dropping trailing dots and spaces) resolves as /admin: none of them is public.
RESOLVES_ELSEWHERE = [
    pytest.param("/public/..;/admin", id="tomcat-path-parameter"),
    pytest.param("/public/..;jsessionid=1/admin", id="tomcat-jsessionid"),
    pytest.param("/public/.;/..;/admin", id="tomcat-dot-and-parent"),
    pytest.param("/public/%2e%2e/admin", id="encoded-dots-decoded-again"),
    pytest.param("/public/%2E%2E/admin", id="encoded-dots-upper-case"),
    pytest.param("/public/.%2e/admin", id="half-encoded-dots"),
    pytest.param("/public/%252e%252e/admin", id="double-encoded-dots"),
    pytest.param("/public/%25252e%25252e/admin", id="triple-encoded-dots"),
    pytest.param("/public/..%2fadmin", id="encoded-slash"),
    pytest.param("/public/..\\admin", id="backslash-after-dots"),
    pytest.param("/public\\..\\admin", id="backslashes-only"),
    pytest.param("/public/%5c..%5cadmin", id="encoded-backslashes"),
    pytest.param("/public/%2e%2e%5cadmin", id="encoded-dots-and-backslash"),
    pytest.param("/public//../admin", id="empty-segment-then-parent"),
    pytest.param("/public/.../admin", id="three-dots-windows"),
    pytest.param("/public/.. /admin", id="trailing-space-windows"),
    pytest.param("/public/. ./admin", id="dot-space-dot"),
    pytest.param("/public/..%20/admin", id="encoded-trailing-space"),
    pytest.param("/public/..%00/admin", id="trailing-nul"),
    pytest.param("/public/%c0%ae%c0%ae/admin", id="overlong-utf8-dots"),
    pytest.param("/public/x/..", id="parent-at-the-end"),
]
STILL_PUBLIC = [
    pytest.param("/public/x", id="plain"),
    pytest.param("/public/a.b", id="dot-inside-a-name"),
    pytest.param("/public/.well-known", id="leading-dot-name"),
    pytest.param("/public/..x", id="dots-then-letters"),
    pytest.param("/public/x;v=1", id="path-parameter"),
    pytest.param("/public/%41", id="encoded-letter"),
]


def _resource_server(fake, app):
    from auth0_wsgi.resource_server import ResourceServerMiddleware
    from tests.support.fake_provider import AUDIENCE

    return ResourceServerMiddleware(app, issuer=fake.issuer, audience=AUDIENCE, public_paths="/public")


FILTERS = [
    pytest.param(lambda fake: middleware(fake, identity_app, public_paths="/public"), id="login-filter"),
    pytest.param(lambda fake: _resource_server(fake, identity_app), id="resource-server-filter"),
]


@pytest.mark.parametrize("make", FILTERS)
@pytest.mark.parametrize("path", RESOLVES_ELSEWHERE)
def test_a_path_another_layer_resolves_elsewhere_is_never_public(fake, make, path):
    result = wsgi_call(make(fake), path, headers=JSON)
    assert result.escaped is None, result.escaped
    assert not result.app_called, f"{path!r} was served without credentials as if it were under /public"
    assert result.status == 401


@pytest.mark.parametrize("make", FILTERS)
@pytest.mark.parametrize("path", STILL_PUBLIC)
def test_odd_but_harmless_paths_under_a_public_prefix_stay_public(fake, make, path):
    """The control: the table above must not pass because nothing is public any more."""
    result = wsgi_call(make(fake), path, headers=JSON)
    assert result.status == 200, result.escaped or result.text
    assert result.app_called


def _pyramid_traversal_app():
    """A Pyramid app routed by traversal, which resolves '..' segments (pyramid.traversal.split_path_info)."""
    from pyramid.config import Configurator
    from pyramid.response import Response

    class Root(dict):
        pass

    root = Root(public=Root())
    with Configurator(root_factory=lambda request: root) as config:
        config.add_view(lambda context, request: Response("secret admin page"), context=Root, name="admin")
        config.add_view(lambda context, request: Response("public page"), context=Root, name="page")
        return config.make_wsgi_app()


def test_dot_segments_reach_a_protected_pyramid_traversal_view_without_a_session(fake):
    """The concrete exploit of the above: a traversal app serves /admin for '/public/../admin'."""
    mw = middleware(fake, _pyramid_traversal_app(), public_paths="/public")
    assert wsgi_call(mw, "/public/page", headers=JSON).body == b"public page"  # the control
    assert wsgi_call(mw, "/admin", headers=JSON).status == 401
    result = wsgi_call(mw, "/public/../admin", headers=JSON)
    assert b"secret admin page" not in result.body, "an anonymous request reached the protected view"
