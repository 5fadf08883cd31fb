"""``api_session(request)``: a ``requests.Session`` that calls the API with the user's access token.

When the API answers 401 with ``error="invalid_token"`` (the token was revoked, or its lifetime was
unknown), the session asks the middleware for a refresh once and retries the request once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests
from requests.auth import AuthBase

from .environ import get_access_token, refresh_access_token, wsgi_environ
from .logs import get_logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .environ import EnvironOrRequest

log = get_logger(__name__)
_RETRIED = "_auth0_wsgi_retried"


def api_session(environ: EnvironOrRequest) -> requests.Session:
    """A ``requests.Session`` whose requests carry ``Authorization: Bearer <access token>`` of this
    request's user.

    When the API answers 401 with ``error="invalid_token"``, the session refreshes the access token
    once through the middleware (:func:`~auth0_wsgi.refresh_access_token`) and retries the request
    once. Use it before the response starts, so that rotated tokens reach the session cookie; close
    it (or use it in a ``with`` block) when done.

    :param environ: the WSGI environ of a logged-in request that passed through the auth0 filter,
        with an ``audience`` configured; or the request object (Pyramid/WebOb, Flask/Werkzeug,
        Bottle, Django: :func:`~auth0_wsgi.environ.wsgi_environ`).
    :return: a new session, for this request only: it reads the environ's current access token on
        each request it sends.
    :raises RuntimeError: when the environ has no access token (not behind the filter, anonymous,
        or no ``audience``).
    :raises TypeError: when ``environ`` is neither an environ nor a request object.
    """
    environ = wsgi_environ(environ)
    if get_access_token(environ) is None:
        raise RuntimeError("no access token in this environ: is the request behind the auth0 filter, "
                           "is the user logged in, and is an 'audience' configured?")
    session = requests.Session()
    session.auth = BearerToken(environ)
    return session


class BearerToken(AuthBase):
    """``requests`` auth: the environ's current access token; on ``invalid_token``, one refresh and retry."""

    def __init__(self, environ: WSGIEnvironment) -> None:
        self._environ = environ

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {get_access_token(self._environ)}"
        request.register_hook("response", self._retry_once_after_refresh)  # type: ignore[no-untyped-call]
        return request

    def _retry_once_after_refresh(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, _RETRIED, False):
            return response
        if "invalid_token" not in response.headers.get("WWW-Authenticate", ""):
            return response
        log.debug("the API refused the access token: refreshing once and retrying")
        token = refresh_access_token(self._environ)
        if token is None:
            return response
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        retry = response.request.copy()
        setattr(retry, _RETRIED, True)
        retry.headers["Authorization"] = f"Bearer {token}"
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second
