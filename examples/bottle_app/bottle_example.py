"""The Bottle example: the same pages as the Pyramid one, with Bottle's own templates.

Run behind the auth0 filter (see ``bottle_app.ini``)::

    gunicorn --paste examples/bottle_app/bottle_app.ini --pythonpath examples/bottle_app

The filter logs the user in and keeps the access token fresh. ``Auth0Plugin`` passes ``user`` to
the routes that declare it; ``/messages`` calls the API with ``auth0_wsgi.api_session``. Bottle's
``{{ }}`` escapes every value (``{{! }}`` is used only for HTML built here).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from typing import Any

import bottle
import requests

import auth0_wsgi
from auth0_wsgi.bottle import Auth0Plugin, current_access_token

log = logging.getLogger(__name__)
DEFAULT_API_URL = "http://127.0.0.1:8001"

LAYOUT = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{{title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
nav{border-bottom:1px solid #ddd;padding-bottom:.5rem}nav a{margin-right:1rem}
.avatar{border-radius:50%;vertical-align:middle;margin-right:1rem}
.token{margin-top:2rem;color:#666;font-size:.9rem}.error{color:#a00}</style></head><body>
<nav><a href="/">Home</a>
% if logged_in:
<a href="/profile">Profile</a><a href="/messages">Messages</a><a href="/logout">Log out</a>
% else:
<a href="/login?return_to=/profile">Log in</a>
% end
</nav><h1>{{title}}</h1>{{!body}}
% if token:
<p class="token">Access token <code class="fingerprint">{{token["fingerprint"]}}</code>,
{{token["left"]}}; auth0-wsgi refreshes it before it expires.</p>
% end
</body></html>"""

HOME = """% if user:
<p>Hello, {{user.get("name") or user["sub"]}}.</p>
<p>See your <a href="/profile">profile</a> or the <a href="/messages">messages</a>
that the API returns for you.</p>
% else:
<p>You are not logged in.</p><p><a href="/login?return_to=/profile">Log in</a></p>
% end"""

PROFILE = """<p>
% if picture:
<img class="avatar" src="{{picture}}" alt="" width="64" height="64">
% end
<strong class="name">{{user.get("name", "")}}</strong></p>
<dl><dt>Email</dt><dd class="email">{{user.get("email", "")}}</dd>
<dt>User id (sub)</dt><dd class="sub">{{user.get("sub", "")}}</dd></dl>"""

MESSAGES = """<p>The API at {{url}} answered for <code class="api-sub">{{data.get("sub")}}</code>
with the scopes <code class="api-scopes">{{" ".join(data.get("scopes", []))}}</code>:</p>
<ul>
% for message in data.get("messages", []):
<li class="message" data-id="{{message.get("id")}}">{{message.get("text")}}</li>
% end
</ul>"""

API_ERROR = """<p class="error">{{problem}}</p>"""


def app_factory(global_conf: dict[str, Any], **settings: str) -> bottle.Bottle:
    """``paste.app_factory``: ``[app:bottle_example] use = call:bottle_example:app_factory``."""
    app = bottle.Bottle()
    api_url = os.environ.get("API_URL") or settings.get("api_url") or DEFAULT_API_URL
    app.config["api_url"] = api_url.rstrip("/")
    app.install(Auth0Plugin())
    app.route("/", callback=home)
    app.route("/profile", callback=profile)
    app.route("/messages", callback=messages)
    app.route("/health", callback=health)
    return app


def home(user: dict[str, Any] | None) -> str:
    return page("auth0-wsgi Bottle example", bottle.template(HOME, user=user), user)


def profile(user: dict[str, Any] | None) -> str:
    user = user or {}
    picture = user.get("picture", "")
    picture = picture if picture.startswith(("https://", "data:image/")) else ""
    return page("Profile", bottle.template(PROFILE, user=user, picture=picture), user)


def messages(user: dict[str, Any] | None) -> str:
    """Calls ``GET {api_url}/messages`` with the user's access token (refreshed by the filter)."""
    url = bottle.request.app.config["api_url"] + "/messages"
    try:
        with auth0_wsgi.api_session(bottle.request.environ) as api:
            answer = api.get(url, timeout=5)
    except requests.RequestException as error:
        log.warning("the API at %s is unreachable: %s", url, type(error).__name__)
        return _api_error(f"The API at {url} is unreachable.", user)
    try:
        data = answer.json() if answer.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _api_error(f"The API answered {answer.status_code}: {answer.text[:300]}", user)
    return page("Messages", bottle.template(MESSAGES, url=url, data=data), user)


def health() -> str:
    bottle.response.content_type = "text/plain"
    return "ok\n"


def _api_error(problem: str, user: dict[str, Any] | None) -> str:
    bottle.response.status = 502
    return page("Messages", bottle.template(API_ERROR, problem=problem), user)


def page(title: str, body: str, user: dict[str, Any] | None) -> str:
    """The layout around ``body`` (rendered, hence escaped, by a template above)."""
    bottle.response.set_header("Cache-Control", "no-store")  # pages show personal data
    return bottle.template(LAYOUT, title=title, body=body, logged_in=user is not None,
                           token=token_status(current_access_token()))


def token_status(token: str | None) -> dict[str, str] | None:
    """What the footer shows to let you watch refreshes: a fingerprint of the token (never the
    token) and its remaining lifetime, read from the JWT's ``exp`` for display only."""
    if not token:
        return None
    expires = _unverified_exp(token)
    return {"fingerprint": hashlib.sha256(token.encode()).hexdigest()[:8],
            "left": f"expires in {int(expires - time.time())} s" if expires else "lifetime unknown"}


def _unverified_exp(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None  # not a JWT (an opaque token): fine, only the display needs it
