"""The Django example's views: the same pages as the Pyramid one, with Django's templates.

``request.user`` is the Django user that ``RemoteUserMiddleware`` logged in from the filter's
``REMOTE_USER``; the ID token's claims (name, picture…) and the access token come from the auth0
helpers, which take the Django request as it is (they read ``request.META``, the WSGI environ).
Django's templates escape every value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from typing import Any

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

import auth0_wsgi
from auth0_wsgi.environ import filtered_environ

log = logging.getLogger(__name__)


def auth0(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the ID token's claims (None when anonymous) and the token footer.

    ``filtered_environ`` raises ``RuntimeError`` naming the fix when the filter is missing from
    ``wsgi.py``, rather than letting every page look like an anonymous visit.
    """
    environ = filtered_environ(request)
    return {"claims": auth0_wsgi.get_user(environ),
            "token": token_status(auth0_wsgi.get_access_token(environ))}


def home(request: HttpRequest) -> HttpResponse:
    return page(request, "home.html", "auth0-wsgi Django example")


def profile(request: HttpRequest) -> HttpResponse:
    picture = (auth0_wsgi.get_user(request) or {}).get("picture", "")
    picture = picture if picture.startswith(("https://", "data:image/")) else ""
    return page(request, "profile.html", "Profile", picture=picture)


def messages(request: HttpRequest) -> HttpResponse:
    """Calls ``GET {API_URL}/messages`` with the user's access token (refreshed by the filter)."""
    url = settings.API_URL + "/messages"
    try:
        with auth0_wsgi.api_session(request) as api:
            answer = api.get(url, timeout=5)
    except requests.RequestException as error:
        log.warning("the API at %s is unreachable: %s", url, type(error).__name__)
        return page(request, "api_error.html", "Messages", 502, problem=f"The API at {url} is unreachable.")
    try:
        data = answer.json() if answer.status_code == 200 else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return page(request, "api_error.html", "Messages", 502,
                    problem=f"The API answered {answer.status_code}: {answer.text[:300]}")
    return page(request, "messages.html", "Messages", url=url, data=data,
                scopes=" ".join(data.get("scopes", [])))


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


def page(request: HttpRequest, template: str, title: str, status: int = 200, **context: Any) -> HttpResponse:
    response = render(request, template, {"title": title, **context}, status=status)
    response["Cache-Control"] = "no-store"  # pages show personal data
    return response


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
