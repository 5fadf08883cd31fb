"""Shared fixtures: the fake provider on loopback, a middleware around an echo app, and a login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET, FakeProvider, query_of
from tests.support.redis_server import redis_server
from tests.support.servers import serve

SECRET = "s" * 40
BASE_URL = "http://app.test"


@pytest.fixture(scope="session")
def _fake_provider_server() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    with serve(provider) as url:
        provider.issuer = url + "/"
        yield provider


@pytest.fixture(autouse=True)
def _own_lock_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own ``refresh_lock_dir`` (gunicorn children inherit it): the file
    revocation list in the shared default directory would carry one test's logouts into the next
    test's logins, and into other runs of the suite on this host."""
    monkeypatch.setenv("AUTH0_REFRESH_LOCK_DIR", str(tmp_path_factory.mktemp("locks") / "auth0"))


@pytest.fixture
def fake(_fake_provider_server: FakeProvider) -> FakeProvider:
    _fake_provider_server.reset()
    return _fake_provider_server


def settings_for(fake: FakeProvider, **overrides: Any) -> dict[str, Any]:
    settings = {"issuer": fake.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "base_url": BASE_URL, "secret": SECRET, "audience": AUDIENCE, "http_timeout": 2}
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real redis-server for the whole run (sessions use random keys: no cross-talk)."""
    with redis_server() as server:
        yield server.url


@pytest.fixture(params=["cookie", "memory", "redis"])
def session_store(request: pytest.FixtureRequest) -> str:
    """Every flow test runs against every store."""
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return request.param


@pytest.fixture
def make_app(fake: FakeProvider, session_store: str) -> Any:
    def make(**overrides: Any) -> webtest.TestApp:
        overrides.setdefault("session_store", session_store)
        middleware = Auth0Middleware(echo_app, **settings_for(fake, **overrides))
        return webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    return make


@pytest.fixture
def build_app(fake: FakeProvider) -> Any:
    """Not parametrized: the store is the caller's choice (default: cookie)."""
    def make(**overrides: Any) -> webtest.TestApp:
        middleware = Auth0Middleware(echo_app, **settings_for(fake, **overrides))
        return webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    return make


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return make_app()


def start_login(app: webtest.TestApp, return_to: str = "/") -> tuple[str, str]:
    """GET /login and let the fake provider answer: returns (callback path+query, authorize URL)."""
    response = app.get("/login", {"return_to": return_to})
    assert response.status_int == 302
    authorize_url = response.headers["Location"]
    provider_answer = requests.get(authorize_url, allow_redirects=False, timeout=5)
    callback_url = provider_answer.headers["Location"]
    assert callback_url.startswith(BASE_URL)
    return callback_url[len(BASE_URL):], authorize_url


def log_in(app: webtest.TestApp, return_to: str = "/") -> webtest.TestResponse:
    callback, _ = start_login(app, return_to)
    response = app.get(callback)
    assert response.status_int == 302, response.text
    return response


__all__ = ["BASE_URL", "SECRET", "log_in", "query_of", "settings_for", "start_login"]
