"""Records kept in process while Redis tells us of every change (``session_cache = tracking``).

Redis' server-assisted client-side caching in broadcast mode: one connection per master runs
``CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <namespace>`` and subscribes to
``__redis__:invalidate``; from then on, Redis sends it the name of every key under our namespace that
any client writes, deletes or lets expire (a refresh, a logout, a back-channel logout, a TTL running
out), ~1 ms after the change (or ``nil`` after a ``FLUSHALL``: everything goes). RESP2 on that
connection (``protocol=2``): Debian's Redis 7.0 has no RESP3 client-side cache in redis-py (7.4+).

The rules that keep a cached record honest:

- only while every listener is connected: before they have subscribed, while one is down or
  reconnecting, every read goes to Redis, and each (re)connection starts from an empty cache
  (invalidations sent while it was away are lost), as does each change of a Cluster's slot map;
- a value read from Redis is kept only if no invalidation of its key (and no loss) came
  between the moment the read was sent and the moment it is stored: an invalidation can overtake the
  reply it makes stale, since they travel on two connections;
- our own writes and deletes drop the key before and after they reach Redis (the invalidation they
  cause drops it again ~1 ms later, which is harmless);
- a record is never served past its own lifetime: the store checks ``Lifetime.is_over`` at every
  load, and the record's TTL in Redis is that same lifetime (its expiry is an invalidation too).

The listeners (redis_listeners.py) are started lazily at the first read, in each process: gunicorn
forks its workers after loading the app, and a thread or socket does not survive a fork. Tracking is
per node: one listener per master (a Sentinel set's current master, each master of a Cluster), and
the cache is live only while every one of them is subscribed.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from typing import Any

import redis

from ..forks import renewed_at_fork
from ..logs import get_logger
from . import redis_listeners
from .redis import RedisBackend, where

log = get_logger(__name__)
RECORDS = 4096  # per process: ~2.5 KB each (sealed bytes; decoded sessions are the store's own cache)


class TrackedRecords:
    """The in-process copies of records, valid only while every invalidation listener is subscribed."""

    def __init__(self, client: redis.Redis, prefix: str, size: int = RECORDS) -> None:
        self.client = client
        self.where = where(client)
        self._prefix = prefix
        self._size = size
        self._entries: dict[str, tuple[bytes, int]] = {}
        self._pending: dict[str, int] = {}  # key -> token of the read in flight that may store it
        self._tokens = itertools.count(1)
        self._lock = renewed_at_fork(self)  # a listener may hold it at a fork
        self._live = False
        self._generation = 0  # moves at every loss and topology change: a late "all subscribed" is void
        self._pid: int | None = None  # the process whose listeners run (none yet: started lazily)
        self.wake = threading.Event()  # tells the supervisor to look again
        self.topology_hooked = False  # a Cluster's slot-map changes reach lost() (redis_listeners.py)
        self.listener_ids: dict[str, int] = {}  # each master's listener CLIENT ID while live (for tests)

    @property
    def live(self) -> bool:
        """Whether cached records may be served: every listener of this process is subscribed."""
        self._ensure_listener()
        return self._live

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key: str) -> tuple[bytes, int] | None:
        if self._pid != os.getpid():
            self._ensure_listener()
        return self._entries.get(key) if self._live else None

    def begin(self, key: str) -> int | None:
        """Before a read of ``key`` is sent: a token that lets :meth:`offer` keep its reply."""
        if not self._live:
            return None
        token = next(self._tokens)
        with self._lock:
            self._pending[key] = token
        return token

    def offer(self, key: str, token: int | None, value: tuple[bytes, int] | None) -> None:
        """Keeps ``value`` unless ``key`` was invalidated (or a listener was lost, or the topology
        changed) since :meth:`begin` gave ``token``. A missing record is not kept: a login creates it."""
        if token is None:
            return
        with self._lock:
            if self._pending.get(key) != token:
                return
            del self._pending[key]
            if value is None or not self._live:
                return
            if key not in self._entries and len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[key] = value

    def drop(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)
                self._pending.pop(key, None)

    def lost(self) -> None:
        """A listener's connection is gone, or a master came or went: nothing cached is served (and
        the cache is emptied, as changes may have been missed) until every listener is subscribed."""
        with self._lock:
            self._generation += 1
            self._live = False
            self.listener_ids = {}
            self._entries.clear()
            self._pending.clear()
        self.wake.set()

    def go_live(self, generation: int, listener_ids: dict[str, int]) -> None:
        """Every listener is subscribed: serve from the cache, unless something was lost since the
        supervisor read ``generation`` (it looks again then)."""
        with self._lock:
            if generation != self._generation or self._live:
                return
            self._live, self.listener_ids = True, listener_ids
            self._entries.clear()
            self._pending.clear()

    def subscribe(self, pool: Any, *, master_only: bool) -> tuple[Any, int]:
        return redis_listeners.subscribe(pool, self._prefix, master_only=master_only)

    def _flush(self) -> None:
        with self._lock:
            self._entries.clear()
            self._pending.clear()

    def _ensure_listener(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            # A forked child inherits the parent's state, not its threads: nothing cached is served
            # until this process's own listeners have subscribed.
            self._pid, self._live, self.listener_ids = pid, False, {}
            self._generation += 1
            self._entries.clear()
            self._pending.clear()
        redis_listeners.start(self)

    def heard(self, message: Any) -> bool:
        """Applies one message from a listener's connection; whether it was a PING's answer."""
        if not isinstance(message, list) or len(message) < 2:
            return False
        if message[0] == b"pong":
            return True
        if message[0] == b"message" and len(message) == 3:
            keys = message[2]
            if keys is None:  # FLUSHALL / FLUSHDB: every key is gone
                self._flush()
            else:
                # Ours are ASCII: a name that is not UTF-8 is another client's and drops nothing.
                self.drop([k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in keys])
        return False


class TrackingBackend:
    """A :class:`RedisBackend` whose reads are served from :class:`TrackedRecords` when they can be."""

    def __init__(self, backend: RedisBackend, records: TrackedRecords) -> None:
        self.backend = backend
        self.records = records

    def read(self, key: str) -> tuple[bytes, int] | None:
        name = self.backend.redis_key(key)
        cached = self.records.get(name)
        if cached is not None:
            return cached
        token = self.records.begin(name)
        found = self.backend.read(key)
        self.records.offer(name, token, found)
        return found

    def write(self, key: str, data: bytes, ttl: int, expected_version: int | None,
              index_keys: Sequence[str], index_ttl: int) -> int | None:
        names = [self.backend.redis_key(key)]
        self.records.drop(names)
        try:
            return self.backend.write(key, data, ttl, expected_version, index_keys, index_ttl)
        finally:
            self.records.drop(names)  # a read that overlapped the write is not kept either

    def delete(self, *keys: str) -> None:
        names = [self.backend.redis_key(k) for k in keys]
        self.records.drop(names)
        try:
            self.backend.delete(*keys)
        finally:
            self.records.drop(names)

    def members(self, index_key: str) -> list[str]:
        return self.backend.members(index_key)

    def claim_once(self, key: str, ttl: int) -> bool:
        return self.backend.claim_once(key, ttl)

    def is_claimed(self, key: str) -> bool:
        return self.backend.is_claimed(key)
