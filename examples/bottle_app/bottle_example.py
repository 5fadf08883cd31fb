"""The Bottle example: the same pages as the Pyramid one, with Bottle's own templates.

Run behind the auth0 filter (see ``bottle_app.ini``)::

    gunicorn --paste examples/bottle_app/bottle_app.ini --pythonpath examples/bottle_app

The filter logs the user in and keeps the access token fresh. ``Auth0Plugin`` passes ``user`` to
the routes that declare it; ``/messages`` calls the API with ``auth0_wsgi.api_session``, and
``/billing`` a second API with ``api_session(..., audience=...)`` (the ini's
``additional_audiences``); ``/admin`` is a ``step_up`` path: the filter asks for MFA first. Bottle's
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
DEFAULT_BILLING_API_URL = "http://127.0.0.1:8003"

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
<p>The <a href="/billing">billing</a> page calls a second API with the same login; the
<a href="/admin">admin</a> page asks for a second factor (MFA) first.</p>
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

BILLING = """<p>The billing API <code class="api-audience">{{audience}}</code> at {{url}} answered for
<code class="api-sub">{{data.get("sub")}}</code>, with a token of its own for the same login, with the
scopes <code class="api-scopes">{{" ".join(data.get("scopes", []))}}</code>.</p>"""

ADMIN = """% if "mfa" in amr:
<p>You signed in with a second factor (MFA): amr <code class="amr">{{" ".join(amr)}}</code>.</p>
% else:
<p class="error">The provider reports no second factor:
amr <code class="amr">{{" ".join(amr) or "none"}}</code>.</p>
% end
<p>Authentication context (<code>acr</code>): <code class="acr">{{acr}}</code></p>"""

API_ERROR = """<p class="error">{{problem}}</p>"""


def app_factory(global_conf: dict[str, Any], **settings: str) -> bottle.Bottle:
    """``paste.app_factory``: ``[app:bottle_example] use = call:bottle_example:app_factory``."""
    app = bottle.Bottle()
    api_url = os.environ.get("API_URL") or settings.get("api_url") or DEFAULT_API_URL
    app.config["api_url"] = api_url.rstrip("/")
    billing_url = os.environ.get("BILLING_API_URL") or settings.get("billing_api_url")
    app.config["billing_api_url"] = (billing_url or DEFAULT_BILLING_API_URL).rstrip("/")
    app.config["billing_audience"] = settings.get("billing_audience", "")  # empty: no second API
    app.install(Auth0Plugin())
    app.route("/", callback=home)
    app.route("/profile", callback=profile)
    app.route("/messages", callback=messages)
    app.route("/billing", callback=billing)
    app.route("/admin", callback=admin)
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


def billing(user: dict[str, Any] | None) -> str:
    """Calls ``GET {billing_api_url}/messages`` on the second API, with an access token for it that
    the filter gets from the login's refresh token (``additional_audiences``)."""
    audience = bottle.request.app.config["billing_audience"]
    if not audience:
        return page("Billing", bottle.template(API_ERROR, problem="No billing API is configured: set "
                                               "billing_audience (see bottle_app.ini)."), user)
    url = bottle.request.app.config["billing_api_url"] + "/messages"
    try:
        with auth0_wsgi.api_session(bottle.request.environ, audience=audience) as api:
            answer = api.get(url, timeout=5)
    except auth0_wsgi.AudienceRefused as error:
        # the session goes on: only this API is out of reach (not listed, or the provider said no)
        log.warning("no access token for %s: %s", audience, error.code)
        not_listed = error.code == "audience_not_allowed"
        why = ("this application does not list it in additional_audiences" if not_listed
               else "the sign-in service refused an access token for it")
        bottle.response.status = 403
        return page("Billing", bottle.template(API_ERROR, problem=f"The billing API ({audience}) is not "
                                               f"available to you here: {why}. The rest of the site works "
                                               "as before."), user)
    except requests.RequestException as error:
        log.warning("the billing API at %s is unreachable: %s", url, type(error).__name__)
        return _api_error(f"The API at {url} is unreachable.", user, "Billing")
    try:
        data = answer.json() if answer.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        problem = f"The billing API answered {answer.status_code}: {answer.text[:300]}"
        return _api_error(problem, user, "Billing")
    return page("Billing", bottle.template(BILLING, audience=audience, url=url, data=data), user)


def admin(user: dict[str, Any] | None) -> str:
    """A ``step_up`` path: the filter lets only a login with MFA reach it (the ID token's ``acr``);
    ``amr`` says how the user signed in."""
    user = user or {}
    amr = [str(method) for method in user.get("amr") or []]
    return page("Admin", bottle.template(ADMIN, amr=amr, acr=user.get("acr", "")), user)


def health() -> str:
    bottle.response.content_type = "text/plain"
    return "ok\n"


def _api_error(problem: str, user: dict[str, Any] | None, title: str = "Messages") -> str:
    bottle.response.status = 502
    return page(title, bottle.template(API_ERROR, problem=problem), user)


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
