"""An app that asks for other APIs' tokens (Multi-Resource Refresh Token), for the MRRT tests."""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import parse_qs

import webtest

from auth0_wsgi import get_access_token
from auth0_wsgi.errors import AudienceRefused, ProviderUnavailable

BILLING = "https://billing.example.com"
REPORTS = "https://reports.example.com"


def api_app(environ: dict, start_response: Any) -> list[bytes]:
    """``/?audience=…&scope=…``: what get_access_token gives, or the error it raised, as JSON."""
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    body: dict[str, Any] = {}
    status = "200 OK"
    audience: Any = 42 if query.get("audience") == "<a number>" else query.get("audience")
    try:
        body["token"] = get_access_token(environ, audience, query.get("scope"))
    except AudienceRefused as exc:
        status, body = "403 Forbidden", {"error": exc.code, "audience": exc.audience, "message": exc.message}
    except ProviderUnavailable as exc:
        status, body = "503 Service Unavailable", {"error": exc.code, "retry_after": exc.retry_after}
    except (TypeError, ValueError) as exc:
        status, body = "400 Bad Request", {"error": type(exc).__name__, "message": str(exc)}
    body["primary"], body["pid"] = environ.get("auth0.access_token"), os.getpid()
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def app(global_conf: dict[str, Any], **settings: str) -> Any:
    """A ``paste.app_factory`` for :func:`api_app` (``use = call:tests.support.mrrt:app``)."""
    return api_app


def session_cookies(app: webtest.TestApp) -> dict[str, str]:
    """The session cookies (chunks included) a webtest browser holds."""
    return {c.name: c.value for c in app.cookiejar if c.name.startswith("auth0_session")}


def hold(app: webtest.TestApp, cookies: dict[str, str]) -> None:
    """The browser now holds exactly these session cookies: as when it kept one of two responses."""
    for name in list(session_cookies(app)):
        domain = next(c.domain for c in app.cookiejar if c.name == name)
        app.cookiejar.clear(domain=domain, path="/", name=name)
    for name, value in cookies.items():
        app.set_cookie(name, value)
