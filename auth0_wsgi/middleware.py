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
from typing import TYPE_CHECKING, Any

from webob import Request, Response

from . import backchannel, callback, handlers, logins, logout, responses, stores
from . import environ as keys
from .config import Config
from .context import RequestContext, SessionServices, with_cookies
from .cookies import CookieOptions
from .errors import DependencyUnavailable, LoginRequired, StepUpRequired
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
            if not self._open_to_anonymous(path):
                log.debug("no session: challenging")
                return self._challenge(environ)(environ, start_response)
            if handlers.tries_silent_login(environ, self.collaborators):
                return handlers.silent_login(environ, self.collaborators, self._anonymous)(environ,
                                                                                            start_response)
            return self._anonymous(environ, start_response)
        context = RequestContext(self.session_services, environ, session)
        try:
            context.refresh(environ)
        except DependencyUnavailable as error:  # the provider, or the store at the save
            return self.collaborators.pages.error(environ, error)(environ, start_response)
        if context.session is None:
            return self._ended(environ, path, context.headers, start_response)
        return self._call_app(environ, path, context, context.start_response(start_response))

    def _ended(self, environ: WSGIEnvironment, path: str, headers: Headers,
               start_response: StartResponse) -> Iterable[bytes]:
        if self._open_to_anonymous(path):
            return self._anonymous(environ, _adding_headers(start_response, headers))
        response = self._challenge(environ)
        response.headerlist.extend(headers)
        return response(environ, start_response)

    def _open_to_anonymous(self, path: str) -> bool:
        """Public, and not a ``step_up`` path: those need a login even with ``require_auth = false``."""
        return self._is_public(path) and (not self.config.step_up
                                          or logins.rule_for_path(path, self.config) is None)

    def _call_app(self, environ: WSGIEnvironment, path: str, context: RequestContext,
                  start_response: StartResponse) -> Iterable[bytes]:
        """The app, for a session that meets the ``step_up`` rule of ``path`` (else the step-up)."""
        rule = logins.rule_for_path(path, self.config) if self.config.step_up else None
        if rule is not None and logins.falls_short(context.session, rule, self.config, self.clock):
            return logins.step_up(environ, self.collaborators, rule)(environ, start_response)
        return self._serve(environ, start_response, context.session, lambda: context.response_started)

    def _anonymous(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The app for a request without a session (no context notes when its response starts)."""
        started = False

        def tracking(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal started
            started = True
            return start_response(status, headers, exc_info)
        return self._serve(environ, tracking, None, lambda: started)

    def _serve(self, environ: WSGIEnvironment, start_response: StartResponse, session: Session | None,
               started: Callable[[], bool]) -> Iterable[bytes]:
        """The app. A :class:`StepUpRequired` it raises before its response starts is answered as for
        a session that falls short (a login asking for it); raised later (mid-body, from a
        generator) it propagates: no redirect can follow a started response."""
        try:
            return self.app(environ, start_response)
        except StepUpRequired as exc:
            if started():
                raise
            return logins.asked_by_app(environ, self.collaborators, session, exc)(environ, start_response)

    def _is_public(self, path: str) -> bool:
        return not self.config.require_auth or path_is_under(path, self.config.public_paths)

    def _challenge(self, environ: WSGIEnvironment) -> Response:
        """A protected page without a session: a browser goes to login, the rest get a 401."""
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


def _adding_headers(start_response: StartResponse, headers: Headers) -> StartResponse:
    def wrapped(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, with_cookies(response_headers, headers), exc_info)
    return wrapped
