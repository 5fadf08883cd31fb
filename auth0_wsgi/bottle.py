"""Bottle integration: ``app.install(Auth0Plugin())``, or ``current_user()`` anywhere in a route.

With the plugin installed, a route that declares a ``user`` or ``access_token`` parameter receives
the logged-in user's claims or access token (None when anonymous); other routes are left alone,
as Bottle's own sqlite plugin does for ``db``. A request that never went through the auth0 filter
raises a ``RuntimeError`` naming the fix, instead of passing for an anonymous user.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import bottle

from . import environ as keys


def current_user() -> dict[str, Any] | None:
    """The current request's ID-token claims, None when anonymous."""
    return keys.get_user(keys.filtered_environ(bottle.request.environ))


def current_access_token() -> str | None:
    """The current request's access token for the configured API, None when anonymous."""
    return keys.get_access_token(keys.filtered_environ(bottle.request.environ))


class Auth0Plugin:
    """Passes ``user`` / ``access_token`` keyword arguments to the routes that declare them."""

    name = "auth0"
    api = 2

    def __init__(self, user_keyword: str = "user", token_keyword: str = "access_token") -> None:
        self.user_keyword = user_keyword
        self.token_keyword = token_keyword

    def apply(self, callback: Callable[..., Any], route: bottle.Route) -> Callable[..., Any]:
        declared = set(route.get_callback_args())
        wants_user = self.user_keyword in declared
        wants_token = self.token_keyword in declared
        if not (wants_user or wants_token):
            return callback

        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            environ = keys.filtered_environ(bottle.request.environ)
            if wants_user:
                kwargs[self.user_keyword] = keys.get_user(environ)
            if wants_token:
                kwargs[self.token_keyword] = keys.get_access_token(environ)
            return callback(*args, **kwargs)

        return wrapper

