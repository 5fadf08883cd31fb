"""The WSGI middleware: route, load the session, refresh if due, inject the environ, call the app.

One clock: ``Auth0Middleware(..., clock=...)`` (``time.time`` unless given) is handed at construction
to everything that decides by the time (stores, revocation lists, the refresher and its backoff,
login transactions, the OIDC client's token checks and client assertions, discovery and JWKS
caches, refresh-result caches), so a test moves time by moving its clock instead of sleeping.
Wall-clock seconds everywhere, as tokens and cookies carry epoch times: a step of the system clock
moves every deadline alike. The real monotonic clock is read only where we wait for something else
to finish (a lock another process holds, an answer still arriving), which no moved clock hastens.
``clock`` is a keyword of its own, not an option: the PasteDeploy factory builds the ``Config``
first, so an ini key named ``clock`` is refused as unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from webob import Request, Response

from . import backchannel, callback, handlers, logout, responses, stores
from . import environ as keys
from .config import Config
from .cookies import CookieOptions
from .errors import DependencyUnavailable, LoginRequired
from .logs import get_logger
from .oidc import OIDCClient
from .paths import path_is_under
from .proxy import ProxyHeaders
from .refresh import Refresher
from .sealing import Sealer
from .session import Headers, Lifetime, Session, SessionStore
from .transaction import Transactions

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack  # for type checkers only: no runtime dependency

    from .settings import Auth0Settings

log = get_logger(__name__)
Route = Callable[[Request, handlers.Collaborators], Response]
# The handler of each route of ``Config.routes``, where the routes and their paths are declared.
HANDLERS: dict[str, Route] = {"login": handlers.login, "callback": callback.callback,
                              "logout": logout.logout, "backchannel_logout": backchannel.backchannel_logout}


class Auth0Middleware:
    """Requires an Auth0 (OIDC) login for the wrapped WSGI app.

    ``Auth0Middleware(app, domain=..., client_id=..., ...)``: keyword arguments mirror the ini keys.

    :param app: the WSGI application to protect.
    :param config: a ready :class:`~auth0_wsgi.config.Config`, instead of keyword settings.
    :param settings: the options (:class:`~auth0_wsgi.settings.Auth0Settings`; README, "Configuration
        reference"), as ini strings or native values; a missing one falls back to ``AUTH0_<OPTION>``.
    :param clock: the time source in seconds since the epoch (default ``time.time``), read by every
        expiry, backoff and cache of this middleware; tests pass one they can move. Not an option.
    :raises ConfigError: at start-up, naming the first unknown, wrong or missing option and the fix.
    :raises TypeError: when both ``config`` and keyword settings are given.
    """

    def __init__(self, app: WSGIApplication, config: Config | None = None, /, *,
                 clock: Callable[[], float] = time.time, **settings: Unpack[Auth0Settings]) -> None:
        # Positional-only: an ini key named "config" lands in ``settings`` and is refused as unknown.
        if config is not None and settings:
            raise TypeError("pass either a Config or keyword settings, not both")
        self.app = app
        self.config = config or Config.from_settings(settings)
        self.clock = clock
        self._build_collaborators()

    def _build_collaborators(self) -> None:
        config, clock = self.config, self.clock
        self.lifetime = Lifetime(config.session_rolling_duration, config.session_absolute_duration)
        options = CookieOptions(config.cookie_path, config.cookie_secure, config.cookie_samesite)
        backends = stores.build(config, self.lifetime, options, clock)
        self.store: SessionStore = backends.store
        client = OIDCClient(config, clock=clock)
        self.refresher = Refresher(config, client, backends.coordinator, Sealer(config.secret, "refresh"),
                                   clock)
        tx_options = CookieOptions(config.base_path + config.callback_path, config.cookie_secure, "Lax")
        self.collaborators = handlers.Collaborators(
            config, client, self.store, Transactions(Sealer(config.secret, "transaction"), tx_options, clock),
            backends.logouts, clock)
        self.session_services = SessionServices(self.store, self.refresher, self.lifetime,
                                                config.session_cookie_name, config.set_remote_user, clock)
        self._proxy = ProxyHeaders(config.trusted_proxies) if config.trusted_proxies else None
        self._routes: dict[str, Route] = {path: HANDLERS[name] for name, path in config.routes.items()}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        keys.scrub(environ, self.config.set_remote_user)
        environ[keys.MIDDLEWARE] = True
        if self._proxy is not None:
            self._proxy.apply(environ)
        path = environ.get("PATH_INFO") or "/"
        route = self._routes.get(path)
        if route is not None:
            return self._handle(route, environ)(environ, start_response)
        try:
            session = self.store.load(environ)
        except DependencyUnavailable as error:  # the session store (Redis) is down
            return self.collaborators.pages.error(environ, error)(environ, start_response)
        if session is None:
            if self._is_public(path):
                return self.app(environ, start_response)
            log.debug("no session for a protected path: challenging")
            return self._challenge(environ)(environ, start_response)
        context = RequestContext(self.session_services, environ, session)
        try:
            context.refresh(environ)
        except DependencyUnavailable as error:  # the provider, or the store at the save
            return self.collaborators.pages.error(environ, error)(environ, start_response)
        if context.session is None:
            return self._ended(environ, path, context.headers, start_response)
        return self.app(environ, context.start_response(start_response))

    def _ended(self, environ: WSGIEnvironment, path: str, headers: Headers,
               start_response: StartResponse) -> Iterable[bytes]:
        if self._is_public(path):
            return self.app(environ, _adding_headers(start_response, headers))
        response = self._challenge(environ)
        response.headerlist.extend(headers)
        return response(environ, start_response)

    def _is_public(self, path: str) -> bool:
        return not self.config.require_auth or path_is_under(path, self.config.public_paths)

    def _challenge(self, environ: WSGIEnvironment) -> Response:
        if responses.is_browser_navigation(environ):
            return handlers.challenge(environ, self.collaborators)
        return responses.error_response(
            environ, LoginRequired("This request needs a logged-in session."), as_json=True)

    def _handle(self, route: Route, environ: WSGIEnvironment) -> Response:
        request = Request(environ)
        try:
            return route(request, self.collaborators)
        except Exception as exc:  # every route's alike (the callback renders its own, with its headers)
            return handlers.error_page(request, exc, self.collaborators)


@dataclass(frozen=True)
class SessionServices:
    """What an authenticated request needs, built once at start-up: all a RequestContext sees."""

    store: SessionStore
    refresher: Refresher
    lifetime: Lifetime
    session_cookie_name: str
    set_remote_user: bool  # REMOTE_USER is ours to set, and to remove when the session ends
    clock: Callable[[], float] = time.time


class RequestContext:
    """One authenticated request: its session, the refresh hook views use, the cookies to send."""

    def __init__(self, services: SessionServices, environ: WSGIEnvironment, session: Session) -> None:
        # No reference to the environ here: the environ holds the context, and a cycle would leave
        # every request to the garbage collector (~10 µs each in a worker).
        self._services = services
        self.session: Session | None = session
        self.headers: Headers = []
        environ[keys.CONTEXT] = self

    def refresh(self, environ: WSGIEnvironment, *, force: bool = False) -> str | None:
        """Refresh when due (or when forced); returns the access token, None if the session ended."""
        services, session = self._services, self.session
        if session is None:
            return None
        outcome = services.refresher.ensure_fresh(session, force=force)
        if outcome.session is None:
            self.session = None
            self._add_cookies(services.store.clear(environ))
            for key in (*keys.OURS, keys.REMOTE_USER if services.set_remote_user else ""):
                environ.pop(key, None)
            return None
        now = int(services.clock())
        session = outcome.session
        if outcome.changed or services.lifetime.wants_touch(session, now):
            session = self.session = session.touched(now)
            self._add_cookies(services.store.save(environ, session))
        self._inject(environ, session)
        return session.access_token

    def _add_cookies(self, headers: Headers) -> None:
        """The cookies of a later save (or clear) in this request, merged with the earlier ones'.

        A cookie of the same name is replaced. A save that sets the session cookie answers for the
        whole set of session cookies (a cookie store may write fewer chunks than the save before
        it): the earlier save's session cookies go, other earlier cookies stay.
        """
        if not self.headers or not headers:
            self.headers = headers or self.headers
            return
        later = {_cookie_name(value) for _, value in headers}
        session_name = self._services.session_cookie_name
        if any(_is_session_cookie(name, session_name) for name in later):
            kept = [(k, v) for k, v in self.headers if not _is_session_cookie(_cookie_name(v), session_name)]
        else:
            kept = self.headers
        self.headers = [(k, v) for k, v in kept if _cookie_name(v) not in later] + headers

    def _inject(self, environ: WSGIEnvironment, session: Session) -> None:
        # The app's own copy: sessions are shared (decode caches), so a view that appends to a
        # nested claim (a roles list) must not change what later requests see.
        environ[keys.USER] = _private_copy(session.user)
        environ[keys.ID_TOKEN] = session.id_token
        environ[keys.ACCESS_TOKEN] = session.access_token
        if self._services.set_remote_user:
            environ[keys.REMOTE_USER] = session.user["sub"]

    def start_response(self, start_response: StartResponse) -> StartResponse:
        """Adds the session cookies at the moment the app starts its response (a view may refresh)."""
        def wrapped(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if self.headers:
                response_headers = _with_cookies(response_headers, self.headers)
            return start_response(status, response_headers, exc_info)
        return wrapped


_CONTAINERS = frozenset((list, dict))  # what JSON claims can hold that an app could change in place


def _private_copy(claims: dict[str, Any]) -> dict[str, Any]:
    """Flat values as they are (immutable), lists and dicts copied all the way down (JSON values).

    Typical claims are all flat: one C-level pass finds that (~0.4 µs) instead of a Python loop.
    """
    copy = claims.copy()
    if _CONTAINERS.isdisjoint(map(type, claims.values())):
        return copy
    for name, value in claims.items():
        if isinstance(value, (list, dict)):
            copy[name] = _copied(value)
    return copy


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _cookie_name(set_cookie: str) -> str:
    return set_cookie.partition("=")[0].strip()


def _is_session_cookie(name: str, session_name: str) -> bool:
    return name == session_name or name.startswith(session_name + ".")  # chunks: name.0, name.1…


def _adding_headers(start_response: StartResponse, headers: Headers) -> StartResponse:
    def wrapped(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, _with_cookies(response_headers, headers), exc_info)
    return wrapped


def _with_cookies(response_headers: list[tuple[str, str]], cookies: Headers) -> list[tuple[str, str]]:
    """A response that sets a session cookie must never be stored by a shared cache."""
    kept = [(k, v) for k, v in response_headers if k.lower() not in ("cache-control", "expires")]
    return [*kept, *cookies, ("Cache-Control", "no-store")]
