"""Records kept in process while Redis tells us of every change (``session_cache = tracking``).

Redis' server-assisted client-side caching in broadcast mode: one connection per process runs
``CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <namespace>`` and subscribes to
``__redis__:invalidate``; from then on, Redis sends it the name of every key under our namespace that
any client writes, deletes or lets expire (a refresh, a logout, a back-channel logout, a TTL running
out), ~1 ms after the change (or ``nil`` after a ``FLUSHALL``: everything goes). RESP2 on that
connection (``protocol=2``): Debian's Redis 7.0 has no RESP3 client-side cache in redis-py (7.4+).

The rules that keep a cached record honest:

- only while the listener is connected: before it has subscribed, while it is down or reconnecting,
  every read goes to Redis, and each (re)connection starts from an empty cache (invalidations sent
  while it was away are lost);
- a value read from Redis is kept only if no invalidation of its key (and no reconnection) came
  between the moment the read was sent and the moment it is stored: an invalidation can overtake the
  reply it makes stale, since they travel on two connections;
- our own writes and deletes drop the key before and after they reach Redis (the invalidation they
  cause drops it again ~1 ms later, which is harmless);
- a record is never served past its own lifetime: the store checks ``Lifetime.is_over`` at every
  load, and the record's TTL in Redis is that same lifetime (its expiry is an invalidation too).

One listener per process, started lazily at the first read: gunicorn forks its workers after
loading the app, and a thread or socket does not survive a fork (a forked child starts its own).
Tracking is per node: a Sentinel or Cluster client needs one listener per master it reads from.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import RedisError

from ..logs import get_logger
from .redis import RedisBackend, where

log = get_logger(__name__)
CHANNEL = "__redis__:invalidate"
RECORDS = 4096  # per process: ~2.5 KB each (sealed bytes; decoded sessions are the store's own cache)
# The listener PINGs when it has heard nothing for this long, and gives the connection up when the
# answer takes as long again: a silently dead connection (no RST) stops the cache within ~2 s.
IDLE_SECONDS = 1.0
RETRY_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0)  # between reconnection attempts, the last one repeated


class TrackedRecords:
    """The in-process copies of records, valid only while the invalidation listener is connected."""

    def __init__(self, client: redis.Redis, prefix: str, size: int = RECORDS) -> None:
        self._client = client
        self._prefix = prefix
        self._size = size
        self._entries: dict[str, tuple[bytes, int]] = {}
        self._pending: dict[str, int] = {}  # key -> token of the read in flight that may store it
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._live = False
        self._pid: int | None = None  # the process whose listener runs (none yet: started lazily)
        self.listener_id: int | None = None  # the listener's CLIENT ID while connected (for tests)

    @property
    def live(self) -> bool:
        """Whether cached records may be served: this process's listener is subscribed."""
        self._ensure_listener()
        return self._live

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
        """Keeps ``value`` unless ``key`` was invalidated (or the listener reconnected) since
        :meth:`begin` gave ``token``. A missing record is not kept: a login creates it."""
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

    def _set_live(self, live: bool, listener_id: int | None = None) -> None:
        """Every change of state empties the cache and voids the reads in flight."""
        with self._lock:
            self._live = live
            self.listener_id = listener_id
            self._entries.clear()
            self._pending.clear()

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
            # A forked child inherits the parent's state, not its thread: nothing cached is served
            # until this process's own listener has subscribed.
            self._pid, self._live, self.listener_id = pid, False, None
            self._entries.clear()
            self._pending.clear()
        threading.Thread(target=_listen, args=(weakref.ref(self), pid), daemon=True,
                         name="auth0-wsgi-invalidations").start()

    def _subscribe(self) -> Any:
        """A connection of its own, RESP2, that tracks every key under our prefix and hears of it."""
        pool = self._client.connection_pool
        # redis-py's RESP3-only extras (maintenance notifications) do not apply to a RESP2 connection
        kwargs: dict[str, Any] = {k: v for k, v in pool.connection_kwargs.items()
                                  if not k.startswith(("maint_notifications", "orig_"))}
        kwargs.update(protocol=2, health_check_interval=0)
        connection: Any = pool.connection_class(**kwargs)  # redis-py leaves its methods untyped
        try:
            connection.connect()
            connection.send_command("CLIENT", "ID")
            listener_id = int(connection.read_response())
            # Redirected to itself: tracking and listening live and die with one connection.
            connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id,
                                    "BCAST", "PREFIX", self._prefix)
            connection.read_response()
            connection.send_command("SUBSCRIBE", CHANNEL)
            connection.read_response()
        except BaseException:
            connection.disconnect()
            raise
        self._set_live(True, listener_id)
        return connection

    def _heard(self, message: Any) -> bool:
        """Applies one message from the listener's connection; whether it was a PING's answer."""
        if not isinstance(message, list) or len(message) < 2:
            return False
        if message[0] == b"pong":
            return True
        if message[0] == b"message" and len(message) == 3:
            keys = message[2]
            if keys is None:  # FLUSHALL / FLUSHDB: every key is gone
                self._flush()
            else:
                self.drop([k.decode() if isinstance(k, bytes) else str(k) for k in keys])
        return False


def _listen(ref: weakref.ref[TrackedRecords], pid: int) -> None:
    """The listener thread: (re)connects for ever, until its cache is gone or the process forked."""
    failures = 0
    while True:
        records = ref()
        if records is None or records._pid != pid:
            return
        try:
            connection = records._subscribe()
        except redis.ResponseError as exc:  # an old or restricted Redis: nothing will change by retrying
            if failures == 0:
                log.warning("session cache off: Redis at %s refused client-side caching (%s; it needs "
                            "Redis 6 or later with the CLIENT command allowed): every request reads "
                            "Redis; set session_cache = off to silence this", where(records._client), exc)
            del records
            time.sleep(RETRY_SECONDS[-1] * 30)
            failures += 1
            continue
        except (RedisError, OSError) as exc:
            if failures == 0:
                log.warning("session cache off until Redis at %s answers again (%s): every request "
                            "reads Redis", where(records._client), type(exc).__name__)
            del records
            time.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1
            continue
        if failures:
            log.info("session cache back on: Redis at %s tells this process of every change",
                     where(records._client))
        failures = 0
        del records
        try:
            _pump(ref, pid, connection)
        except (RedisError, OSError) as exc:
            records = ref()
            if records is not None:
                records._set_live(False)
                log.warning("session cache off: the invalidation connection to Redis at %s was lost "
                            "(%s); every request reads Redis until it is back",
                            where(records._client), type(exc).__name__)
            del records
            failures = 1
        finally:
            connection.disconnect()


def _pump(ref: weakref.ref[TrackedRecords], pid: int, connection: Any) -> None:
    """Reads invalidations until the connection fails (raises) or the cache is gone (returns)."""
    pinged_at: float | None = None
    while True:
        records = ref()
        if records is None or records._pid != pid:
            return
        if connection.can_read(timeout=IDLE_SECONDS):
            if records._heard(connection.read_response()):
                pinged_at = None
        elif pinged_at is None:
            connection.send_command("PING")
            pinged_at = time.monotonic()
        elif time.monotonic() - pinged_at > IDLE_SECONDS:
            raise redis.ConnectionError("no answer to a PING")
        del records


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
