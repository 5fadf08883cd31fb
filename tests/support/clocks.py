"""A clock a test moves instead of sleeping: pass it as ``Auth0Middleware(..., clock=clock)``
(``make_app(clock=clock)``, ``middleware(fake, clock=clock)``) and every time-based rule of that
middleware moves with it: session and token expiry, login transactions, logout times, refresh
backoff, discovery and JWKS retries, cache lifetimes.

The fake provider signs its tokens with the real time: start the clock at the real time (the
default) and move it forward by less than a token's lifetime (an hour) where the test logs in or
refreshes after moving it, and sign a logout token at ``clock.now``.
"""

from __future__ import annotations

import time


class Clock:
    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
