"""``api_session(request, audience, scope)``: a ``requests.Session`` that calls an API with the
user's access token for it.

When the API answers 401 with ``error="invalid_token"`` (the token was revoked, or its lifetime was
unknown), the session asks the middleware for a new token for that API once and retries once. When
it answers 401 with an RFC 9470 step-up challenge (``error="insufficient_user_authentication"``),
the session raises :class:`~auth0_wsgi.errors.StepUpRequired`: a view that lets it escape sends the
user through a stronger login, which no retry could replace.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from . import stepup
from .environ import CONTEXT, get_access_token, refresh_access_token, wsgi_environ
from .errors import StepUpRequired
from .logs import get_logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .environ import EnvironOrRequest

log = get_logger(__name__)


def api_session(environ: EnvironOrRequest, audience: str | None = None,
                scope: str | None = None) -> requests.Session:
    """A ``requests.Session`` whose requests carry ``Authorization: Bearer <access token>`` of this
    request's user for the API ``audience``.

    When the API answers 401 with ``error="invalid_token"``, the session gets a new token for that
    API once through the middleware and retries the request once. When it answers 401 with
    ``error="insufficient_user_authentication"`` (RFC 9470), the request raises
    :class:`~auth0_wsgi.errors.StepUpRequired` with the challenge's ``acr_values`` and ``max_age``.
    Use it before the response starts, so that new and rotated tokens reach the session cookie;
    close it (or use it in a ``with`` block) when done.

    :param environ: the WSGI environ of a logged-in request that passed through the auth0 filter, or
        the request object (Pyramid/WebOb, Flask/Werkzeug, Bottle, Django:
        :func:`~auth0_wsgi.environ.wsgi_environ`).
    :param audience: the API: ``audience`` (None: the same) or one of ``additional_audiences``.
    :param scope: the scopes that API's token is asked with (None: its default), as in
        :func:`~auth0_wsgi.get_access_token`.
    :return: a new session, for this request only: it reads the current token on each request.
    :raises RuntimeError: when the environ has no access token (not behind the filter, anonymous,
        or no ``audience``).
    :raises AudienceRefused: the API is not listed, or the provider refused a token for it.
    :raises ProviderUnavailable: the provider cannot be reached and there is no valid token for it.
    :raises TypeError: when ``environ`` is neither an environ nor a request object.
    """
    environ = wsgi_environ(environ)
    if get_access_token(environ, audience, scope) is None:
        raise RuntimeError("no access token in this environ: is the request behind the auth0 filter, "
                           "is the user logged in, and is an 'audience' configured?")
    session = requests.Session()
    session.auth = BearerToken(environ, audience, scope)
    return session


class BearerToken(AuthBase):
    """``requests`` auth: the current token for the API; on ``invalid_token``, one new token and
    retry; on an RFC 9470 challenge, :class:`StepUpRequired`."""

    def __init__(self, environ: WSGIEnvironment, audience: str | None = None,
                 scope: str | None = None) -> None:
        self._environ = environ
        self._audience = audience
        self._scope = scope

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = get_access_token(self._environ, self._audience, self._scope)
        request.headers["Authorization"] = f"Bearer {token}"
        # requests runs a request's hooks on the answers of the redirects it follows too: only the
        # origin the token was sent to may make us retry with a new token (or ask for a step-up)
        # one retry per request: requests copies the request for each redirect it follows, but
        # the copies share this hook, and with it ``retried``
        hook = functools.partial(self._retry_once_after_refresh, _origin(request.url or ""), {})
        request.register_hook("response", hook)  # type: ignore[no-untyped-call]
        return request

    def _retry_once_after_refresh(self, origin: tuple[str, str], retried: dict[str, bool],
                                  response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or _origin(response.request.url or "") != origin:
            return response
        _raise_step_up(response)
        if retried:
            return response
        if _bearer_error(response.headers.get("WWW-Authenticate", "")) != "invalid_token":
            return response
        log.debug("the API refused the access token: getting a new one and retrying once")
        retried["done"] = True
        token = self._new_token()
        if token is None:
            return response
        response.content  # noqa: B018 - read the body so the connection can be reused
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        second = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        if second.status_code == 401:
            _raise_step_up(second)
        return second

    def _new_token(self) -> str | None:
        if self._audience is None and self._scope is None:
            return refresh_access_token(self._environ)
        context = self._environ.get(CONTEXT)
        if context is None:
            return None
        token: str | None = context.api_token(self._environ, self._audience, self._scope, force=True)
        return token


def _bearer_error(header: str) -> str | None:
    """The ``error`` of a Bearer challenge (RFC 6750 §3), read as :mod:`stepup` reads RFC 9470's: a
    word in a description or a realm is not the error (each would cost a grant and a retry)."""
    header = header.lstrip()
    if header[:7].lower() != "bearer ":
        return None
    found = stepup._CHALLENGE_PARAM.finditer(header[:stepup.MAX_CHALLENGE_LENGTH])
    return next((m[2] if m[2] is not None else m[3] for m in found if m[1].lower() == "error"), None)


def _origin(url: str) -> tuple[str, str]:
    scheme, netloc, *_ = urlsplit(url)
    return scheme.lower(), netloc.lower()


def _raise_step_up(response: requests.Response) -> None:
    """The API's RFC 9470 challenge as :class:`StepUpRequired` (a challenge naming neither a usable
    ``acr_values`` nor ``max_age`` is left to the caller, as a plain 401)."""
    rule = stepup.from_challenge(response.headers.get("WWW-Authenticate", ""))
    if rule is None or not (rule.acr_values or rule.max_age is not None):
        return
    response.close()
    log.info("the API asks for a stronger or more recent login (RFC 9470 challenge)")
    raise StepUpRequired(acr_values=rule.acr_values or None, max_age=rule.max_age)
