"""Pyramid integration: ``config.include("auth0_wsgi.pyramid")``.

The auth0 filter does the work (login, session, refresh); this adapter only gives views a Pyramid
way to read its results: ``request.auth0_user``, ``request.auth0_access_token`` and
``request.auth0_api``. A request that never went through the filter raises a ``RuntimeError``
naming the fix, instead of looking like an anonymous user: a forgotten ``pipeline`` line must not
fail silently as "nobody is logged in".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import environ as keys
from .api import api_session

if TYPE_CHECKING:
    import requests
    from pyramid.config import Configurator
    from pyramid.request import Request


def includeme(config: Configurator) -> None:
    """Adds ``request.auth0_user``, ``request.auth0_access_token`` and ``request.auth0_api``."""
    config.add_request_method(auth0_user, "auth0_user", reify=True)
    # Not reified: a refresh during the request (api_session after a 401) replaces the token.
    config.add_request_method(auth0_access_token, "auth0_access_token", property=True)
    config.add_request_method(auth0_api, "auth0_api", reify=True)


def auth0_user(request: Request) -> dict[str, Any] | None:
    """The ID token's claims (``name``, ``email``, ``picture``, ``sub``…), None when anonymous."""
    return keys.get_user(keys.filtered_environ(request.environ))


def auth0_access_token(request: Request) -> str | None:
    """The access token for the configured API, None when anonymous."""
    return keys.get_access_token(keys.filtered_environ(request.environ))


def auth0_api(request: Request) -> requests.Session:
    """A ``requests.Session`` sending the user's Bearer token (see ``auth0_wsgi.api_session``).

    Closed when the request finishes; raises ``RuntimeError`` for an anonymous request.
    """
    session = api_session(keys.filtered_environ(request.environ))
    request.add_finished_callback(lambda _request: session.close())
    return session

