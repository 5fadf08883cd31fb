"""The request's context (middleware.RequestContext): what the app gets, and the cookies it sends."""

from __future__ import annotations

import dataclasses

import pytest
import webtest

from auth0_wsgi import Auth0Middleware, refresh_access_token
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON


def test_a_view_that_edits_nested_claims_does_not_change_the_next_request(fake, session_store):
    fake.id_token_claims = lambda claims: {**claims, "roles": ["reader"],
                                           "app_metadata": {"plan": "free", "teams": [{"id": "a"}]}}

    def meddling(environ, start_response):
        user = environ["auth0.user"]
        user["roles"].append("admin")
        user["app_metadata"]["plan"] = "enterprise"
        user["app_metadata"]["teams"][0]["id"] = "owners"
        user["app_metadata"]["teams"].append({"id": "b"})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    middleware = Auth0Middleware(meddling, **settings_for(fake, session_store=session_store))
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    app.get("/a")
    app.get("/a")  # twice: whatever the app changed the first time must not be there the second
    middleware.app = echo_app
    user = app.get("/b", headers=JSON).json["auth0.user"]
    assert user["roles"] == ["reader"]
    assert user["app_metadata"] == {"plan": "free", "teams": [{"id": "a"}]}


class _ScriptedSaves:
    """A real (memory) store whose saves answer the given headers, one list per save."""

    def __init__(self, store, answers: list[list[tuple[str, str]]]) -> None:
        self._store, self._answers = store, answers

    def load(self, environ):
        return self._store.load(environ)

    def save(self, environ, session, supersedes=()):
        self._store.save(environ, session)
        return self._answers.pop(0)

    def clear(self, environ):
        return self._store.clear(environ)


def _cookie(name: str, value: str) -> tuple[str, str]:
    return ("Set-Cookie", f"{name}={value}; Path=/; HttpOnly")


@pytest.mark.parametrize(("first", "second", "sent"), [
    pytest.param([_cookie("auth0_session", "id; Max-Age=600")], [],
                 ["auth0_session=id; Max-Age=600"], id="second-save-sends-nothing"),
    pytest.param([_cookie("auth0_session", "v1")], [_cookie("auth0_session", "v2")],
                 ["auth0_session=v2"], id="same-name-later-wins"),
    pytest.param([_cookie("other", "kept"), _cookie("auth0_session", "v1")], [_cookie("auth0_session", "v2")],
                 ["other=kept", "auth0_session=v2"], id="other-cookie-kept"),
    pytest.param([_cookie("auth0_session.0", "a"), _cookie("auth0_session.1", "b"),
                  _cookie("auth0_session.2", "c")],
                 [_cookie("auth0_session.0", "d"), _cookie("auth0_session.1", "e")],
                 ["auth0_session.0=d", "auth0_session.1=e"], id="fewer-chunks-replace-the-set"),
])
def test_a_second_save_in_one_request_merges_its_cookies_with_the_first(fake, first, second, sent):
    def view(environ, start_response):
        refresh_access_token(environ)  # the second save of this request
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    clock = Clock()
    middleware = Auth0Middleware(view, **settings_for(fake, session_store="memory"), clock=clock)
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    scripted = _ScriptedSaves(middleware.store, [first, second])
    middleware.session_services = dataclasses.replace(middleware.session_services, store=scripted)
    clock.advance(400)  # the first save: the touch that slides the rolling expiry
    response = app.get("/x")
    cookies = [value for name, value in response.headerlist if name == "Set-Cookie"]
    assert [c.removesuffix("; Path=/; HttpOnly") for c in cookies] == sent
    assert response.headers["Cache-Control"] == "no-store"
