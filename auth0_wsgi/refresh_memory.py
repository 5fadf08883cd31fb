"""What one process remembers of the provider's recent answers, so that it is not asked at every
request: the backoff after a refresh failed, and another API's refusal. Per process: it only spares
the provider. Both go by the middleware's clock, and neither lasts longer than it should when that
clock is stepped back (an NTP correction, a restored VM).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .audiences import Target
from .cache import ExpiringMap
from .errors import AudienceRefused

MAX_BACKOFF = 60
REFUSAL_MEMORY = 60  # seconds another API's refusal is answered from memory (a policy fix takes a minute)
# Refresh tokens whose failures (refusals) this process remembers; past it, the least recently
# noted is forgotten (its next failure waits one second again).
MAX_ENTRIES = 10_000


class RefreshMemory:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # refresh key -> (no request to the provider before, failures so far): kept past the wait,
        # so that the next failure waits twice as long, until a success clears it
        self._backoff: ExpiringMap[str, tuple[float, int]] = ExpiringMap(MAX_ENTRIES, clock)
        self._backoff_lock = threading.Lock()  # a failure reads the count, then writes it
        # (refresh key, API) -> the provider's refusal and when, answered again for a while
        self._refused: ExpiringMap[tuple[str, Target], tuple[AudienceRefused, float]] = \
            ExpiringMap(MAX_ENTRIES, clock)

    def backoff_left(self, key: str) -> int:
        """Whole seconds until the provider may be asked again for this refresh token (0: now)."""
        until, _ = self._backoff.get(key) or (0.0, 0)
        left = until - self._clock()
        return math.ceil(left) if 0 < left <= MAX_BACKOFF else 0  # more: the clock was stepped back

    def note_failure(self, key: str) -> int:
        """The failure of a refresh: the seconds to wait before the next (1, 2, 4, … MAX_BACKOFF)."""
        with self._backoff_lock:
            _, failures = self._backoff.get(key) or (0.0, 0)
            delay = min(MAX_BACKOFF, 1 << min(failures, 16))
            self._backoff.put(key, (self._clock() + delay, failures + 1), ttl=math.inf)
            return delay

    def clear_backoff(self, key: str) -> None:
        with self._backoff_lock:
            self._backoff.pop(key)

    def refused_lately(self, key: str, target: Target) -> AudienceRefused | None:
        """The provider's refusal of ``target`` within REFUSAL_MEMORY seconds (by the map's own
        expiry alone, a clock stepped back would keep it for the whole step)."""
        remembered = self._refused.get((key, target))
        if remembered is None:
            return None
        refusal, at = remembered
        return refusal if 0 <= self._clock() - at <= REFUSAL_MEMORY else None

    def remember_refusal(self, key: str, target: Target, refusal: AudienceRefused) -> None:
        self._refused.put((key, target), (refusal, self._clock()), ttl=REFUSAL_MEMORY)
