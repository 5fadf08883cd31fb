"""Every ``auth0.*`` key the wrapped app can read, defined once, with accessors for views.

These keys are only ever set by the middleware: values a client smuggles in (an ``auth0.user``
from another layer, a ``REMOTE_USER`` header mapped by a server) are removed first.

Every accessor takes the environ or the framework's request object as it comes (see
:func:`wsgi_environ`), so that a view passes ``request`` without knowing where its framework keeps
the environ.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Protocol, TypeAlias

    from _typeshed.wsgi import WSGIEnvironment

    class _HasEnviron(Protocol):  # WebOb/Pyramid, Werkzeug/Flask, Bottle, Django's WSGIRequest
        @property
        def environ(self) -> WSGIEnvironment: ...

    class _HasMeta(Protocol):  # Django: HttpRequest.META is the WSGI environ under the WSGI handler
        @property
        def META(self) -> WSGIEnvironment: ...

    EnvironOrRequest: TypeAlias = "WSGIEnvironment | _HasEnviron | _HasMeta"

ACCESS_TOKEN = "auth0.access_token"
USER = "auth0.user"
ID_TOKEN = "auth0.id_token"
REMOTE_USER = "REMOTE_USER"
CONTEXT = "auth0.context"  # the request's RequestContext: how views force a refresh
MIDDLEWARE = "auth0.middleware"  # set on every request the filter handled, anonymous ones too
CLAIMS = "auth0.claims"  # the access token's claims, set by the resource-server filter (egg:auth0-wsgi#api)
MISSING_FILTER = (
    "auth0-wsgi: this request did not pass through the auth0 filter. Put it in front of your app: "
    "a [filter:auth0] section with 'use = egg:auth0-wsgi' and 'pipeline = auth0 <your app>' in "
    "[pipeline:main] of the ini file, or Auth0Middleware(app, ...) in Python."
)
OURS = (ACCESS_TOKEN, USER, ID_TOKEN, CONTEXT)
_SCRUBBED = (*OURS, MIDDLEWARE)
NOT_AN_ENVIRON = (
    "auth0-wsgi: expected the WSGI environ (the dict the server passed to the app) or a request "
    "object, got {got}. Pass the request itself (Pyramid/WebOb, Flask/Werkzeug, Bottle and Django "
    "requests are read as they are), or request.environ (request.META in Django).{hint}"
)


def wsgi_environ(environ_or_request: EnvironOrRequest, /) -> WSGIEnvironment:
    """The WSGI environ of a request, given the environ itself or the framework's request object.

    Duck-typed, so no framework is imported: a ``dict`` is the environ (servers pass a builtin
    dict, PEP 3333); otherwise the object's ``environ`` (WebOb and Pyramid, Werkzeug and Flask,
    Bottle, Django's ``WSGIRequest``) or ``META`` (Django's ``HttpRequest``: under the WSGI handler
    it *is* the environ, the very dict the filter filled).

    :param environ_or_request: the environ, or the current request object.
    :return: the environ itself (not a copy): what the middleware set, and where a refresh writes.
    :raises TypeError: for anything else (``None``, a string, ``os.environ``…), saying what to pass.
    """
    if isinstance(environ_or_request, dict):
        return environ_or_request
    for attribute in ("environ", "META"):
        environ = getattr(environ_or_request, attribute, None)
        if isinstance(environ, dict):
            return environ
    got = "None" if environ_or_request is None else f"a {type(environ_or_request).__qualname__!r} object"
    hint = (" A mapping that is not a dict is not the request's environ (os.environ is the "
            "process's environment)." if isinstance(environ_or_request, Mapping) else "")
    raise TypeError(NOT_AN_ENVIRON.format(got=got, hint=hint))


def scrub(environ: WSGIEnvironment, remote_user: bool) -> None:
    """Drop identity keys we did not set (an outer layer's, or a server's REMOTE_USER) first."""
    for key in _SCRUBBED:
        if key in environ:
            del environ[key]
    if remote_user:
        environ.pop(REMOTE_USER, None)


def filtered_environ(environ: EnvironOrRequest) -> WSGIEnvironment:
    """The request's environ, once it is known to have passed through the auth0 filter.

    Framework adapters call this so that a forgotten pipeline line fails loudly instead of
    looking like an anonymous user.

    :param environ: the WSGI environ of the current request, or the request object
        (:func:`wsgi_environ`).
    :return: the environ itself, for chaining.
    :raises RuntimeError: when the request did not pass through :class:`~auth0_wsgi.Auth0Middleware`
        (no ``auth0.middleware`` key), with the pipeline line to add.
    :raises TypeError: when ``environ`` is neither an environ nor a request object.
    """
    environ = wsgi_environ(environ)
    if MIDDLEWARE not in environ:
        raise RuntimeError(MISSING_FILTER)
    return environ


def get_user(environ: EnvironOrRequest) -> dict[str, Any] | None:
    """The logged-in user's ID-token claims (``environ["auth0.user"]``).

    :param environ: the WSGI environ of a request that passed through the auth0 filter, or
        the request object (Pyramid/WebOb, Flask/Werkzeug, Bottle, Django; :func:`wsgi_environ`).
    :return: the claims (``sub``, ``name``, ``email``…; ``sid`` is the login's session id) as this
        request's own copy, which a view may change; None for an anonymous request.
    :raises TypeError: when ``environ`` is neither an environ nor a request object.
    """
    user: dict[str, Any] | None = wsgi_environ(environ).get(USER)
    return user


def get_access_token(environ: EnvironOrRequest, audience: str | None = None,
                     scope: str | None = None) -> str | None:
    """The access token for the configured API (``environ["auth0.access_token"]``), or for another
    API of the same login (``additional_audiences``: Auth0's Multi-Resource Refresh Token).

    Without ``audience`` and ``scope`` it only reads the environ. With them it may ask the provider
    (``grant_type=refresh_token`` with ``audience`` and ``scope``, in the session's single flight) and
    save the session: call it before the response starts, so that the token and the rotated refresh
    token reach the session cookie. The token is kept in the session for the next requests.

    :param environ: the WSGI environ of a request that passed through the auth0 filter, or
        the request object (Pyramid/WebOb, Flask/Werkzeug, Bottle, Django; :func:`wsgi_environ`).
    :param audience: the API's identifier: ``audience`` (None: the same) or one of
        ``additional_audiences``.
    :param scope: the scopes to ask that API's token with, space-separated (None: its default).
        One token per API is kept: another scope replaces it.
    :return: a token valid for at least ``refresh_leeway`` seconds, or None for an anonymous
        request (or a session the provider has just ended).
    :raises AudienceRefused: ``audience_not_allowed`` (not listed: the provider is not asked) or
        ``audience_refused`` (the provider said no); the session goes on.
    :raises ProviderUnavailable: the provider cannot be reached and the API's token has expired (or
        there is none yet); its ``retry_after`` says when to try again. The session goes on.
    :raises RuntimeError: with ``audience`` or ``scope``, when the request did not pass through the filter.
    :raises TypeError: when ``environ`` is neither an environ nor a request object, or ``audience``
        or ``scope`` is not a string.
    :raises ValueError: when ``scope`` is not scope names separated by spaces.
    """
    environ = wsgi_environ(environ)
    if audience is None and scope is None:
        token: str | None = environ.get(ACCESS_TOKEN)
        return token
    context = environ.get(CONTEXT)
    if context is None:
        if MIDDLEWARE not in environ:
            raise RuntimeError(MISSING_FILTER)
        return None  # anonymous
    return context.api_token(environ, audience, scope)  # type: ignore[no-any-return]


def get_id_token(environ: EnvironOrRequest) -> str | None:
    """The raw ID token of the logged-in user (``environ["auth0.id_token"]``).

    :param environ: the WSGI environ of a request that passed through the auth0 filter, or
        the request object (Pyramid/WebOb, Flask/Werkzeug, Bottle, Django; :func:`wsgi_environ`).
    :return: the compact JWT, or None for an anonymous request.
    :raises TypeError: when ``environ`` is neither an environ nor a request object.
    """
    token: str | None = wsgi_environ(environ).get(ID_TOKEN)
    return token


def refresh_access_token(environ: EnvironOrRequest) -> str | None:
    """Force a refresh now (e.g. after the user's permissions or roles changed).

    Call it before the response starts, so that the rotated tokens reach the session cookie; the
    request's ``auth0.*`` keys are updated too.

    :param environ: the WSGI environ of a logged-in request that passed through the auth0 filter, or
        the request object (Pyramid/WebOb, Flask/Werkzeug, Bottle, Django; :func:`wsgi_environ`).
    :return: the new access token; the current one while it is still valid if the provider cannot
        be reached now; None when the provider refused the refresh (the session has then ended,
        and this response clears its cookies).
    :raises RuntimeError: when the request has no session of the filter (not behind the filter, or
        anonymous).
    :raises ProviderUnavailable: when the provider cannot be reached and the current access token
        has expired; its ``retry_after`` says when to try again.
    :raises TypeError: when ``environ`` is neither an environ nor a request object.
    """
    environ = wsgi_environ(environ)
    context = environ.get(CONTEXT)
    if context is None:
        raise RuntimeError("no auth0-wsgi session in this environ: is the request behind the "
                           "auth0 filter, and is the user logged in?")
    token: str | None = context.refresh(environ, force=True)
    return token
