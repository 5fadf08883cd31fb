"""Two small per-process maps: every in-memory table of auth0-wsgi is one of them.

- :class:`BoundedCache`: at most ``size`` entries, the oldest go first (decoded sessions, hashed
  names): nothing in it is ever wrong, only worth keeping.
- :class:`ExpiringMap`: entries with a lifetime, and an optional bound (what was already used, a
  backoff, a refresh result, recently read records, the memory backend's records).

Reads take no lock (a dict lookup is atomic); writes do, so that eviction never races another writer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from .forks import renewed_at_fork

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_FIRST_SWEEP = 1024  # entries: below this, expired ones not at the front are cheaper to keep


class BoundedCache(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[K, V] = {}
        self._lock = renewed_at_fork(self)

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]  # the oldest
            self._entries[key] = value

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def drop_where(self, condition: Callable[[V], bool]) -> None:
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if not condition(v)}


class ExpiringMap(Generic[K, V]):
    """A thread-safe map whose entries expire, holding at most ``size`` of them (None: no bound).

    Each ``put`` gives its entry a lifetime in seconds of ``clock`` (the middleware's clock:
    wall-clock seconds, like every deadline of auth0-wsgi; ``math.inf``: until popped or pushed
    out); past ``size`` entries, the least recently written one goes. An expired entry is never
    returned. Expired entries are dropped as writes go: the oldest at every write (all of them,
    when every entry has the same lifetime), all the others each time the map has doubled since
    the last sweep, so that a write costs O(1) on average whatever the lifetimes.

    Reads take no lock (a dict lookup is atomic); writes do.
    """

    def __init__(self, size: int | None = None, clock: Callable[[], float] = time.time) -> None:
        if size is not None and size < 1:
            raise ValueError("an ExpiringMap holds at least one entry")
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # oldest write first
        self._lock = renewed_at_fork(self)
        self._next_sweep = _FIRST_SWEEP

    def __len__(self) -> int:
        """How many entries the map holds, expired ones not yet dropped included."""
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return self.ttl(key) is not None

    def get(self, key: K) -> V | None:
        """The value of a live entry, else None."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    def ttl(self, key: K) -> float | None:
        """Seconds a live entry has left, else None."""
        entry = self._entries.get(key)
        left = entry[0] - self._clock() if entry is not None else 0.0
        return left if left > 0 else None

    def put(self, key: K, value: V, ttl: float) -> None:
        """Stores ``value`` for ``ttl`` seconds, replacing any entry of ``key``."""
        with self._lock:
            now = self._clock()
            self._store(key, value, now + ttl, now)

    def add(self, key: K, value: V, ttl: float) -> bool:
        """Stores ``value`` for ``ttl`` seconds unless a live entry holds ``key``: whether it did (a
        claim that succeeds once)."""
        with self._lock:
            now = self._clock()
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return False
            self._store(key, value, now + ttl, now)
            return True

    def pop(self, key: K) -> V | None:
        """Removes ``key``; the value it had if it was live, else None."""
        with self._lock:
            entry = self._entries.pop(key, None)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    def drop_where(self, condition: Callable[[V], bool]) -> None:
        """Removes every entry whose value meets ``condition``."""
        with self._lock:
            for key in [k for k, (_, value) in self._entries.items() if condition(value)]:
                del self._entries[key]

    def _store(self, key: K, value: V, expires: float, now: float) -> None:
        entries = self._entries
        entries[key] = (expires, value)
        entries.move_to_end(key)
        while entries:  # the oldest writes first: expired ones, then any past the bound
            oldest, (until, _) = next(iter(entries.items()))
            if until > now and (self._size is None or len(entries) <= self._size):
                break
            del entries[oldest]
        if len(entries) >= self._next_sweep:
            for expired in [k for k, (until, _) in entries.items() if until <= now]:
                del entries[expired]
            self._next_sweep = max(_FIRST_SWEEP, 2 * len(entries))
