"""Session stores (each implements :class:`auth0_wsgi.session.SessionStore`) and what goes with them.

``session_store`` picks the store, and with it the refresh coordinator (single flight) and the
place where back-channel logouts take effect:

| session_store | sessions | refresh single flight | back-channel logout |
|---|---|---|---|
| ``cookie`` | encrypted cookie | flock on this host | revocation list (``revocation_store``) |
| ``memory`` | this process | this process | deletes the records |
| ``redis://…`` | Redis | Redis lock + result cache | deletes the records |

With a Redis store (one node, Sentinel or Cluster), ``session_cache = tracking`` (the default) keeps
the records each process has read while Redis reports every change to them (``redis_tracking.py``).

A Redis URL may name one node, a Sentinel set or a Cluster (``redis+sentinel://``,
``redis+cluster://``): redis_connect.py makes the client.

Each gets the middleware's clock, except what Redis times itself (its records' TTLs and the refresh
lock's lease run on Redis' clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Config
from ..cookies import CookieOptions
from ..coordination import FileCoordinator, LocalCoordinator, RefreshCoordinator
from ..lockdir import LockDirectory
from ..logs import get_logger
from ..revocation import MemoryRevocations, Revocations
from ..revocation_file import FileRevocations
from ..sealing import Sealer
from ..session import Lifetime, LogoutRegistry, SessionStore
from .cookie import CookieStore
from .memory import MemoryBackend
from .server import RecordBackend, ServerSideStore

if TYPE_CHECKING:
    import redis

    from .redis import RedisBackend

log = get_logger(__name__)
REDIS_TIMEOUT = 2.0  # seconds: a Redis that does not answer by then is down, say so with a 503


@dataclass(frozen=True)
class Backends:
    store: SessionStore
    coordinator: RefreshCoordinator
    logouts: LogoutRegistry


def build(config: Config, lifetime: Lifetime, options: CookieOptions, clock: Callable[[], float]) -> Backends:
    if config.session_store == "cookie":
        return _cookie(config, lifetime, options, clock)
    if config.session_cache_seconds:
        log.warning("session_cache_seconds is deprecated and will be removed: it lets a logout made "
                    "through another process lag by up to %d s. With a redis:// session store, "
                    "session_cache = tracking (the default) keeps records in each process as fast and "
                    "drops them within milliseconds of any change; remove session_cache_seconds",
                    config.session_cache_seconds)
    if config.session_store == "memory":
        log.warning("session_store = memory keeps sessions in this process only: with several "
                    "gunicorn workers or hosts a login on one is unknown to the others. Use a "
                    "redis:// URL in production.")
        store = ServerSideStore(config.session_cookie_name, MemoryBackend(clock), config.secret, lifetime,
                                options, clock, cache_seconds=config.session_cache_seconds)
        return Backends(store, LocalCoordinator(clock), store)
    from .redis import RedisBackend, RedisCoordinator, connect, warn_if_unreachable  # redis-py only if asked

    warn_if_unreachable("session_store", config.session_store)
    client = connect(config.session_store, min(config.http_timeout, REDIS_TIMEOUT))
    backend = RedisBackend(client, config.namespace)  # apps sharing a Redis never meet
    store = ServerSideStore(config.session_cookie_name, tracked(config, client, backend), config.secret,
                            lifetime, options, clock,
                            cache_seconds=config.session_cache_seconds)
    # The holder renews its lease while it refreshes: the lease only bounds how long a dead holder's
    # lock stays, so one token request's worth (connect + read timeouts) is enough.
    coordinator = RedisCoordinator(client, lease_seconds=2 * config.http_timeout + 1,
                                   namespace=config.namespace)
    return Backends(store, coordinator, store)


def tracked(config: Config, client: redis.Redis, backend: RedisBackend) -> RecordBackend:
    """``session_cache = tracking``: records kept in each process while Redis reports every change to
    it (redis_tracking.py): one listener per master (one node, a Sentinel set's, each of a Cluster's)."""
    if config.session_cache != "tracking":
        return backend
    from .redis_tracking import TrackedRecords, TrackingBackend

    return TrackingBackend(backend, TrackedRecords(client, backend.redis_key("")))


def _cookie(config: Config, lifetime: Lifetime, options: CookieOptions,
            clock: Callable[[], float]) -> Backends:
    # Checked now, before gunicorn forks: a directory we cannot trust stops the start (ConfigError).
    directory = LockDirectory(config.refresh_lock_dir, config.namespace)
    revocations: Revocations
    if config.revocation_store == "file":
        revocations = FileRevocations(directory, config.secret, lifetime.absolute, clock)
        # INFO, not WARNING: on one host this default is complete, and a warning at every correct
        # start teaches operators to skip warnings; the README's deployment table says it too.
        log.info("back-channel logouts of cookie sessions reach the workers of this host only "
                 "(revocation_store = file, in %s); with several hosts use revocation_store = redis://…",
                 config.refresh_lock_dir)
    elif config.revocation_store == "memory":
        revocations = MemoryRevocations(config.secret, lifetime.absolute, clock)
        log.warning("back-channel logouts of cookie sessions reach this process only (revocation_store "
                    "= memory): other gunicorn workers keep serving a logged-out session. Use "
                    "revocation_store = file (this host) or revocation_store = redis://… (several hosts)")
    else:
        from .redis import RedisRevocations, connect, warn_if_unreachable

        warn_if_unreachable("revocation_store", config.revocation_store)
        client = connect(config.revocation_store, min(config.http_timeout, REDIS_TIMEOUT))
        revocations = RedisRevocations(client, config.secret, lifetime.absolute, clock,
                                       namespace=config.namespace)
    store = CookieStore(config.session_cookie_name, Sealer(config.secret, "session"), lifetime, options,
                        revocations, clock, context=config.namespace.encode())
    return Backends(store, FileCoordinator(directory, clock), revocations)
