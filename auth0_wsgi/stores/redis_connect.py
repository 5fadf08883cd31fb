"""A Redis URL to a redis-py client: one node, a Sentinel set's master, or a Cluster.

Every client gets the same short timeouts: a Redis that does not answer in time is down, and the
request gets a 503. No client connects here: a Redis that is down at start-up must not stop the app
(it may come up after it), so a Cluster client, which redis-py connects in its constructor, is built
at its first command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..redis_urls import RedisTarget, is_multi_node, parse

# What a failing Redis raises: redis-py's cluster client raises RedisClusterException (not a
# RedisError) when no seed answers.
ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)
WHERE = "auth0_wsgi_where"  # the attribute naming a client's server(s) for the log
# Retries: redis-py retries 3 times with backoffs of up to 10 s by default. Against a Sentinel set that
# is down that made a request wait ~13 s for its 503 (each sentinel asked 4 times); here the next
# sentinel is the retry, and a failover is a few seconds of 503s, not of hung requests. A Retry per
# client: redis-py may change one's error list in place.


def connect(url: str, timeout: float) -> redis.Redis:
    """A client for ``url``; a Cluster client answers the same commands (typed as one node's)."""
    client: Any
    if not is_multi_node(url):
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                      health_check_interval=30, retry_on_timeout=False)
        setattr(client, WHERE, _one_node(client.connection_pool.connection_kwargs))
        return cast("redis.Redis", client)
    target = parse(url)
    if target.kind == "sentinel":
        client = _sentinel_master(target, timeout)
    else:
        client = LazyCluster(lambda: _cluster(target, timeout))
    setattr(client, WHERE, target.describe())
    return cast("redis.Redis", client)


def hash_reader(client: redis.Redis) -> Callable[[str], dict[bytes, Any]]:
    """``HGETALL key`` for the store's hottest call, a cache miss: one node's or a Sentinel master's
    pool used directly, without redis-py's per-command layers (retry wrapper, metrics, event hooks:
    ~9 µs of a ~67 µs miss on loopback; docs/benchmarks.md). A Cluster keeps redis-py's own path."""
    if isinstance(client, LazyCluster):  # looked up per call: a Cluster down at start-up is built later
        return lambda key: cast("dict[bytes, Any]", client.hgetall(key))
    pool = client.connection_pool

    def hgetall(key: str) -> dict[bytes, Any]:
        # The pool checks a pooled connection as it hands it out: one a restart closed reconnects.
        connection: Any = pool.get_connection()
        try:
            connection.send_command("HGETALL", key)
            reply = connection.read_response()
        except BaseException:
            connection.disconnect()  # a reply may still be on its way: never reuse this connection
            raise
        finally:
            pool.release(connection)
        if isinstance(reply, list):  # RESP2 (a URL's ?protocol=2): field, value, field, value...
            return dict(zip(reply[::2], reply[1::2], strict=True))
        return cast("dict[bytes, Any]", reply)
    return hgetall


def _one_node(kwargs: dict[str, Any]) -> str:
    """``host:port/db`` (or ``unix:path``) of a one-node client, never its password."""
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _sentinel_master(target: RedisTarget, timeout: float) -> redis.Redis:
    """The master of ``target.service``: redis-py asks the sentinels again after a connection to it
    fails (a failover), so the app follows the new master without a restart."""
    tls = {"ssl": True} if target.tls else {}
    sentinel_kwargs = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                       "retry": Retry(NoBackoff(), 0), **tls}
    sentinels = Sentinel(list(target.hosts), socket_timeout=timeout,  # type: ignore[no-untyped-call]
                         sentinel_kwargs=sentinel_kwargs)
    master: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
        target.service, socket_timeout=timeout, socket_connect_timeout=timeout, db=target.db,
        username=target.username, password=target.password, retry_on_timeout=False,
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.02), 1), **tls)
    return master


def _cluster(target: RedisTarget, timeout: float) -> RedisCluster:
    nodes = [ClusterNode(host, port) for host, port in target.hosts]  # type: ignore[no-untyped-call]
    return RedisCluster(startup_nodes=nodes, username=target.username, password=target.password,
                        ssl=target.tls, socket_timeout=timeout, socket_connect_timeout=timeout,
                        retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), 2))  # re-reads the slots


class LazyCluster:
    """A RedisCluster built at its first command (its constructor asks the seeds for the slots), and
    built again at the next command when that failed. Scripts registered before are bound later."""

    def __init__(self, build: Callable[[], RedisCluster]) -> None:
        self._build = build
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    def client(self) -> RedisCluster:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
        return self._client

    def register_script(self, script: str) -> Callable[..., Any]:
        bound: list[Any] = []

        def run(keys: list[Any] | None = None, args: list[Any] | None = None) -> Any:
            if not bound:
                bound.append(self.client().register_script(script))
            return bound[0](keys=keys, args=args)
        return run

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)
