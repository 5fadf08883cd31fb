"""A tiny JSON API behind the auth0-wsgi resource-server filter (``api.ini``).

Plain WSGI on purpose: the filter does the authentication, the views read ``auth0.claims`` and
guard their own scopes with :func:`auth0_wsgi.resource_server.requires_scopes`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from auth0_wsgi.resource_server import get_claims, requires_scopes

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MESSAGES = [
    {"id": 1, "text": "Hello from the example API."},
    {"id": 2, "text": "Only tokens with read:messages can read this."},
]


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store")])
    return [data]


def health(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return _json(start_response, "200 OK", {"status": "ok"})


@requires_scopes("read:messages")
def messages(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    claims = get_claims(environ) or {}
    scopes = sorted(set(claims.get("scope", "").split()) | set(claims.get("permissions", [])))
    return _json(start_response, "200 OK", {"messages": MESSAGES, "sub": claims.get("sub"), "scopes": scopes})


def whoami(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    claims = get_claims(environ) or {}
    return _json(start_response, "200 OK",
                 {"sub": claims.get("sub"), "aud": claims.get("aud"), "scope": claims.get("scope")})


ROUTES: dict[str, WSGIApp] = {"/health": health, "/messages": messages, "/whoami": whoami}


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    view = ROUTES.get(environ.get("PATH_INFO") or "/")
    if view is None:
        return _json(start_response, "404 Not Found", {"error": "not_found"})
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
        return [b""]
    return view(environ, start_response)


def app_factory(global_conf: dict[str, Any], **settings: str) -> WSGIApp:
    """``paste.app_factory``: ``[app:api] use = call:example_api:app_factory``."""
    return application
