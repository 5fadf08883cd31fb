"""What the session_cache = tracking tests share: the process's tracked records, and polling until
a change made elsewhere (another thread, process or Redis) has arrived."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from auth0_wsgi.stores.redis_tracking import TrackedRecords, TrackingBackend

DEADLINE = 1.0  # seconds: the bound for a change anywhere to reach every process


def tracked_records(app: Any) -> TrackedRecords:
    """The records a webtest app's middleware keeps (session_cache = tracking, the Redis default)."""
    backend = app.app.store.backend
    assert isinstance(backend, TrackingBackend), "session_cache = tracking is the default for Redis"
    return backend.records


def within(seconds: float, condition: Callable[[], bool]) -> float | None:
    """Seconds until ``condition()`` held, polled (real time: another thread, process or Redis must
    act), or None if it did not within ``seconds``."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            return None
        time.sleep(0.002)
