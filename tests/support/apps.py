"""Tiny WSGI apps for the tests, loadable from ini files (``use = call:tests.support.apps:echo``)."""

from __future__ import annotations

import json
import os
from typing import Any


def echo_app(environ: dict, start_response: Any) -> list[bytes]:
    """Shows what the middleware gave the app (and which worker answered), as JSON."""
    seen = {k: environ[k] for k in ("auth0.user", "auth0.access_token", "auth0.id_token", "REMOTE_USER")
            if k in environ}
    seen["path"] = environ.get("PATH_INFO")
    seen["pid"] = os.getpid()
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def echo(global_conf: dict[str, Any], **settings: str) -> Any:
    """A ``paste.app_factory`` for :func:`echo_app`."""
    return echo_app


def marking_app(environ: dict, start_response: Any) -> list[bytes]:
    """The echo app, noting in the environ that it ran (so a test knows the app was reached)."""
    environ["tests.app_called"] = True
    return echo_app(environ, start_response)
