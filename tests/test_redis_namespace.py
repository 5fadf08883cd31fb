"""Apps sharing one Redis: every key is namespaced by application (client id and key_prefix)."""

from __future__ import annotations

import dataclasses
import secrets
import time

import pytest
import redis
from joserfc import jwt

from tests.support.fake_provider import CLIENT_ID
from tests.support.flows import log_in
from tests.support.http import JSON

EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}

# (settings of app B, given app A's unique key_prefix): B must share nothing with A
NEIGHBOURS = [
    pytest.param(lambda prefix: {"client_id": "another-client", "key_prefix": prefix},
                 id="other-client-id"),
    pytest.param(lambda prefix: {"client_id": CLIENT_ID, "key_prefix": prefix + "b"},
                 id="same-client-id-other-key-prefix"),
]


def _prefix() -> str:
    return "t" + secrets.token_hex(4)  # this test's own keys in the session-wide Redis


def _logout_token(fake, audience: str, sid: str, sub: str) -> str:
    now = int(time.time())
    claims = {"iss": fake.issuer, "aud": audience, "iat": now, "exp": now + 120,
              "jti": secrets.token_hex(8), "events": EVENT, "sid": sid, "sub": sub}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, fake.key)


@pytest.mark.parametrize("neighbour", NEIGHBOURS)
def test_apps_sharing_a_redis_never_read_each_others_sessions(build_app, redis_url, neighbour):
    prefix = _prefix()
    app_a = build_app(session_store=redis_url, key_prefix=prefix)
    app_b = build_app(session_store=redis_url, **neighbour(prefix))  # same secret, same Redis
    log_in(app_a)
    cookie = app_a.cookies["auth0_session"]
    app_b.set_cookie("auth0_session", cookie)
    app_b.get("/x", headers=JSON, status=401)  # not served as A's user
    app_a.get("/x", headers=JSON, status=200)

    namespace_a, namespace_b = app_a.app.config.namespace, app_b.app.config.namespace
    assert namespace_a != namespace_b
    client = redis.Redis.from_url(redis_url)
    record = app_a.app.store.record_key(cookie.rpartition(".")[0])
    assert client.exists(namespace_a + record)
    assert not client.exists(namespace_b + record)
    keys_a = client.keys(namespace_a + "*")
    assert {k.decode().removeprefix(namespace_a).split(":")[0] for k in keys_a} >= {"session", "sid", "sub"}
    assert not client.keys("auth0wsgi:session:*")  # nothing outside an app's namespace


@pytest.mark.parametrize("neighbour", NEIGHBOURS)
def test_a_neighbours_revocation_prune_leaves_our_revocations_intact(build_app, fake, redis_url,
                                                                    neighbour):
    """B keeps revocations for 60 s; A's, an hour old, are within A's own week and must survive."""
    prefix = _prefix()
    app_a = build_app(revocation_store=redis_url, key_prefix=prefix)
    an_hour_ago = lambda: time.time() - 3600  # noqa: E731 - A logged in and out an hour ago
    app_a.app.collaborators = dataclasses.replace(app_a.app.collaborators, clock=an_hour_ago)
    log_in(app_a)
    cookie = app_a.cookies["auth0_session"]
    app_a.post("/backchannel-logout",
               {"logout_token": _logout_token(fake, CLIENT_ID, "sid-1", "auth0|alice")})

    settings_b = neighbour(prefix)
    app_b = build_app(revocation_store=redis_url, session_rolling_duration=60,
                      session_absolute_duration=60, **settings_b)
    app_b.post("/backchannel-logout",  # another user of B: B's write prunes what is older than 60 s
               {"logout_token": _logout_token(fake, settings_b["client_id"], "sid-bob", "auth0|bob")})

    another_process = build_app(revocation_store=redis_url, key_prefix=prefix)
    another_process.app.collaborators.logouts.poll()
    another_process.set_cookie("auth0_session", cookie)
    another_process.get("/x", headers=JSON, status=401)  # A's logout still holds
    client = redis.Redis.from_url(redis_url)
    revocations_a = app_a.app.config.namespace + "revocations"
    assert client.zcard(revocations_a) == 2  # A's sid and sub, not pruned by B
    assert client.ttl(revocations_a) > 3600  # nor shortened to B's 60 s
