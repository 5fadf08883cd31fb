"""The Redis store on a real 3-master Cluster: keys spread over the slots, and what touches several
keys (a back-channel logout of a user with many sessions) still reaches every one of them."""

from __future__ import annotations

import secrets
import threading

import pytest
import redis
import requests
import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.logout_tokens import logout_token
from tests.support.redis_sets import redis_cluster
from tests.support.servers import free_port, serve

BROWSERS = 8  # one user's logins: 8 random hash tags all in one of 3 masters' slots is 3 * 3^-8 likely


def _cluster_client(url: str) -> redis.RedisCluster:
    host, _, port = url.removeprefix("redis+cluster://").split(",")[0].partition(":")
    return redis.RedisCluster(host=host, port=int(port))


def test_a_backchannel_logout_ends_a_users_sessions_in_every_slot(fake, redis_cluster_url):
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=redis_cluster_url,
                                                          key_prefix="t" + secrets.token_hex(4)))
    browsers = [webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"}) for _ in range(BROWSERS)]
    for browser in browsers:
        log_in(browser)  # alice, sid-1, each with a session of its own
    namespace, client = middleware.config.namespace, _cluster_client(redis_cluster_url)
    records = [namespace + middleware.store.record_key(b.cookies["auth0_session"].rpartition(".")[0])
               for b in browsers]
    assert all(client.exists(record) for record in records)
    slots = {client.cluster_keyslot(record) for record in records}
    owners = {client.nodes_manager.get_node_from_slot(slot).name for slot in slots}
    assert len(slots) == BROWSERS and len(owners) > 1  # on several masters, not one tag for all

    response = webtest.TestApp(middleware).post("/backchannel-logout", {"logout_token": logout_token(fake)})
    assert response.status_int == 200
    assert not any(client.exists(record) for record in records)
    for browser in browsers:
        browser.get("/x", headers=JSON, status=401)


def test_a_sessions_keys_carry_their_own_hash_tags(fake, redis_cluster_url):
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=redis_cluster_url,
                                                          key_prefix="t" + secrets.token_hex(4)))
    log_in(webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"}))
    client = _cluster_client(redis_cluster_url)
    keys = [k.decode() for k in client.keys(middleware.config.namespace + "*", target_nodes="all")]
    kinds = {key.removeprefix(middleware.config.namespace).split(":")[0] for key in keys}
    assert {"session", "sid", "sub"} <= kinds
    assert all(key.count("{") == 1 and key.endswith("}") for key in keys)  # tag = the hashed part


def _holds(port: int, key: bytes) -> bool:
    try:
        return bool(redis.Redis(port=port).exists(key))
    except redis.ResponseError:  # MOVED: the slot lives elsewhere now
        return False


@pytest.mark.slow
def test_a_resharding_under_load_is_followed_not_turned_into_503s(fake):
    """Slots move (MOVED, ASK) while logged-in users keep making requests that read and write."""
    with redis_cluster() as cluster:
        port = free_port()
        middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=cluster.url,
                                                              base_url=f"http://127.0.0.1:{port}"))
        with serve(middleware, port) as url:
            users = []
            for i in range(6):
                fake.sub = f"auth0|user{i}"
                http = requests.Session()
                assert http.get(url + "/login?return_to=/me", timeout=10).json()["REMOTE_USER"] == fake.sub
                users.append((fake.sub, http))
            fake.access_token_ttl = 61  # inside the 60 s leeway: requests refresh and write all along
            outcomes: list[str] = []
            stop = threading.Event()

            def client(sub: str, http: requests.Session) -> None:
                while not stop.is_set():
                    response = http.get(url + "/data", headers=JSON, timeout=20)
                    ok = response.status_code == 200 and response.json().get("REMOTE_USER") == sub
                    outcomes.append("ok" if ok else f"{response.status_code}")

            holders = {key: port for port in cluster.ports
                       for key in redis.Redis(port=port).keys("auth0wsgi:*")}
            threads = [threading.Thread(target=client, args=user) for user in users]
            for thread in threads:
                thread.start()
            try:
                cluster.reshard(cluster.ports[0], cluster.ports[1], 2000)
                cluster.reshard(cluster.ports[2], cluster.ports[0], 2000)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(30)
            moved = [key for key, port in holders.items() if not _holds(port, key)]
    assert moved, "no key of ours moved: the resharding proved nothing"
    assert len(outcomes) > 100 and set(outcomes) == {"ok"}, {o: outcomes.count(o) for o in set(outcomes)}
