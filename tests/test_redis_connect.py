"""stores/redis_connect.py's lean HGETALL (a session store's cache miss): the same answer as redis-py's
own path in both protocols, and a Redis restart costs no request (the pool checks what it hands out)."""

from __future__ import annotations

import pytest
import redis

from auth0_wsgi.stores.redis_connect import connect, hash_reader
from tests.support.redis_server import RedisServer


@pytest.mark.parametrize("query", [pytest.param("", id="resp3-default"),
                                   pytest.param("?protocol=2", id="resp2")])
def test_it_answers_as_redis_py_does(redis_url, query):
    client = connect(redis_url + query, 2.0)
    client.hset("t:lean", mapping={"v": 3, "d": b"\x00sealed"})
    assert hash_reader(client)("t:lean") == {b"v": b"3", b"d": b"\x00sealed"} == client.hgetall("t:lean")
    assert hash_reader(client)("t:none") == {}


def test_a_redis_restart_costs_no_request():
    server = RedisServer().start()
    try:
        client = connect(server.url, 2.0)
        read = hash_reader(client)
        assert read("t:k") == {}  # the pool now holds a connection to this redis-server
        server.stop()
        server.start()  # same port, a new process: the pooled connection is dead
        server.client().hset("t:k", "v", 1)
        assert read("t:k") == {b"v": b"1"}
        server.stop()
        with pytest.raises(redis.ConnectionError):  # down is down
            read("t:k")
    finally:
        server.stop()
