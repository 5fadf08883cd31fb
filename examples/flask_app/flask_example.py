"""The Flask example: the same pages as the Pyramid one, with Flask's own (Jinja) templates.

Two ways to put the auth0 filter in front of it; either way its settings (provider, client,
secrets, base URL, audience) come from the ``AUTH0_*`` environment variables:

* In Python, :func:`create_app` wraps ``app.wsgi_app``, so ``flask run`` works as usual::

      flask --app examples/flask_app/flask_example run --port 8000

  Wrap ``app.wsgi_app``, not ``app``: ``app = Auth0Middleware(app)`` would leave ``flask run``,
  ``app.test_client()`` and every extension holding something that is not a Flask app.
* In a PasteDeploy ini (``flask_app.ini``), like the other examples: :func:`app_factory` returns the
  bare app and the ini's pipeline puts the filter in front of it::

      gunicorn --paste examples/flask_app/flask_app.ini --pythonpath examples/flask_app

Views pass Flask's ``request`` itself to ``auth0_wsgi.get_user`` and ``auth0_wsgi.api_session``
(they read ``request.environ``, where the filter put the user). Jinja escapes every value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from typing import Any

import requests
from flask import Flask, Response, current_app, render_template, request

import auth0_wsgi
from auth0_wsgi.environ import filtered_environ

log = logging.getLogger(__name__)
DEFAULT_API_URL = "http://127.0.0.1:8001"
# The filter's options that this app needs; the others come from AUTH0_* in the environment.
AUTH0_OPTIONS = {
    # read:messages is the scope the example API asks for on GET /messages
    "scope": "openid profile email offline_access read:messages",
    # "/" is the home page only (a path prefix covers whole segments; "/" covers just the root)
    "public_paths": "/ /health",
}


def create_app(api_url: str | None = None) -> Flask:
    """The app with the auth0 filter inside it: what ``flask run`` finds in this module."""
    app = build_app(api_url)
    app.wsgi_app = auth0_wsgi.Auth0Middleware(app.wsgi_app, **AUTH0_OPTIONS)  # type: ignore[method-assign]
    return app


def app_factory(global_conf: dict[str, Any], **settings: str) -> Flask:
    """``paste.app_factory``: ``[app:flask_example] use = call:flask_example:app_factory``."""
    return build_app(settings.get("api_url"))


def build_app(api_url: str | None = None) -> Flask:
    """The bare Flask app, without the filter."""
    app = Flask(__name__)
    app.config["API_URL"] = (os.environ.get("API_URL") or api_url or DEFAULT_API_URL).rstrip("/")
    app.before_request(require_the_filter)
    app.context_processor(auth0_context)
    app.after_request(no_store)
    app.add_url_rule("/", view_func=home)
    app.add_url_rule("/profile", view_func=profile)
    app.add_url_rule("/messages", view_func=messages)
    app.add_url_rule("/health", view_func=health)
    return app


def require_the_filter() -> None:
    """A forgotten filter raises ``RuntimeError`` naming the fix, rather than serving every page to
    an anonymous user as if nobody had to log in."""
    filtered_environ(request)


def auth0_context() -> dict[str, Any]:
    """What every template sees: the ID token's claims (None when anonymous) and the token footer."""
    return {"user": auth0_wsgi.get_user(request),
            "token": token_status(auth0_wsgi.get_access_token(request))}


def no_store(response: Response) -> Response:
    response.cache_control.no_store = True  # pages show personal data
    return response


def home() -> str:
    return render_template("home.html", title="auth0-wsgi Flask example")


def profile() -> str:
    picture = (auth0_wsgi.get_user(request) or {}).get("picture", "")
    picture = picture if picture.startswith(("https://", "data:image/")) else ""
    return render_template("profile.html", title="Profile", picture=picture)


def messages() -> str | tuple[str, int]:
    """Calls ``GET {API_URL}/messages`` with the user's access token (refreshed by the filter)."""
    url = current_app.config["API_URL"] + "/messages"
    try:
        with auth0_wsgi.api_session(request) as api:
            answer = api.get(url, timeout=5)
    except requests.RequestException as error:
        log.warning("the API at %s is unreachable: %s", url, type(error).__name__)
        return _api_error(f"The API at {url} is unreachable.")
    try:
        data = answer.json() if answer.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _api_error(f"The API answered {answer.status_code}: {answer.text[:300]}")
    return render_template("messages.html", title="Messages", url=url, data=data)


def health() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain"}


def _api_error(problem: str) -> tuple[str, int]:
    return render_template("api_error.html", title="Messages", problem=problem), 502


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
