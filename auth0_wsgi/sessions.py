"""Ending every session of a user from the operator's code (after a password change, a lost
device): what ``GET {logout_path}?everywhere=1`` does, without a request."""

from __future__ import annotations

from typing import Any

from .logs import get_logger
from .middleware import Auth0Middleware

log = get_logger(__name__)

_WRAPPED = ("app", "application", "wsgi_app")  # where WSGI wrappers keep the app they wrap
_MAX_DEPTH = 5


def end_sessions(app_or_middleware: Any, sub: str) -> int | None:
    """Ends every session of the user ``sub`` on every device, in every process the session store
    (or revocation list) spans.

    :param app_or_middleware: the :class:`Auth0Middleware`, or an app that wraps it (found through
        ``.app``, ``.application`` or ``.wsgi_app``, up to five levels: a Flask app, a Django
        handler wrapped by ours, another middleware).
    :param sub: the user's ``sub`` claim (``auth0|64f…``).
    :returns: with a server-side store (``memory``, ``redis://…``), how many sessions it deleted
        (their cookies are refused from the next request on); with the cookie store, None: sessions
        live in browsers and cannot be counted. The ``sub`` goes into the revocation list, and a
        cookie session created before now is refused by every worker within the list's delay
        (``revocation_store``: at the next request of each worker for ``file``, within 5 s for Redis).
    :raises TypeError: when no :class:`Auth0Middleware` is found, or ``sub`` is not a string.
    :raises ValueError: when ``sub`` is empty.
    :raises StoreUnavailable: when Redis holds the sessions (or the list) and cannot be reached.

    The refresh tokens of those sessions are not revoked at the provider (we no longer hold them
    once their records are gone); revoke them there too if they must stop working before they expire.
    """
    if not isinstance(sub, str):
        raise TypeError(f"end_sessions: sub must be the user's sub claim (a str), not {type(sub).__name__}")
    if not sub:
        raise ValueError("end_sessions: sub is empty")
    middleware = find_middleware(app_or_middleware)
    ended = middleware.collaborators.logouts.revoke(sid=None, sub=sub, at=int(middleware.clock()))
    cookie_store = middleware.config.session_store == "cookie"
    log.info("end_sessions: every session of a user ended (%s)",
             "listed for the cookie store" if cookie_store else f"{ended} server-side records")
    return None if cookie_store else ended


def find_middleware(app: Any) -> Auth0Middleware:
    """``app`` itself when it is an :class:`Auth0Middleware`, else the one it wraps."""
    seen = app
    for _ in range(_MAX_DEPTH + 1):
        if isinstance(seen, Auth0Middleware):
            return seen
        seen = next((getattr(seen, name) for name in _WRAPPED if getattr(seen, name, None) is not None),
                    None)
        if seen is None:
            break
    raise TypeError(f"end_sessions: no Auth0Middleware found in {type(app).__name__} (looked at .app, "
                    f".application and .wsgi_app, {_MAX_DEPTH} levels deep): pass the Auth0Middleware "
                    "or the app that wraps it")
