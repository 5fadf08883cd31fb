"""Every ``auth0.*`` key the wrapped app can read, defined once, with accessors for views.

These keys are only ever set by the middleware: values a client smuggles in (an ``auth0.user``
from another layer, a ``REMOTE_USER`` header mapped by a server) are removed first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

ACCESS_TOKEN = "auth0.access_token"
USER = "auth0.user"
ID_TOKEN = "auth0.id_token"
REMOTE_USER = "REMOTE_USER"
CONTEXT = "auth0.context"  # the request's RequestContext: how views force a refresh
MIDDLEWARE = "auth0.middleware"  # set on every request the filter handled, anonymous ones too
MISSING_FILTER = (
    "auth0-wsgi: this request did not pass through the auth0 filter. Put it in front of your app: "
    "a [filter:auth0] section with 'use = egg:auth0-wsgi' and 'pipeline = auth0 <your app>' in "
    "[pipeline:main] of the ini file, or Auth0Middleware(app, ...) in Python."
)
OURS = (ACCESS_TOKEN, USER, ID_TOKEN, CONTEXT)
_SCRUBBED = (*OURS, MIDDLEWARE)


def scrub(environ: WSGIEnvironment, remote_user: bool) -> None:
    """Drop identity keys we did not set (an outer layer's, or a server's REMOTE_USER) first."""
    for key in _SCRUBBED:
        if key in environ:
            del environ[key]
    if remote_user:
        environ.pop(REMOTE_USER, None)


def filtered_environ(environ: WSGIEnvironment) -> WSGIEnvironment:
    """``environ`` itself, once it is known to have passed through the auth0 filter.

    Framework adapters call this so that a forgotten pipeline line fails loudly instead of
    looking like an anonymous user.
    """
    if MIDDLEWARE not in environ:
        raise RuntimeError(MISSING_FILTER)
    return environ


def get_user(environ: WSGIEnvironment) -> dict[str, Any] | None:
    """The logged-in user's ID-token claims, or None for an anonymous request."""
    return environ.get(USER)


def get_access_token(environ: WSGIEnvironment) -> str | None:
    """An access token for the configured API, valid for at least ``refresh_leeway`` seconds."""
    return environ.get(ACCESS_TOKEN)


def get_id_token(environ: WSGIEnvironment) -> str | None:
    return environ.get(ID_TOKEN)


def refresh_access_token(environ: WSGIEnvironment) -> str | None:
    """Force a refresh now (e.g. after the user's permissions changed); the new access token.

    Returns None when the provider refused (the session has ended). Call it before the response
    starts, so that the rotated tokens reach the session cookie.
    """
    context = environ.get(CONTEXT)
    if context is None:
        raise RuntimeError("no auth0-wsgi session in this environ: is the request behind the "
                           "auth0 filter, and is the user logged in?")
    token: str | None = context.refresh(environ, force=True)
    return token
