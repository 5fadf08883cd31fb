"""The app's own code at login, logout and refresh: ``on_login``, ``on_logout``, ``on_refresh``.

Hooks run in the request that triggers them, so they hold it up: each should finish well within
:data:`BUDGET_SECONDS` (a slower one is logged as a warning, with its name). ``on_logout`` and
``on_refresh`` are told after the event: whatever they raise is logged, never breaks the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .logs import get_logger

log = get_logger(__name__)

BUDGET_SECONDS = 1.0


def name_of(hook: Callable[..., Any]) -> str:
    """``module:function`` for the log (never the arguments: they hold tokens)."""
    return f"{getattr(hook, '__module__', '?')}:{getattr(hook, '__qualname__', type(hook).__name__)}"


def notify(hook: Callable[..., Any] | None, event: str, *args: Any) -> None:
    """Call an after-the-event hook (``event``: its option's name); an exception is logged, never raised."""
    if hook is None:
        return
    started = time.monotonic()
    try:
        hook(*args)
    except Exception as exc:  # the app's code: the request goes on whatever it does
        log.error("%s hook %s raised %s; the request goes on", event, name_of(hook), type(exc).__name__,
                  exc_info=exc)
    finally:
        warn_if_slow(hook, event, time.monotonic() - started)


def warn_if_slow(hook: Callable[..., Any], event: str, seconds: float) -> None:
    if seconds > BUDGET_SECONDS:
        log.warning("%s hook %s took %.1f s (budget %.1f s): it holds up the request that triggers it",
                    event, name_of(hook), seconds, BUDGET_SECONDS)
