"""The Pyramid example: a home page, the user's profile, and messages read from the example API.

Run behind the auth0 filter (see ``development.ini``)::

    gunicorn --paste examples/pyramid_app/development.ini --pythonpath examples/pyramid_app

The filter logs the user in and keeps the access token fresh; the views only read
``request.auth0_user`` and call the API with ``request.auth0_api`` (``config.include`` below).
``/billing`` calls a second API with ``auth0_wsgi.api_session(request, audience=...)`` (the ini's
``additional_audiences``); ``/admin`` is a ``step_up`` path: the filter asks for MFA before it runs.
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

import login_history  # next to this module (gunicorn's --pythonpath): the on_login hook
import requests
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router

import auth0_wsgi

log = logging.getLogger(__name__)
DEFAULT_API_URL = "http://127.0.0.1:8001"
DEFAULT_BILLING_API_URL = "http://127.0.0.1:8003"
STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
nav{border-bottom:1px solid #ddd;padding-bottom:.5rem}nav a{margin-right:1rem}
.avatar{border-radius:50%;vertical-align:middle;margin-right:1rem}
.token{margin-top:2rem;color:#666;font-size:.9rem}.error{color:#a00}"""


def main(global_config: dict[str, Any], **settings: str) -> Router:
    """``paste.app_factory``: ``[app:pyramid_example] use = call:pyramid_example:main``."""
    api_url = os.environ.get("API_URL") or settings.get("api_url") or DEFAULT_API_URL
    settings["api_url"] = api_url.rstrip("/")
    billing_url = os.environ.get("BILLING_API_URL") or settings.get("billing_api_url")
    settings["billing_api_url"] = (billing_url or DEFAULT_BILLING_API_URL).rstrip("/")
    settings.setdefault("billing_audience", "")  # empty: no second API configured
    with Configurator(settings=settings) as config:
        config.include("auth0_wsgi.pyramid")
        for name, path, view in (("home", "/", home), ("profile", "/profile", profile),
                                 ("messages", "/messages", messages), ("health", "/health", health),
                                 ("logins", "/logins", logins), ("billing", "/billing", billing),
                                 ("admin", "/admin", admin)):
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
                "that the API returns for you.</p>"
                '<p>The <a href="/billing">billing</a> page calls a second API with the same login; the '
                '<a href="/admin">admin</a> page asks for a second factor (MFA) first.</p>')
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


def logins(request: Request) -> Response:
    """The last logins, as ``login_history.record_login`` (the ``on_login`` hook) noted them."""
    items = "".join(f'<li class="login">{e(entry["name"])} <small>({e(entry["sub"])}), '
                    f'{e(time.strftime("%H:%M:%S", time.localtime(entry["at"])))}</small></li>'
                    for entry in login_history.recent_logins())
    body = ("<p>The last logins this worker served, recorded by the <code>on_login</code> hook "
            f"(<code>login_history.py</code>):</p><ul>{items or '<li>none yet</li>'}</ul>")
    return page(request, "Recent logins", body)


def billing(request: Request) -> Response:
    """Calls ``GET {billing_api_url}/messages`` on the second API, with an access token for it that
    the filter gets from the login's refresh token (``additional_audiences``)."""
    audience = request.registry.settings["billing_audience"]
    if not audience:
        return page(request, "Billing", '<p class="error">No billing API is configured: set '
                    "<code>billing_audience</code> (see <code>development.ini</code>).</p>")
    url = request.registry.settings["billing_api_url"] + "/messages"
    try:
        with auth0_wsgi.api_session(request, audience=audience) as api:
            answer = api.get(url, timeout=5)
    except auth0_wsgi.AudienceRefused as error:
        # the session goes on: only this API is out of reach (not listed, or the provider said no)
        log.warning("no access token for %s: %s", audience, error.code)
        not_listed = error.code == "audience_not_allowed"
        why = ("this application does not list it in additional_audiences" if not_listed
               else "the sign-in service refused an access token for it")
        return page(request, "Billing", f'<p class="error">The billing API (<code>{e(audience)}</code>) is '
                    f"not available to you here: {e(why)}. The rest of the site works as before.</p>", 403)
    except requests.RequestException as error:
        log.warning("the billing API at %s is unreachable: %s", url, type(error).__name__)
        return page(request, "Billing", f'<p class="error">The API at {e(url)} is unreachable.</p>', 502)
    try:
        data = answer.json() if answer.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return page(request, "Billing", f'<p class="error">The billing API answered {answer.status_code}: '
                    f"{e(answer.text[:300])}</p>", 502)
    # what the billing API read from its own token: the same user, the billing API's scopes
    scopes = " ".join(data.get("scopes", []))
    body = (f"<p>The billing API <code class=\"api-audience\">{e(audience)}</code> at {e(url)} answered for "
            f"<code class=\"api-sub\">{e(data.get('sub'))}</code>, with a token of its own for the same "
            f"login, with the scopes <code class=\"api-scopes\">{e(scopes)}</code>.</p>")
    return page(request, "Billing", body)


def admin(request: Request) -> Response:
    """A ``step_up`` path: the filter lets only a login with MFA reach it (the ID token's ``acr``);
    ``amr`` says how the user signed in."""
    user = request.auth0_user or {}
    amr = [str(method) for method in user.get("amr") or []]
    methods = f'<code class="amr">{e(" ".join(amr) or "none")}</code>'
    if "mfa" in amr:
        passed = f"<p>You signed in with a second factor (MFA): amr {methods}.</p>"
    else:
        passed = f'<p class="error">The provider reports no second factor: amr {methods}.</p>'
    body = (f"{passed}<p>Authentication context (<code>acr</code>): "
            f'<code class="acr">{e(user.get("acr", ""))}</code></p>')
    return page(request, "Admin", body)


def health(request: Request) -> Response:
    return Response("ok\n", content_type="text/plain")


def page(request: Request, title: str, body: str, status: int = 200) -> Response:
    """The layout around ``body`` (already escaped HTML)."""
    if request.auth0_user is None:
        links = '<a href="/">Home</a><a href="/login?return_to=/profile">Log in</a>'
    else:
        links = ('<a href="/">Home</a><a href="/profile">Profile</a><a href="/messages">Messages</a>'
                 '<a href="/logins">Logins</a><a href="/logout">Log out</a>')
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
