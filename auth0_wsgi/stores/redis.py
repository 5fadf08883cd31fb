"""Records in Redis (through redis-py): every worker and host sees every session.

Short timeouts and redis-py's connection pool: a Redis that is down gives 503s (never a 500, never
a request served as someone else) and the app recovers by itself when Redis is back. The refresh
coordinator for several hosts lives here too: a lock with a lease, and the result cache.
"""

from __future__ import annotations

import functools
import math
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import redis

from ..coordination import RESULT_TTL, CoordinationTimeout
from ..errors import StoreUnavailable
from ..logs import get_logger
from ..redis_urls import redact
from ..revocation import MemoryRevocations
from ..session import Session
from . import redis_scripts as scripts
from .redis_connect import ERRORS, WHERE, connect, hash_reader

__all__ = ["RedisBackend", "RedisCoordinator", "RedisRevocations", "connect", "warn_if_unreachable"]

log = get_logger(__name__)
T = TypeVar("T")
POLL_INTERVAL = 5.0
STARTUP_PING_TIMEOUT = 1.0  # seconds the start-up check waits: a start is not held up for long

def warn_if_unreachable(option: str, url: str, timeout: float = STARTUP_PING_TIMEOUT) -> None:
    """One PING at start-up, on a connection of its own (closed before gunicorn forks): a Redis that
    does not answer is named now, not at the first user's 503. The app still starts: Redis may come
    up after it, and the store reconnects by itself."""
    client = connect(url, timeout)
    try:
        client.ping()
    except ERRORS as exc:
        log.warning("%s %s does not answer a PING within %g s (%s): every request that needs it will "
                    "get 503 until it does", option, redact(url), timeout, type(exc).__name__)
    finally:
        client.close()


def _guarded(client: redis.Redis, call: Callable[[], T]) -> T:
    try:
        return call()
    except ERRORS as exc:
        log.warning("Redis at %s unavailable: %s", where(client), type(exc).__name__)
        raise StoreUnavailable("The session store is unavailable; please try again shortly.") from None


def where(client: redis.Redis) -> str:
    """The server a client talks to, for the operator's log, as ``connect`` named it: host, port and
    database, or a Sentinel or Cluster client's kind, hosts and service; never the password."""
    named = getattr(client, WHERE, None)
    return named if isinstance(named, str) else type(client).__name__


def _raw(value: bytes | str | None) -> bytes | None:
    """Our client never decodes responses: values are bytes (redis-py types them bytes or str)."""
    return value.encode() if isinstance(value, str) else value


def _ascii(value: bytes | str) -> str | None:
    """A name we wrote (ours are ASCII), else None: another client's, or damaged."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
    return raw.decode("ascii") if raw.isascii() else None


class RedisBackend:
    """``namespace`` (``Config.namespace``) prefixes every key: apps sharing a Redis never meet."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self._redis = client
        self._call = functools.partial(_guarded, client)  # errors name this server in the log
        self._namespace = namespace
        self._hgetall = hash_reader(client)
        self._write_script = client.register_script(scripts.WRITE)
        self._index_script = client.register_script(scripts.INDEX)
        self._members_script = client.register_script(scripts.MEMBERS)

    def redis_key(self, key: str) -> str:
        """The name of ``key`` in Redis (what an invalidation message names: redis_tracking.py)."""
        return self._namespace + key

    def read(self, key: str) -> tuple[bytes, int] | None:
        fields = self._call(functools.partial(self._hgetall, self._namespace + key))
        data, version = _raw(fields.get(b"d")), fields.get(b"v")
        if data is None or version is None:
            return None
        try:
            return data, int(version)
        except (TypeError, ValueError):  # not written by us: another client's, or damaged
            log.warning("a session record in Redis has no readable version: it is no session")
            return None

    def write(self, key: str, data: bytes, ttl: int, expected_version: int | None,
              index_keys: Sequence[str], index_ttl: int) -> int | None:
        """The index sets first, then the record: a back-channel logout that reads an index after the
        record is written finds it there. Each step touches one key (a Cluster may hold them in
        three slots); a record whose compare-and-set then fails leaves a member that names an
        existing record of the same session, which its logout deletes anyway."""
        record = self._namespace + key
        for index_key in index_keys:
            self._call(functools.partial(self._index_script, keys=[self._namespace + index_key],
                                         args=[record, ttl, index_ttl]))
        args: list[Any] = ["" if expected_version is None else expected_version, data, ttl]
        version = self._call(lambda: self._write_script(keys=[record], args=args))
        return int(version) or None

    def delete(self, *keys: str) -> None:
        if keys:  # on a Cluster, redis-py sends one DEL per slot (a user's records live in several)
            self._call(lambda: self._redis.delete(*(self._namespace + k for k in keys)))

    def members(self, index_key: str) -> list[str]:
        members = self._call(lambda: self._members_script(keys=[self._namespace + index_key]))
        # ours are ASCII: a member that is not UTF-8 is another client's (or damaged) and names nothing
        return [name.removeprefix(self._namespace) for name in map(_ascii, members) if name is not None]

    def claim_once(self, key: str, ttl: int) -> bool:
        return bool(self._call(lambda: self._redis.set(self._namespace + key, b"1", nx=True, ex=ttl)))

    def is_claimed(self, key: str) -> bool:
        return bool(self._call(lambda: self._redis.exists(self._namespace + key)))


class RedisCoordinator:
    """Single flight across hosts: ``SET NX PX`` lock with a lease, result cached with a TTL.

    The holder renews its lease while ``produce`` runs (a slow token endpoint answers each read
    within ``http_timeout`` but may take longer in all): a waiter never takes the lock from a
    holder that is still working, whatever its own timeout. A waiter whose timeout ends first gets
    :class:`CoordinationTimeout` and spends nothing. The lease itself only matters when a holder
    dies: the lock is free again one lease later.
    """

    def __init__(self, client: redis.Redis, lease_seconds: float, namespace: str) -> None:
        self._redis = client
        self._call = functools.partial(_guarded, client)  # errors name this server in the log
        self._namespace = namespace
        self._lease_ms = int(lease_seconds * 1000)
        self._release = client.register_script(scripts.RELEASE)
        self._extend = client.register_script(scripts.EXTEND)

    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float,
                 keep: int = RESULT_TTL) -> bytes:
        # one hash tag per refresh key: its lock and result share a Cluster slot
        result_key = f"{self._namespace}refresh-result:{{{key}}}"
        cached = _raw(self._call(lambda: self._redis.get(result_key)))
        if cached:
            return cached
        with self._locked(f"{self._namespace}refresh-lock:{{{key}}}", result_key, timeout) as cached:
            if cached:
                return cached
            result = produce()
            try:  # the grant is spent: its result must reach the session even if Redis fails now
                self._call(lambda: self._redis.set(result_key, result, ex=keep))
            except StoreUnavailable:
                log.warning("a refresh result could not be kept in Redis: a late request still carrying "
                            "the old refresh token will spend it again")
            return result

    @contextmanager
    def _locked(self, lock_key: str, result_key: str, timeout: float) -> Iterator[bytes | None]:
        token = secrets.token_hex(16)
        deadline = time.monotonic() + timeout
        while not self._call(lambda: self._redis.set(lock_key, token, nx=True, px=self._lease_ms)):
            cached = _raw(self._call(lambda: self._redis.get(result_key)))
            if cached:  # the holder finished while we waited
                yield cached
                return
            if time.monotonic() >= deadline:
                raise CoordinationTimeout(lock_key)
            time.sleep(0.01)
        keeper = _LeaseKeeper(self._extend, lock_key, token, self._lease_ms)
        try:
            yield _raw(self._call(lambda: self._redis.get(result_key)))
        finally:
            keeper.stop()
            try:
                self._release(keys=[lock_key], args=[token])
            except ERRORS:
                log.warning("could not release a refresh lock; its lease will end it")


class _LeaseKeeper:
    """Extends a held lock's lease every third of it, from a daemon thread, until stopped."""

    def __init__(self, extend: Callable[..., Any], lock_key: str, token: str, lease_ms: int) -> None:
        self._stopped = threading.Event()
        self._extend, self._lock_key, self._token, self._lease_ms = extend, lock_key, token, lease_ms
        threading.Thread(target=self._run, daemon=True, name="auth0-wsgi-refresh-lease").start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._lease_ms / 3000):
            try:
                if not self._extend(keys=[self._lock_key], args=[self._token, self._lease_ms]):
                    log.warning("a refresh lock's lease ran out before its refresh ended")
                    return
            except ERRORS as exc:  # the next try may succeed within the lease
                log.warning("could not extend a refresh lock's lease: %s", type(exc).__name__)


class RedisRevocations(MemoryRevocations):
    """Shared through a Redis sorted set (member = hashed sid/sub, score = logout time).

    One set per application (``namespace``): each app prunes its own set with its own lifetime.
    """

    def __init__(self, client: redis.Redis, secrets: tuple[str, ...], keep_seconds: int,
                 clock: Callable[[], float] = time.time, *, namespace: str) -> None:
        super().__init__(secrets, keep_seconds, clock)
        self._redis = client
        self._call = functools.partial(_guarded, client)  # errors name this server in the log
        self._namespace = namespace
        self._set_key = namespace + "revocations"
        self._poller: threading.Thread | None = None
        self._started_lock = threading.Lock()

    def is_revoked(self, session: Session) -> bool:
        self._start_polling()
        return super().is_revoked(session)

    def revoked_at(self, session: Session) -> int | None:
        self._start_polling()
        return super().revoked_at(session)

    def revoke(self, *, sid: str | None, sub: str | None, at: int) -> int:
        entries = {name: at for name in self._names(sid, sub)}
        if entries:
            def write() -> None:
                pipe = self._redis.pipeline()
                pipe.zadd(self._set_key, entries)
                pipe.zremrangebyscore(self._set_key, 0, int(self._clock()) - self._keep)
                pipe.expire(self._set_key, self._keep)  # every key we write expires
                pipe.execute()
            self._call(write)
        self._remember(entries)
        return 0

    def claim_once(self, name: str, ttl: int) -> bool:
        once_key = f"{self._namespace}once:{name}"
        return bool(self._call(lambda: self._redis.set(once_key, b"1", nx=True, ex=ttl)))

    def poll(self) -> None:
        """Read every revocation still relevant (the set is pruned, so it stays small)."""
        cutoff = int(self._clock()) - self._keep
        rows = cast("list[tuple[bytes, float]]",
                    self._redis.zrangebyscore(self._set_key, cutoff, "+inf", withscores=True))
        # a member that is not ours (not ASCII) or a score that is not a time (inf) is skipped, not
        # allowed to fail every poll from now on
        self._remember({name: int(score) for name, score in ((_ascii(m), s) for m, s in rows)
                        if name is not None and math.isfinite(score)})

    def _start_polling(self) -> None:
        # Started lazily in each process: gunicorn forks workers after loading the app.
        if self._poller is not None and self._poller.is_alive():
            return
        with self._started_lock:
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=_poll_while_used, args=(weakref.ref(self),),
                                                daemon=True, name="auth0-wsgi-revocations")
                self._poller.start()

    def is_claimed(self, name: str) -> bool:
        """Whether :meth:`claim_once` took ``name`` and it has not expired (claims nothing)."""
        return bool(self._call(lambda: self._redis.exists(f"{self._namespace}once:{name}")))


def _poll_while_used(revocations: weakref.ref[RedisRevocations]) -> None:
    """Polls for as long as the list is in use: an app discarded (a test's, a reloaded one) stops it."""
    while (current := revocations()) is not None:
        try:
            current.poll()
        except Exception as exc:  # a Redis outage must not stop the poller
            log.warning("revocation poll failed: %s", type(exc).__name__)
        del current  # no strong reference while asleep
        time.sleep(POLL_INTERVAL)
