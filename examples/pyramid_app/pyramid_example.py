"""The Pyramid example: a home page, the user's profile, and messages read from the example API.

Run behind the auth0 filter (see ``development.ini``)::

    gunicorn --paste examples/pyramid_app/development.ini --pythonpath examples/pyramid_app

The filter logs the user in and keeps the access token fresh; the views only read
``request.auth0_user`` and call the API with ``request.auth0_api`` (``config.include`` below).
Pages are plain f-strings: every value that comes from a token or the API goes through ``e()``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from html import escape
from typing import Any

import requests
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router

log = logging.getLogger(__name__)
DEFAULT_API_URL = "http://127.0.0.1:8001"
STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
nav{border-bottom:1px solid #ddd;padding-bottom:.5rem}nav a{margin-right:1rem}
.avatar{border-radius:50%;vertical-align:middle;margin-right:1rem}
.token{margin-top:2rem;color:#666;font-size:.9rem}.error{color:#a00}"""


def main(global_config: dict[str, Any], **settings: str) -> Router:
    """``paste.app_factory``: ``[app:pyramid_example] use = call:pyramid_example:main``."""
    api_url = os.environ.get("API_URL") or settings.get("api_url") or DEFAULT_API_URL
    settings["api_url"] = api_url.rstrip("/")
    with Configurator(settings=settings) as config:
        config.include("auth0_wsgi.pyramid")
        for name, path, view in (("home", "/", home), ("profile", "/profile", profile),
                                 ("messages", "/messages", messages), ("health", "/health", health)):
            config.add_route(name, path)
            config.add_view(view, route_name=name)
    return config.make_wsgi_app()


def home(request: Request) -> Response:
    user = request.auth0_user
    if user is None:
        body = '<p>You are not logged in.</p><p><a href="/login?return_to=/profile">Log in</a></p>'
    else:
        body = (f"<p>Hello, {e(user.get('name') or user['sub'])}.</p>"
                '<p>See your <a href="/profile">profile</a> or the <a href="/messages">messages</a> '
                "that the API returns for you.</p>")
    return page(request, "auth0-wsgi Pyramid example", body)


def profile(request: Request) -> Response:
    user = request.auth0_user or {}
    picture = user.get("picture", "")
    avatar = (f'<img class="avatar" src="{e(picture)}" alt="" width="64" height="64">'
              if picture.startswith(("https://", "data:image/")) else "")
    body = (f'<p>{avatar}<strong class="name">{e(user.get("name", ""))}</strong></p>'
            f'<dl><dt>Email</dt><dd class="email">{e(user.get("email", ""))}</dd>'
            f'<dt>User id (sub)</dt><dd class="sub">{e(user.get("sub", ""))}</dd></dl>')
    return page(request, "Profile", body)


def messages(request: Request) -> Response:
    """Calls ``GET {api_url}/messages`` with the user's access token (refreshed by the filter)."""
    url = request.registry.settings["api_url"] + "/messages"
    try:
        answer = request.auth0_api.get(url, timeout=5)
    except requests.RequestException as error:
        log.warning("the API at %s is unreachable: %s", url, type(error).__name__)
        return page(request, "Messages", f'<p class="error">The API at {e(url)} is unreachable.</p>', 502)
    try:
        data = answer.json() if answer.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return page(request, "Messages", f'<p class="error">The API answered {answer.status_code}: '
                    f"{e(answer.text[:300])}</p>", 502)
    items = "".join(f'<li class="message" data-id="{e(m.get("id"))}">{e(m.get("text"))}</li>'
                    for m in data.get("messages", []))
    body = (f"<p>The API at {e(url)} answered for <code class=\"api-sub\">{e(data.get('sub'))}</code> "
            f"with the scopes <code class=\"api-scopes\">{e(' '.join(data.get('scopes', [])))}</code>:</p>"
            f"<ul>{items}</ul>")
    return page(request, "Messages", body)


def health(request: Request) -> Response:
    return Response("ok\n", content_type="text/plain")


def page(request: Request, title: str, body: str, status: int = 200) -> Response:
    """The layout around ``body`` (already escaped HTML)."""
    if request.auth0_user is None:
        links = '<a href="/">Home</a><a href="/login?return_to=/profile">Log in</a>'
    else:
        links = ('<a href="/">Home</a><a href="/profile">Profile</a><a href="/messages">Messages</a>'
                 '<a href="/logout">Log out</a>')
    html = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
            f"</head><body><nav>{links}</nav><h1>{e(title)}</h1>{body}"
            f"{token_status(request.auth0_access_token)}</body></html>")
    response = Response(html, status=status, content_type="text/html", charset="utf-8")
    response.cache_control = "no-store"  # pages show personal data
    return response


def token_status(token: str | None) -> str:
    """A footer that lets you watch refreshes: a fingerprint of the token (never the token) and
    its remaining lifetime, read from the JWT's ``exp`` for display only (the API verifies it)."""
    if not token:
        return ""
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:8]
    expires = _unverified_exp(token)
    left = f"expires in {int(expires - time.time())} s" if expires else "lifetime unknown"
    return (f'<p class="token">Access token <code class="fingerprint">{fingerprint}</code>, {left}; '
            "auth0-wsgi refreshes it before it expires.</p>")


def _unverified_exp(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None  # not a JWT (an opaque token): fine, only the display needs it


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)
