"""A sealed server-side record is bound to its key: whoever can write to the backend but has no
secret cannot move a victim's record under their own session id and be served as the victim."""

from __future__ import annotations

import secrets

import pytest
import webtest

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.stores.redis_connect import connect
from tests.support.apps import echo_app
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.redis_sets import REDIS_FIXTURES, REDIS_PARAMS


@pytest.fixture(params=["memory", *REDIS_PARAMS])
def server_store(request) -> str:
    return request.getfixturevalue(REDIS_FIXTURES[request.param]) if request.param != "memory" else "memory"


def _copy_record(middleware: Auth0Middleware, source: str, target: str) -> None:
    """What an attacker with write access to the backend (and no secret) can do."""
    backend = middleware.store.backend
    if middleware.config.session_store == "memory":
        records = backend._records
        records.put(target, records.get(source), records.ttl(source))
        return
    client = connect(middleware.config.session_store, 5)
    namespace = middleware.config.namespace
    fields = client.hgetall(namespace + source)
    assert fields
    client.hset(namespace + target, mapping=fields)


def test_a_victims_record_copied_under_the_attackers_key_is_no_session(fake, server_store):
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=server_store,
                                                          key_prefix="t" + secrets.token_hex(4)))
    victim = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    attacker = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    fake.sub = "auth0|victim"
    log_in(victim)
    fake.sub = "auth0|mallory"
    log_in(attacker)
    assert victim.get("/x", headers=JSON).json["auth0.user"]["sub"] == "auth0|victim"  # decoded, cached
    store = middleware.store
    victim_key = store.record_key(victim.cookies["auth0_session"].rpartition(".")[0])
    attacker_key = store.record_key(attacker.cookies["auth0_session"].rpartition(".")[0])
    _copy_record(middleware, victim_key, attacker_key)
    response = attacker.get("/x", headers=JSON, expect_errors=True)
    assert response.status_int == 401, response.json.get("auth0.user")
    assert victim.get("/x", headers=JSON).json["auth0.user"]["sub"] == "auth0|victim"
