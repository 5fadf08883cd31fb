"""A small bounded mapping for per-process caches of decoded sessions (oldest entries go first).

Reads take no lock (a dict lookup is atomic); writes do, so that eviction never races another writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[K, V] = {}
        self._lock = threading.Lock()

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
