"""The invalidation listeners of ``session_cache = tracking``: one connection per master we read from.

Tracking is per node (a Redis node reports the changes made on itself), so the listeners follow what
the data client reads from:

- one node: that node;
- a Sentinel set: the master the sentinels name, asked again at every (re)connection, and checked
  with ``ROLE`` (a sentinel that has not yet seen a failover still names the old master);
- a Cluster: one listener per master of the client's slot map. redis-py announces every change of
  that map (a ``MOVED``, a re-initialisation: ``AfterSlotsCacheRefreshEvent``) in the thread that saw
  it, before it retries the command: the cache is emptied there and then, and the listeners follow.

A supervisor thread per process keeps one thread per master; the cache is live only while every one
of them is subscribed, and each loss or topology change empties it (writes may have been missed).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import RedisCluster
from redis.event import AfterSlotsCacheRefreshEvent, EventListenerInterface
from redis.sentinel import SentinelConnectionPool

from ..logs import get_logger
from .redis_connect import ERRORS, LazyCluster

if TYPE_CHECKING:
    from .redis_tracking import TrackedRecords

log = get_logger(__name__)
CHANNEL = "__redis__:invalidate"
# The listener PINGs when it has heard nothing for this long, and gives the connection up when the
# answer takes as long again: a silently dead connection (no RST) stops the cache within ~2 s.
IDLE_SECONDS = 1.0
RETRY_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0)  # between reconnection attempts, the last one repeated
REFUSED_SECONDS = 30.0  # between attempts when Redis refuses CLIENT TRACKING: retrying will not help
# Not for a RESP2 connection of our own: RESP3-only extras, and the Cluster's connect hook.
_DROPPED = ("maint_notifications", "orig_", "oss_cluster_maint", "redis_connect_func")


def start(records: TrackedRecords) -> None:
    """Starts this process's supervisor (a forked child starts its own: threads do not survive a fork)."""
    records.wake.set()  # look at once
    threading.Thread(target=_supervise, args=(weakref.ref(records), os.getpid()), daemon=True,
                     name="auth0-wsgi-invalidations").start()


def cluster_of(client: object) -> RedisCluster | None:
    """A Cluster client's RedisCluster (built now if it was not), or None for one node or Sentinel."""
    return client.client() if isinstance(client, LazyCluster) else None


def masters(client: redis.Redis) -> dict[str, Any]:
    """The connection pool of each master to listen to, by name (for the log)."""
    cluster = cluster_of(client)
    if cluster is not None:
        return {node.name: cluster.get_redis_connection(node).connection_pool
                for node in cluster.get_primaries()}  # type: ignore[no-untyped-call]
    return {"": client.connection_pool}


def subscribe(pool: Any, prefix: str, *, master_only: bool) -> tuple[Any, int]:
    """A connection of its own, RESP2, that tracks every key under ``prefix`` and hears of it."""
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if not k.startswith(_DROPPED)}
    kwargs.update(protocol=2, health_check_interval=0)
    connection: Any = pool.connection_class(**kwargs)  # a Sentinel's asks the sentinels as it connects
    try:
        connection.connect()
        if master_only:
            connection.send_command("ROLE")
            role = connection.read_response()
            if not role or role[0] != b"master":
                raise redis.ConnectionError("not a master (a failover is under way)")
        connection.send_command("CLIENT", "ID")
        listener_id = int(connection.read_response())
        # Redirected to itself: tracking and listening live and die with one connection.
        connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id,
                                "BCAST", "PREFIX", prefix)
        connection.read_response()
        connection.send_command("SUBSCRIBE", CHANNEL)
        connection.read_response()
    except BaseException:
        connection.disconnect()
        raise
    return connection, listener_id


class _TopologyHook(EventListenerInterface):
    """redis-py's slot map changed (a MOVED, a re-initialisation): empty the cache now, in the thread
    that saw it, before its command is retried on the new node."""

    def __init__(self, records: TrackedRecords) -> None:
        self._records = weakref.ref(records)

    def listen(self, event: object) -> None:
        records = self._records()
        if records is not None:
            records.lost()


class _Node:
    """One master's listener thread: (re)connects until stopped, the cache is gone or the process forked."""

    def __init__(self, ref: weakref.ref[TrackedRecords], pid: int, name: str, pool: Any,
                 master_only: bool) -> None:
        self.name, self._pool, self._master_only = name, pool, master_only
        self.listener_id: int | None = None  # while subscribed
        self.down_since: float | None = None
        self.stopped = threading.Event()
        self._ref, self._pid = ref, pid
        threading.Thread(target=self._run, daemon=True, name="auth0-wsgi-invalidations-node").start()

    def _alive(self) -> TrackedRecords | None:
        records = self._ref()
        return records if records is not None and records._pid == self._pid \
            and not self.stopped.is_set() else None

    def _run(self) -> None:
        failures = 0
        while (records := self._alive()) is not None:
            connection, retry_in = None, 0.0
            try:
                connection, self.listener_id = records.subscribe(self._pool, master_only=self._master_only)
            except Exception as exc:  # Redis down, or an answer we did not expect: try again later
                refused = isinstance(exc, redis.ResponseError)
                self._failed(records, failures, exc, refused)
                retry_in = REFUSED_SECONDS if refused else \
                    RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
            if connection is None:
                # Waits outside the except block: the exception's traceback holds the frames that
                # hold the cache, and a discarded app would then live (and reconnect) for ever.
                del records
                self.stopped.wait(retry_in)
                failures += 1
                continue
            if failures:
                log.info("session cache: Redis at %s tells this process of every change again",
                         self._where(records))
            failures, self.down_since = 0, None
            records.wake.set()
            del records
            try:
                self._pump(connection)
            except Exception as exc:  # whatever ends the listening ends the serving: nobody would drop
                # an entry again (a message that does not parse, a bug), and the cache would go stale
                self.listener_id, self.down_since = None, time.monotonic()
                records = self._ref()
                if records is not None:
                    records.lost()
                    log.warning("session cache off: the invalidation connection to Redis at %s was "
                                "lost (%s); every request reads Redis until it is back",
                                self._where(records), type(exc).__name__)
                del records
                failures = 1
            finally:
                self.listener_id = None
                connection.disconnect()

    def _failed(self, records: TrackedRecords, failures: int, exc: Exception, refused: bool) -> None:
        self.down_since = self.down_since or time.monotonic()
        if failures:
            return
        if refused:  # an old or restricted Redis: nothing will change by retrying
            log.warning("session cache off: Redis at %s refused client-side caching (%s; it needs Redis 6 "
                        "or later with the CLIENT command allowed): every request reads Redis; set "
                        "session_cache = off to silence this", self._where(records), exc)
        else:
            log.warning("session cache off until Redis at %s answers again (%s): every request reads "
                        "Redis", self._where(records), type(exc).__name__)

    def _where(self, records: TrackedRecords) -> str:
        return records.where + (f" (master {self.name})" if self.name else "")

    def _pump(self, connection: Any) -> None:
        """Reads invalidations until the connection fails (raises) or the listener ends (returns)."""
        pinged_at: float | None = None
        while self._alive() is not None:  # no reference held while waiting: a discarded app ends it
            if connection.can_read(timeout=IDLE_SECONDS):
                records = self._alive()
                if records is None:
                    return
                if records.heard(connection.read_response()):
                    pinged_at = None
                del records
            elif pinged_at is None:
                connection.send_command("PING")
                pinged_at = time.monotonic()
            elif time.monotonic() - pinged_at > IDLE_SECONDS:
                raise redis.ConnectionError("no answer to a PING")


def _supervise(ref: weakref.ref[TrackedRecords], pid: int) -> None:
    """Keeps one :class:`_Node` per master, and turns the cache on once every one is subscribed."""
    nodes: dict[str, _Node] = {}
    refreshed_at = 0.0
    try:
        while (records := ref()) is not None and records._pid == pid:
            wake = records.wake
            del records  # none held while waiting: a discarded app's cache (and its threads) can end
            wake.wait(IDLE_SECONDS)
            if (records := ref()) is None:
                break
            wake.clear()  # before looking: a wake-up from now on is seen at the next turn
            try:
                refreshed_at = _look(records, nodes, ref, pid, refreshed_at)
            except Exception as exc:  # a bug, or an answer we did not expect: off until a turn succeeds
                records.lost()
                log.error("session cache off: its supervisor failed (%s); it looks again in a second",
                          type(exc).__name__)
            del records
    finally:
        for node in nodes.values():
            node.stopped.set()


def _look(records: TrackedRecords, nodes: dict[str, _Node], ref: weakref.ref[TrackedRecords], pid: int,
          refreshed_at: float) -> float:
    """One turn: a listener per master found, none for a master gone, the cache on once all listen.
    Returns when the Cluster's slot map was last refreshed."""
    generation = records.generation
    cluster = isinstance(records.client, LazyCluster)
    try:
        found: dict[str, Any] | None = masters(records.client)
        if cluster and not records.topology_hooked:
            _hook_topology(records)
    except ERRORS:
        found = None  # a Cluster whose seeds do not answer yet: the listeners stay as they are
    if found is None:
        found = dict.fromkeys(nodes)
    elif set(found) != set(nodes) and nodes:
        records.lost()  # a master came or went: writes made there meanwhile were not heard
        generation = records.generation
    for name in set(nodes) - set(found):
        nodes.pop(name).stopped.set()
    master_only = cluster or isinstance(getattr(records.client, "connection_pool", None),
                                        SentinelConnectionPool)
    for name, pool in found.items():
        if name not in nodes:
            nodes[name] = _Node(ref, pid, name, pool, master_only)
    ids = {name: node.listener_id for name, node in nodes.items()}
    if found and all(ids.values()):
        records.go_live(generation, {n: i for n, i in ids.items() if i is not None})
    elif cluster and time.monotonic() - refreshed_at > RETRY_SECONDS[-1] and any(
            n.down_since and time.monotonic() - n.down_since > RETRY_SECONDS[-1]
            for n in nodes.values()):
        refreshed_at = time.monotonic()  # a master that stays down may have been replaced
        _refresh_slots(records.client)
    return refreshed_at


def _hook_topology(records: TrackedRecords) -> None:
    """Once per cache (a forked child inherits the hook): redis-py's own listener list, as its
    ClusterPubSub registers itself."""
    cluster = cluster_of(records.client)
    assert cluster is not None
    cluster.nodes_manager._event_dispatcher.register_listeners(
        {AfterSlotsCacheRefreshEvent: [_TopologyHook(records)]})
    records.topology_hooked = True


def _refresh_slots(client: object) -> None:
    try:
        cluster_of(client).nodes_manager.initialize()  # type: ignore[union-attr]
    except ERRORS as exc:
        log.debug("cluster slot map not refreshed: %s", type(exc).__name__)
