"""How much memory a call takes: the peak of Python allocations while it ran."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any


def peak_memory(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()``'s result and the peak of Python allocations (bytes) while it ran."""
    tracemalloc.start()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak
