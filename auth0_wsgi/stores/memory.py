"""Records in this process's memory: for development and tests, one process only.

With several gunicorn workers (or hosts) each process would have its own sessions and a login on
one worker would be unknown to the others: the middleware says so loudly at start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..cache import ExpiringMap


class MemoryBackend:
    """A :class:`~auth0_wsgi.stores.server.RecordBackend` in two expiring maps, not bounded by count:
    a live session is never dropped to make room (each record lives as long as its session)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._records: ExpiringMap[str, tuple[bytes, int]] = ExpiringMap(clock=clock)  # data, version
        # index key -> {record key: when that record may expire}
        self._sets: ExpiringMap[str, dict[str, float]] = ExpiringMap(clock=clock)
        self._clock = clock
        self._lock = threading.Lock()  # a write reads, compares and writes several entries

    def read(self, key: str) -> tuple[bytes, int] | None:
        return self._records.get(key)

    def write(self, key: str, data: bytes, ttl: int, expected_version: int | None,
              index_keys: Sequence[str], index_ttl: int) -> int | None:
        with self._lock:
            current = self._records.get(key)
            if (current[1] if current else None) != expected_version:
                return None
            version = (expected_version or 0) + 1
            self._records.put(key, (data, version), ttl)
            now = self._clock()
            for index_key in index_keys:
                # the sessions that may still live: an ended one's member goes at the next write
                members = {k: t for k, t in (self._sets.get(index_key) or {}).items() if t > now}
                members[key] = max(now + ttl, members.get(key, 0))
                # only grows: an older session's write must not hide a newer one from a logout
                self._sets.put(index_key, members, max(index_ttl, self._sets.ttl(index_key) or 0))
            return version

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key)

    def members(self, index_key: str) -> list[str]:
        with self._lock:
            return list(self._sets.get(index_key) or ())

    def claim_once(self, key: str, ttl: int) -> bool:
        with self._lock:
            return self._records.add(key, (b"", 0), ttl)

    def is_claimed(self, key: str) -> bool:
        return key in self._records
