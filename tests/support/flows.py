"""The middleware under test, set up for the fake provider, and a login through it.

One login family for the whole suite: :func:`start_login` stops at the callback (to tamper with
it, replay it or inspect what the provider was asked), :func:`log_in` goes through it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import marking_app
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET, FakeProvider

SECRET = "s" * 40
# Plain http on a host that is not loopback, which the middleware refuses unless told it may:
# the tests say so (allow_insecure_base_url) to read URLs and cookies without TLS.
BASE_URL = "http://app.test"


def settings_for(fake: FakeProvider, **overrides: Any) -> dict[str, Any]:
    """Middleware settings that trust ``fake``; ``overrides`` change or add options."""
    settings = {"issuer": fake.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "base_url": BASE_URL, "secret": SECRET, "audience": AUDIENCE, "http_timeout": 2,
                "allow_insecure_base_url": True}
    settings.update(overrides)
    return settings


def middleware(fake: FakeProvider, app: Any = marking_app, **overrides: Any) -> Auth0Middleware:
    return Auth0Middleware(app, **settings_for(fake, **overrides))


def browser(fake: FakeProvider, app: Any = marking_app, **overrides: Any) -> webtest.TestApp:
    """A WebTest client (it keeps cookies like a browser) for a middleware with these settings,
    addressed as its ``base_url`` (https included)."""
    base_url = overrides.get("base_url", BASE_URL)
    extra = addressed_as(base_url)
    if base_url.startswith("https://"):
        extra.update({"wsgi.url_scheme": "https", "HTTPS": "on", "SERVER_PORT": "443"})
    return webtest.TestApp(middleware(fake, app, **overrides), extra_environ=extra)


def addressed_as(base_url: str | None = None) -> dict[str, str]:
    """The ``Host`` a browser sends to an app at ``base_url`` (default :data:`BASE_URL`): the
    middleware's /login first moves a browser on any other host there."""
    return {"HTTP_HOST": urlsplit(base_url or BASE_URL).netloc}


def provider_answer(authorize_url: str) -> str:
    """What the fake provider sends the browser back to (the callback URL)."""
    return requests.get(authorize_url, allow_redirects=False, timeout=5).headers["Location"]


def start_login(app: webtest.TestApp, return_to: str | None = None, base_url: str = BASE_URL
                ) -> tuple[str, str]:
    """GET /login (with ``return_to`` if given) and let the fake provider answer: returns
    (callback path + query, the authorize URL the browser was sent to)."""
    response = app.get("/login", {"return_to": return_to} if return_to is not None else {})
    assert response.status_int == 302, response.text
    authorize_url = response.headers["Location"]
    callback = provider_answer(authorize_url)
    assert callback.startswith(base_url + "/"), callback
    origin = urlsplit(base_url)
    return callback[len(f"{origin.scheme}://{origin.netloc}"):], authorize_url


def log_in(app: webtest.TestApp, return_to: str | None = None, base_url: str = BASE_URL
           ) -> webtest.TestResponse:
    """A whole login; returns the callback's redirect (to the return path)."""
    callback, _ = start_login(app, return_to, base_url)
    response = app.get(callback)
    assert response.status_int == 302, response.text
    return response
