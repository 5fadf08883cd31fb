"""The app's own code at login, logout and refresh: ``on_login``, ``on_logout``, ``on_refresh``.

Hooks run in the request that triggers them, so they hold it up: each should finish well within
:data:`BUDGET_SECONDS` (a slower one is logged as a warning, with its name). ``on_logout`` and
``on_refresh`` are told after the event: whatever they raise is logged, never breaks the request.
``on_login`` decides: it may refuse the login (``LoginRefused``) or choose the session's claims;
anything else it raises, or returns, that we cannot use refuses the login with a generic message
(the log names the hook and the exception's type and place, never its message: it may quote claims).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cache import BoundedCache
from .errors import Auth0WSGIError, LoginRefused
from .logs import get_logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .config import Config
    from .session import Session

log = get_logger(__name__)

BUDGET_SECONDS = 1.0
# The claims on_login chooses, as JSON: an Auth0 ID token's are 1-2 KB. Past this they, the tokens and
# the sealing's overhead outgrow the cookie store's five cookies: the session would not be saved,
# and the page would send the browser round the provider's login again, and again.
MAX_CLAIMS_BYTES = 8 * 1024
# Access tokens (hashed) whose refresh on_refresh was told of: requests that arrive together share
# one refresh's result, and the hook hears of it once per process.
_told: BoundedCache[str, bool] = BoundedCache(1024)
_told_lock = threading.Lock()


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
    except Exception as exc:  # the app's code: its message may quote claims or tokens: type and place only
        log.error("%s hook %s raised %s at %s; the request goes on", event, name_of(hook),
                  type(exc).__name__, _where(exc))
    finally:
        warn_if_slow(hook, event, time.monotonic() - started)


def warn_if_slow(hook: Callable[..., Any], event: str, seconds: float) -> None:
    if seconds > BUDGET_SECONDS:
        log.warning("%s hook %s took %.1f s (budget %.1f s): it holds up the request that triggers it",
                    event, name_of(hook), seconds, BUDGET_SECONDS)


def run_login_hook(hook: Callable[..., Any] | None, environ: WSGIEnvironment, claims: dict[str, Any],
                   tokens: dict[str, Any]) -> dict[str, Any] | None:
    """``on_login(environ, claims, tokens)`` on copies; returns the claims it chose, or None (keep
    ``claims``). Raises its :class:`LoginRefused`, or a generic ``login_hook_failed`` for anything else."""
    if hook is None:
        return None
    started = time.monotonic()
    try:
        returned = hook(environ, copy.deepcopy(claims), dict(tokens))
    except LoginRefused:
        log.info("on_login hook %s refused the login", name_of(hook))
        raise
    except Exception as exc:  # the app's code: its message may quote claims, so the type and place only
        log.error("on_login hook %s raised %s at %s; the login is refused", name_of(hook),
                  type(exc).__name__, _where(exc))
        raise _failed(hook) from None
    finally:
        warn_if_slow(hook, "on_login", time.monotonic() - started)
    if returned is None:
        return None
    problem = _unusable(returned, claims)
    if problem:
        log.error("on_login hook %s returned %s; the login is refused", name_of(hook), problem)
        raise _failed(hook)
    chosen: dict[str, Any] = json.loads(json.dumps(returned))  # our own copy, of JSON values only
    return chosen


def _unusable(returned: object, claims: dict[str, Any]) -> str:
    """Why the hook's answer cannot be the session's claims ('' when it can)."""
    if not isinstance(returned, dict):
        return f"a {type(returned).__name__}, not a dict of claims"
    if returned.get("sub") != claims.get("sub"):
        return "claims of another sub (or none)"
    if not all(isinstance(name, str) for name in returned):
        return "a claim name that is not a string"
    try:
        size = len(json.dumps(returned, allow_nan=False, separators=(",", ":")).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        return f"claims that are not JSON values ({type(exc).__name__})"
    if size > MAX_CLAIMS_BYTES:
        return f"{size} bytes of claims (at most {MAX_CLAIMS_BYTES}: the session could not be kept)"
    return ""


def _failed(hook: Callable[..., Any]) -> Auth0WSGIError:
    return Auth0WSGIError(f"the on_login hook {name_of(hook)} failed (see the log)", code="login_hook_failed")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def refreshed(config: Config, environ: WSGIEnvironment, session: Session) -> None:
    """``on_refresh(environ, claims, tokens)`` after a refresh (once per refresh in this process), with
    ``tokens`` the new ``access_token``, its ``expires_at`` and, when configured, its ``audience``."""
    if config.on_refresh is None or not session.access_token:
        return
    key = hashlib.sha256(session.access_token.encode()).hexdigest()
    with _told_lock:
        if _told.get(key):
            return
        _told.put(key, True)
    tokens: dict[str, Any] = {"access_token": session.access_token, "expires_at": session.expires_at}
    if config.audience:
        tokens["audience"] = config.audience
    notify(config.on_refresh, "on_refresh", environ, copy.deepcopy(session.user), tokens)
