"""Back-channel logout for cookie sessions: a list of revoked ``sid``/``sub`` with their time.

The cookie store keeps nothing on the server, so a logout the provider announces can only be
enforced by remembering it: a cookie session of that ``sid`` or ``sub`` *created before* the
logout no longer counts. The check on the hot path is a dict lookup (no network call):

- :class:`MemoryRevocations` (``revocation_store = memory``): this process only;
- ``revocation_file.FileRevocations`` (``revocation_store = file``, the default): a file every
  worker of this host reads;
- ``stores.redis.RedisRevocations`` (``revocation_store = redis://…``): written to Redis, read into
  every process by a background poll every few seconds, so a logout reaches all workers and hosts
  within that delay.
Entries are kept for ``session_absolute_duration``: no older cookie session can still be alive.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .cache import BoundedCache, ExpiringMap
from .sealing import b64encode, derive_key
from .session import LogoutRegistry

if TYPE_CHECKING:
    from .session import Session


NAMES_CACHE_SIZE = 4096


class Revocations(LogoutRegistry, Protocol):
    """The cookie store's revocation list: a :class:`LogoutRegistry` that is also asked, at every
    request of a cookie session, whether a back-channel logout ended that session."""

    def revoked_at(self, session: Session) -> int | None:
        """When the latest logout of the session's ``sid`` or ``sub`` was recorded, if any (read as
        :meth:`is_revoked` reads)."""
        ...

    def is_revoked(self, session: Session) -> bool:
        """Whether a logout of the session's ``sid`` or ``sub`` came at or after its ``created_at``.

        On the hot path: answered from memory (a list that is empty costs one truth test), never
        by a network call, and never raises (a list it cannot read keeps what it read before).
        """
        ...


class MemoryRevocations:
    def __init__(self, secrets: tuple[str, ...], keep_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = derive_key(secrets[0], "revocation")
        self._keep = keep_seconds
        self._clock = clock
        self._revoked: dict[str, int] = {}
        self._claimed: ExpiringMap[str, bool] = ExpiringMap(clock=clock)  # names claim_once took
        self._lock = threading.Lock()
        # Two HMACs cost ~5 µs, as much as the rest of the hot path, and every logout leaves an entry:
        # the names of the sessions this process sees are remembered (they never change for a key).
        self._session_names: BoundedCache[tuple[str | None, str | None], list[str]] = \
            BoundedCache(NAMES_CACHE_SIZE)

    def is_revoked(self, session: Session) -> bool:
        revoked = self._revoked
        if not revoked:
            return False  # the common case costs one truth test
        for name in self._names_of(session):
            at = revoked.get(name)
            if at is not None and session.created_at <= at:
                return True
        return False

    def revoked_at(self, session: Session) -> int | None:
        """When the latest logout of the session's ``sid`` or ``sub`` was recorded, if any."""
        revoked = self._revoked
        times = [revoked[name] for name in self._names_of(session) if name in revoked]
        return max(times, default=None)

    def revoke(self, *, sid: str | None, sub: str | None, at: int) -> int:
        self._remember({name: at for name in self._names(sid, sub)})
        return 0  # cookie sessions cannot be counted: they live in browsers

    def claim_once(self, name: str, ttl: int) -> bool:
        return self._claimed.add(name, True, ttl)

    def _remember(self, entries: dict[str, int]) -> None:
        cutoff = int(self._clock()) - self._keep
        with self._lock:
            merged = {k: v for k, v in self._revoked.items() if v > cutoff}
            for name, at in entries.items():
                merged[name] = max(at, merged.get(name, 0))
            self._revoked = merged  # swapped whole: readers never see a half-updated dict

    def _names_of(self, session: Session) -> list[str]:
        sid, sub = session.sid, session.user.get("sub")
        if not isinstance(sub, str):
            return self._names(sid, sub)  # not a name (and maybe unhashable): nothing to remember
        names = self._session_names.get((sid, sub))
        if names is None:
            names = self._names(sid, sub)
            self._session_names.put((sid, sub), names)
        return names

    def _names(self, sid: object, sub: object) -> list[str]:
        names = []
        for kind, value in (("sid", sid), ("sub", sub)):
            if isinstance(value, str) and value:
                digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).digest()
                names.append(f"{kind}:{b64encode(digest[:18])}")
        return names

    def is_claimed(self, name: str) -> bool:
        """Whether ``claim_once(name)`` succeeded and has not expired (claims nothing)."""
        return name in self._claimed
