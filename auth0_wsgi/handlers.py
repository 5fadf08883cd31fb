"""The login route, the challenge of a request without a session, error pages, and what every
route shares (:class:`Collaborators`). The other routes: :mod:`callback`, :mod:`logout`,
:mod:`backchannel` (server to server).

Each route takes the WebOb request and the collaborators, and returns a WebOb response; errors are
raised as :class:`Auth0WSGIError` and the middleware renders them with :func:`error_page`, except
the callback's, which it renders itself to add the headers its error pages need too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

from webob import Request, Response

from . import cookies, errorpage, hosts, logins, responses
from .config import Config
from .errors import Auth0WSGIError
from .logs import get_logger
from .oidc import OIDCClient
from .returnpath import kept_for_login, safe_return_path
from .session import Headers, LogoutRegistry, SessionStore
from .transaction import Transactions

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

log = get_logger(__name__)

# Two small cookies of ours, in the login cookies' reserved "a0tx." namespace (config refuses a
# session cookie name there). "a0tx.host": /login sent this browser to base_url's host a moment
# ago; seen again, a proxy rewrites Host and another redirect would loop. "a0tx.out": this browser
# has just logged out; a protected page then says so instead of going straight to the provider.
HOST_MOVED_COOKIE, HOST_MOVED_SECONDS = "a0tx.host", 30
SIGNED_OUT_COOKIE, SIGNED_OUT_SECONDS = "a0tx.out", 300
# "a0tx.silent": this browser was sent through a silent login (attempt_silent_login) already; it is
# not sent again for a day, or until a logout deletes the marker.
SILENT_LOGIN_COOKIE, SILENT_LOGIN_SECONDS = "a0tx.silent", 24 * 3600
# What a provider answers a prompt=none login for a user it cannot log in without a page (OIDC Core
# 3.1.2.6): the page is then shown anonymously, with no error.
SILENT_LOGIN_ERRORS = frozenset({"login_required", "consent_required", "interaction_required"})


@dataclass(frozen=True)
class Collaborators:
    config: Config
    client: OIDCClient
    store: SessionStore
    transactions: Transactions
    logouts: LogoutRegistry
    clock: Callable[[], float] = time.time

    @property
    def login_url(self) -> str:
        return self.config.base_url + self.config.login_path

    @cached_property
    def pages(self) -> responses.ErrorPages:
        return responses.ErrorPages(self.config.base_url, self.config.error_template, self.config.debug)

    def own_cookie(self, name: str, max_age: int, path: str = "") -> tuple[str, str]:
        """``name=1`` (or its deletion, ``max_age=0``) at ``path`` (default: the app's cookie path)."""
        options = cookies.CookieOptions(path or self.config.cookie_path, self.config.cookie_secure, "Lax")
        return options.set_cookie(name, "1" if max_age else "", max_age)


def has_cookie(environ: WSGIEnvironment, name: str) -> bool:
    return bool(cookies.read_cookies(environ.get("HTTP_COOKIE", ""), name).get(name))


def login(request: Request, c: Collaborators) -> Response:
    login_path = c.config.base_path + c.config.login_path
    moved = _other_host(request, c, login_path)
    if isinstance(moved, Response):
        return moved
    given = query(request)
    return_to = kept_for_login(safe_return_path(given.get("return_to")))
    # Only what logins checks reaches /authorize: an invitation's organization, the page's step-up rule.
    response = logins.begin(request.environ, c, return_to, logins.login_params(given, return_to, c.config))
    response.headerlist.extend(moved)
    log.debug("login: redirecting to the authorization endpoint")
    return response


def _other_host(request: Request, c: Collaborators, login_path: str) -> Response | Headers:
    """On a host that is not base_url's, a redirect to base_url's /login (same query): the login
    cookie must land where the callback will read it. Else the headers the login adds (none, or the
    deletion of the cookie that says we redirected a moment ago: then a proxy rewrites ``Host``, and
    the login starts here rather than loop)."""
    host = hosts.other_host(request.environ, c.config.base_url)
    if host is None or request.method not in ("GET", "HEAD"):
        return []
    if has_cookie(request.environ, HOST_MOVED_COOKIE):
        log.warning("login: the request names host %r even after a redirect to base_url's (%s): a proxy "
                    "in front of the app rewrites Host. Let it pass the browser's Host (nginx: "
                    "proxy_set_header Host $host), or list it in trusted_proxies and send "
                    "X-Forwarded-Host", host, c.config.base_url)
        return [c.own_cookie(HOST_MOVED_COOKIE, 0, login_path)]
    log.info("login: requested on host %r, not base_url's (%s): redirecting there first, where the "
             "callback will look for the login cookie", host, c.config.base_url)
    response = responses.redirect(c.login_url + hosts.query_for_location(request.environ))
    response.headerlist.append(c.own_cookie(HOST_MOVED_COOKIE, HOST_MOVED_SECONDS, login_path))
    return response


def tries_silent_login(environ: WSGIEnvironment, c: Collaborators) -> bool:
    """Whether a request without a session goes through a silent login (``attempt_silent_login``):
    a browser's page navigation by GET, on base_url's host (where the callback finds the login
    cookie), that has not been through one (its marker cookie) and has not just logged out. Never
    a POST (its body would be lost), never XHR or an API client."""
    return (c.config.attempt_silent_login and environ.get("REQUEST_METHOD") == "GET"
            and responses.is_browser_navigation(environ)
            and not has_cookie(environ, SILENT_LOGIN_COOKIE) and not has_cookie(environ, SIGNED_OUT_COOKIE)
            and hosts.other_host(environ, c.config.base_url) is None)


def silent_login(environ: WSGIEnvironment, c: Collaborators, app: WSGIApplication) -> Response:
    """Once per browser: ``/authorize`` with ``prompt=none``, back to this page. The provider logs
    the user in without a page, or answers an error the callback turns into this page, anonymous.
    If the login cannot even start (the provider is down), ``app`` serves the page anonymously."""
    tried = c.own_cookie(SILENT_LOGIN_COOKIE, SILENT_LOGIN_SECONDS)
    return_to = kept_for_login(safe_return_path(responses.original_path(environ)))
    try:
        tx, headers = c.transactions.begin(return_to, environ, c.config.cookie_path, {"prompt": "none"})
        response = responses.redirect(c.client.authorization_url(tx))
        response.headerlist.extend(headers)
        log.debug("silent login: redirecting to the authorization endpoint with prompt=none")
    except Exception as exc:  # a public page must not fail because the provider does
        reason = exc.message if isinstance(exc, Auth0WSGIError) else type(exc).__name__
        log.warning("silent login could not start (%s); serving the page anonymously", reason)
        response = Request(environ).get_response(app)
    response.headerlist.append(tried)
    return response


def challenge(environ: WSGIEnvironment, c: Collaborators) -> Response:
    """A browser on a protected page without a session goes to login; right after a logout it sees
    a page saying it signed out, with a link to sign in again (once: the marker is deleted)."""
    location = responses.login_location(environ, c.login_url)
    if not has_cookie(environ, SIGNED_OUT_COOKIE):
        return responses.redirect(location)
    response = c.pages.signed_out(location)
    response.headerlist.append(c.own_cookie(SIGNED_OUT_COOKIE, 0))
    return response


def error_page(request: Request, exc: Exception, c: Collaborators, *, return_to: str | None = None
               ) -> Response:
    """What a route that raised ``exc`` answers: a page (or JSON) with its code and a message for
    the user, whose "Try again" starts a login back to ``return_to`` (by default where the user was
    going: see :func:`_going_to`). What the operator needs goes to the log (and, with ``debug``,
    on the page); anything but an :class:`Auth0WSGIError` is a plain 500 whatever ``debug`` says."""
    retry_url = _login_url_to(c, _going_to(request, c) if return_to is None else return_to)
    if isinstance(exc, Auth0WSGIError):
        hint = errorpage.OPERATOR_HINTS.get(exc.code)
        log.warning("%s failed: %s (%s)%s", request.path_info, exc.code, exc.message,
                    f"; {hint}" if hint else "")
        return c.pages.error(request.environ, exc, retry_url=retry_url)
    log.error("unexpected error in %s", request.path_info, exc_info=exc)
    return c.pages.error(request.environ, Auth0WSGIError(responses.UNEXPECTED), retry_url=retry_url)


def _login_url_to(c: Collaborators, return_to: str) -> str:
    return c.login_url if return_to == "/" else f"{c.login_url}?return_to={quote(return_to, safe='/')}"


def _going_to(request: Request, c: Collaborators) -> str:
    """Where a user whose request failed was going: a login's own ``return_to``, else the page they
    came from (a ``Referer`` under ``base_url``, not one of our routes), else the home page."""
    if request.path_info == c.config.login_path:
        path = query(request).get("return_to")
    else:
        path = hosts.came_from(request.environ, c.config.base_url)
        if path is not None and path.partition("?")[0] in c.config.routes.values():
            path = None
    return kept_for_login(safe_return_path(path))


def query(request: Request) -> dict[str, str]:
    """The query's first values, decoded leniently: bytes that are not UTF-8 must not crash a route."""
    params = parse_qs(request.query_string, keep_blank_values=True, errors="replace")
    return {name: values[0] for name, values in params.items()}

