"""Fixtures only: the fake provider on loopback, a real redis-server, the middleware around an echo
app (against every session store), a recorder of what the provider issued, a dropping endpoint.

Helpers and constants live in ``tests/support`` (logins in ``flows``, headers in ``http``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.fake_provider import FakeProvider, Issued
from tests.support.flows import addressed_as, settings_for
from tests.support.redis_server import redis_server
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS, redis_cluster, redis_sentinel
from tests.support.servers import DroppingServer, serve


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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One real redis-server for the whole run (sessions use random keys: no cross-talk)."""
    with redis_server() as server:
        yield server.url


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """One real 3-master Redis Cluster for the whole run: ``redis+cluster://`` with its three nodes."""
    with redis_cluster() as cluster:
        yield cluster.url


@pytest.fixture(scope="session")
def redis_sentinel_url() -> Iterator[str]:
    """One real Sentinel set (master, replica, three sentinels) for the whole run: ``redis+sentinel://``."""
    with redis_sentinel() as sentinels:
        yield sentinels.url


@pytest.fixture(params=["cookie", "memory", *REDIS_PARAMS])
def session_store(request: pytest.FixtureRequest) -> str:
    """Every flow test runs against every store, Redis as one node, a Cluster and a Sentinel set."""
    if request.param in REDIS_FIXTURES:
        return request.getfixturevalue(REDIS_FIXTURES[request.param])
    return request.param


@pytest.fixture(params=REDIS_PARAMS)
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """A Redis URL of each kind: one node, a Cluster, a Sentinel set."""
    return request.getfixturevalue(REDIS_FIXTURES[request.param])


@pytest.fixture
def make_app(fake: FakeProvider, session_store: str) -> Any:
    def make(**overrides: Any) -> webtest.TestApp:
        overrides.setdefault("session_store", session_store)
        middleware = Auth0Middleware(echo_app, **settings_for(fake, **overrides))
        return webtest.TestApp(middleware, extra_environ=addressed_as(overrides.get("base_url")))
    return make


@pytest.fixture
def build_app(fake: FakeProvider) -> Any:
    """Not parametrized: the store is the caller's choice (default: cookie)."""
    def make(**overrides: Any) -> webtest.TestApp:
        middleware = Auth0Middleware(echo_app, **settings_for(fake, **overrides))
        return webtest.TestApp(middleware, extra_environ=addressed_as(overrides.get("base_url")))
    return make


@pytest.fixture
def app(make_app: Any) -> webtest.TestApp:
    return make_app()


@pytest.fixture
def issued(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Issued:
    """Every ID and access token the fake provider signs during the test."""
    record = Issued()
    id_token, access_token = fake.id_token, fake.access_token

    def recording_id_token(nonce: str | None, now: int, sub: str | None = None) -> str:
        record.id_tokens.append(id_token(nonce, now, sub))
        return record.id_tokens[-1]

    def recording_access_token(now: int, sub: str | None = None) -> str:
        record.access_tokens.append(access_token(now, sub))
        return record.access_tokens[-1]

    monkeypatch.setattr(fake, "id_token", recording_id_token)
    monkeypatch.setattr(fake, "access_token", recording_access_token)
    return record


@pytest.fixture
def dropping_server() -> Iterator[Callable[[str], DroppingServer]]:
    """Starts loopback servers that drop every connection (``reset``, ``close`` or
    ``read-then-close``: see ``DroppingServer``), and stops them after the test."""
    started: list[DroppingServer] = []

    def start(mode: str) -> DroppingServer:
        server = DroppingServer(mode).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
