"""A tiny JSON API behind the auth0-wsgi resource-server filter (``api.ini``).

Plain WSGI on purpose: the filter does the authentication, the views read ``auth0.claims`` and
guard their own scopes with :func:`auth0_wsgi.resource_server.requires_scopes`. ``GET /messages``
needs ``read:messages``, or the scope in ``API_MESSAGES_SCOPE`` (``messages_scope`` in the ini): the
demo runs this API a second time as its "billing" API, whose tokens carry ``read:invoices``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

from auth0_wsgi.resource_server import get_claims, requires_scopes

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MESSAGES = [
    {"id": 1, "text": "Hello from the example API."},
    {"id": 2, "text": "Only tokens with read:messages can read this."},
]
DEFAULT_MESSAGES_SCOPE = "read:messages"


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


def health(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return _json(start_response, "200 OK", {"status": "ok"})


def messages(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    claims = get_claims(environ) or {}
    scopes = sorted(set(claims.get("scope", "").split()) | set(claims.get("permissions", [])))
    return _json(start_response, "200 OK", {"messages": MESSAGES, "sub": claims.get("sub"), "scopes": scopes})


def whoami(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    claims = get_claims(environ) or {}
    return _json(start_response, "200 OK",
                 {"sub": claims.get("sub"), "aud": claims.get("aud"), "scope": claims.get("scope")})


def make_application(messages_scope: str = DEFAULT_MESSAGES_SCOPE) -> WSGIApp:
    """The API, whose ``GET /messages`` needs ``messages_scope``."""
    routes: dict[str, WSGIApp] = {"/health": health, "/messages": requires_scopes(messages_scope)(messages),
                                  "/whoami": whoami}

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        view = routes.get(environ.get("PATH_INFO") or "/")
        if view is None:
            return _json(start_response, "404 Not Found", {"error": "not_found"})
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        return view(environ, start_response)

    return application


application = make_application()


def app_factory(global_conf: dict[str, Any], **settings: str) -> WSGIApp:
    """``paste.app_factory``: ``[app:api] use = call:example_api:app_factory``; the environment's
    ``API_MESSAGES_SCOPE`` wins over the ini's ``messages_scope``."""
    scope = os.environ.get("API_MESSAGES_SCOPE") or settings.get("messages_scope") or DEFAULT_MESSAGES_SCOPE
    return make_application(scope)
