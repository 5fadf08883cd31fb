"""Moving a middleware's session time in tests, without sleeping.

Only the session clocks move (login time, touch, rolling/absolute expiry, the memory backend's
TTLs): token expiry stays on the real clock, as the fake provider signs tokens with real times.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TypeVar

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.stores.memory import MemoryBackend

C = TypeVar("C", bound=Callable[[], float])


class Clock:
    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def use_clock(middleware: Auth0Middleware, clock: C) -> C:
    """Call it before the first login: a memory backend is replaced by an empty one on ``clock``."""
    middleware.clock = clock
    middleware.collaborators = dataclasses.replace(middleware.collaborators, clock=clock)
    middleware.session_services = dataclasses.replace(middleware.session_services, clock=clock)
    store = middleware.store
    store._clock = clock  # type: ignore[attr-defined]
    if isinstance(getattr(store, "backend", None), MemoryBackend):
        store.backend = MemoryBackend(clock)  # type: ignore[attr-defined]
    return clock
