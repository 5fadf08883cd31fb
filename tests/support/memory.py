"""How much memory a call takes: the peak of Python allocations while it ran."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any


def peak_memory(call: Callable[[], Any], runs: int = 1) -> tuple[Any, int]:
    """``call()``'s result and the peak of Python allocations (bytes) while it ran: the least of
    ``runs`` calls when it may be repeated, since tracemalloc also counts what other threads (a
    Redis listener of another test's app) and first-time imports allocate meanwhile."""
    peaks = []
    for _ in range(runs):
        tracemalloc.start()
        try:
            result = call()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return result, min(peaks)
