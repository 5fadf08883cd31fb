"""Records in this process's memory: for development and tests, one process only.

With several gunicorn workers (or hosts) each process would have its own sessions and a login on
one worker would be unknown to the others: the middleware says so loudly at start-up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence


class MemoryBackend:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, tuple[float, bytes, int]] = {}
        self._sets: dict[str, tuple[float, set[str]]] = {}
        self._lock = threading.Lock()

    def read(self, key: str) -> tuple[bytes, int] | None:
        with self._lock:
            entry = self._records.get(key)
            if entry is None or entry[0] <= self._clock():
                return None
            return entry[1], entry[2]

    def write(self, key: str, data: bytes, ttl: int, expected_version: int | None,
              index_keys: Sequence[str], index_ttl: int) -> int | None:
        now = self._clock()
        with self._lock:
            self._expire(now)
            current = self._records.get(key)
            current_version = current[2] if current else None
            if current_version != expected_version:
                return None
            version = (expected_version or 0) + 1
            self._records[key] = (now + ttl, data, version)
            for index_key in index_keys:
                expires, members = self._sets.get(index_key, (0.0, set()))
                if expires <= now:
                    expires, members = 0.0, set()
                members.add(key)
                # only grows: an older session's write must not hide a newer one from a logout
                self._sets[index_key] = (max(expires, now + index_ttl), members)
            return version

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def members(self, index_key: str) -> list[str]:
        with self._lock:
            expires, members = self._sets.get(index_key, (0.0, set()))
            return list(members) if expires > self._clock() else []

    def claim_once(self, key: str, ttl: int) -> bool:
        now = self._clock()
        with self._lock:
            entry = self._records.get(key)
            if entry is not None and entry[0] > now:
                return False
            self._records[key] = (now + ttl, b"", 0)
            return True

    def _expire(self, now: float) -> None:
        if len(self._records) < 1024:
            return  # sweeping is for long-running processes; small maps are cheap to keep
        for key in [k for k, (expires, _, _) in self._records.items() if expires <= now]:
            del self._records[key]
        for key in [k for k, (expires, _) in self._sets.items() if expires <= now]:
            del self._sets[key]

    def is_claimed(self, key: str) -> bool:
        with self._lock:
            entry = self._records.get(key)
        return entry is not None and entry[0] > self._clock()
