"""The demo's ``on_login`` hook: remembers the last logins, for the ``/logins`` page.

Wired in ``development.ini`` (``on_login = login_history:record_login``). The filter calls it at the
callback, after the ID token is validated and before the session is saved; returning None keeps
the claims as they are (a dict would replace them, ``raise auth0_wsgi.LoginRefused("…")`` would
refuse the login). It runs in the login's request: keep it quick. The history lives in this
worker's memory, so under gunicorn each worker shows the logins it served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

log = logging.getLogger(__name__)
KEPT = 20
_recent: deque[dict[str, Any]] = deque(maxlen=KEPT)
_lock = threading.Lock()


def record_login(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]) -> None:
    """``on_login(environ, claims, tokens)``: notes who logged in and when (never a token)."""
    entry = {"sub": claims["sub"], "name": claims.get("name") or claims["sub"], "at": time.time()}
    with _lock:
        _recent.appendleft(entry)
    log.info("login: %s", entry["sub"])


def recent_logins() -> list[dict[str, Any]]:
    """The last logins this worker saw, newest first."""
    with _lock:
        return list(_recent)
