"""Three of the four routes the middleware owns: login, callback and logout (back-channel logout,
server to server, is in :mod:`auth0_wsgi.backchannel`).

Each takes the WebOb request and the collaborators, and returns a WebOb response; errors are
raised as :class:`Auth0WSGIError` and the middleware renders them with :func:`error_page`, except
the callback's, which it renders itself to add the headers its error pages need too.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from webob import Request, Response

from . import cookies, errorpage, hosts, responses
from .config import Config
from .errors import Auth0WSGIError, DependencyUnavailable, RequestError
from .logs import get_logger
from .oidc import OIDCClient
from .paths import path_is_under
from .returnpath import kept_for_login, safe_return_path
from .session import Headers, LogoutRegistry, Session, SessionStore
from .transaction import LOGIN_COOKIE_NAME, LoginTransaction, Transactions, is_valid_state

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = get_logger(__name__)

_SINGLE_VALUED = ("code", "state", "iss", "error", "error_description")
MAX_CALLBACK_QUERY = 8 * 1024
# Two small cookies of ours, in the login cookies' reserved "a0tx." namespace (config refuses a
# session cookie name there). "a0tx.host": /login sent this browser to base_url's host a moment
# ago; seen again, a proxy rewrites Host and another redirect would loop. "a0tx.out": this browser
# has just logged out; a protected page then says so instead of going straight to the provider.
HOST_MOVED_COOKIE, HOST_MOVED_SECONDS = "a0tx.host", 30
SIGNED_OUT_COOKIE, SIGNED_OUT_SECONDS = "a0tx.out", 300
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


def _has_cookie(environ: WSGIEnvironment, name: str) -> bool:
    return bool(cookies.read_cookies(environ.get("HTTP_COOKIE", ""), name).get(name))


def login(request: Request, c: Collaborators) -> Response:
    login_path = c.config.base_path + c.config.login_path
    moved = _other_host(request, c, login_path)
    if isinstance(moved, Response):
        return moved
    return_to = kept_for_login(safe_return_path(query(request).get("return_to")))
    tx, headers = c.transactions.begin(return_to, request.environ, login_path)
    response = responses.redirect(c.client.authorization_url(tx))
    response.headerlist.extend([*headers, *moved])
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
    if _has_cookie(request.environ, HOST_MOVED_COOKIE):
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


def challenge(environ: WSGIEnvironment, c: Collaborators) -> Response:
    """A browser on a protected page without a session goes to login; right after a logout it sees
    a page saying it signed out, with a link to sign in again (once: the marker is deleted)."""
    location = responses.login_location(environ, c.login_url)
    if not _has_cookie(environ, SIGNED_OUT_COOKIE):
        return responses.redirect(location)
    response = c.pages.signed_out(location)
    response.headerlist.append(c.own_cookie(SIGNED_OUT_COOKIE, 0))
    return response


def callback(request: Request, c: Collaborators) -> Response:
    """The provider's redirect back: the session opens, or an error page says why not.

    Either answer sends ``Referrer-Policy: no-referrer``: this URL holds the code and the state,
    which the next page must not leak in a ``Referer``. An error also deletes the attempt's login
    cookie: that login can never complete now, and the cookie would ride on every later callback.
    Its "Try again" starts the same login again: back to the page the attempt was for.
    """
    tx: LoginTransaction | None = None
    try:
        params = _callback_params(request)
        if params.get("state"):  # read once, also for an error: "Try again" goes where it was going
            tx = c.transactions.consume(request.environ, params["state"])
        response = _open_session(request, c, params, tx)
        spent: Headers = []
    except Exception as exc:  # rendered here, like any route's, to send the headers below with it
        response = error_page(request, exc, c, return_to=tx.return_to if tx else None)
        state = query(request).get("state")
        spent = [c.transactions.clear(state)] if state is not None and is_valid_state(state) else []
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headerlist.extend(spent)
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


def _open_session(request: Request, c: Collaborators, params: dict[str, str],
                  tx: LoginTransaction | None) -> Response:
    state = params.get("state", "")
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise RequestError(f"The sign-in was not completed: {reason}", code=_error_code(params["error"]))
    if not state:
        raise RequestError("The sign-in response has no state.", code="missing_state")
    if tx is None:
        raise _no_transaction(request.environ, c)
    _check_issuer(params.get("iss"), c)
    if not params.get("code"):
        raise RequestError("The sign-in response has no code.", code="missing_code")
    tokens = c.client.exchange_code(params["code"], tx.code_verifier)
    claims = c.client.verify_id_token(tokens["id_token"], nonce=tx.nonce)
    _check_what_this_login_asked(claims, tx, c)
    session = _new_session(request, tokens, claims, c)
    response = responses.redirect(c.config.base_url + tx.return_to)
    # A brand-new session: whatever cookie came in is replaced, stale chunks are deleted.
    response.headerlist.extend(c.store.save(request.environ, session))
    response.headerlist.append(c.transactions.clear(state))  # other tabs' logins stay pending
    if _has_cookie(request.environ, SIGNED_OUT_COOKIE):
        response.headerlist.append(c.own_cookie(SIGNED_OUT_COOKIE, 0))
    log.info("login completed for a user; session opened")
    return response


def _check_what_this_login_asked(claims: dict[str, Any], tx: LoginTransaction, c: Collaborators) -> None:
    """The ID token must show what this login asked of the provider (``tx.params``): a step-up's
    ``acr``/``auth_time`` (OIDC Core §3.1.3.7), an invitation's organization."""


def _new_session(request: Request, tokens: dict[str, Any], claims: dict[str, Any],
                 c: Collaborators) -> Session:
    """The session this login opens, with the claims the app will see."""
    return Session.from_token_response(tokens, claims, int(c.clock()))


def _no_transaction(environ: WSGIEnvironment, c: Collaborators) -> RequestError:
    """No login cookie for this state. When this browser holds none at all, and its ``Host`` or
    ``Referer`` is another name for base_url's host, the login began at that other address, whose
    cookies this one cannot see: say so, to the user and to the operator."""
    seen = hosts.alias_seen(environ, c.config.base_url)
    if seen and not cookies.read_matching(environ.get("HTTP_COOKIE", ""), LOGIN_COOKIE_NAME):
        origin = hosts.origin(c.config.base_url)
        log.warning("callback: no login cookie, and the request names host %r while base_url is %s: the "
                    "login most likely started at another address (cookies belong to a host). Open the "
                    "app at base_url's address, or set base_url to the address users open",
                    seen, c.config.base_url)
        return RequestError(f"This sign-in started at another address than {origin}, so it cannot "
                            f"finish here. Open {origin} and sign in again.", code="invalid_state")
    return RequestError("This sign-in link has expired or was already used.", code="invalid_state")


def logout(request: Request, c: Collaborators) -> Response:
    try:
        session = c.store.load(request.environ)
    except DependencyUnavailable:  # the session store is down: still log the browser out
        session = None
    requested = safe_return_path(query(request).get("return_to"), default="")
    target = c.config.base_url + requested if requested else c.config.post_logout_redirect
    headers = c.store.clear(request.environ)
    headers.extend(c.transactions.clear_all(request.environ))
    if session is not None:
        _end_elsewhere(session, c)
    try:
        location = c.client.logout_url(session.id_token if session else None, target)
    except Exception as exc:  # the local session is gone whatever the provider's state
        log.warning("provider unreachable at logout (%s); ending the local session only", type(exc).__name__)
        location = target
    if _is_protected_page(target, c):
        # It would send the browser straight on to the provider's login form, as if the logout had
        # not happened: it says "You are signed out" instead, once (see challenge).
        headers.append(c.own_cookie(SIGNED_OUT_COOKIE, SIGNED_OUT_SECONDS))
    response = responses.redirect(location)
    response.headerlist.extend(headers)
    log.debug("logout: local session cleared")
    return response


def _is_protected_page(url: str, c: Collaborators) -> bool:
    base = c.config.base_url
    if url != base and not url.startswith(base + "/"):
        return False
    path = url[len(base):].partition("?")[0] or "/"
    return c.config.require_auth and not path_is_under(path, c.config.public_paths)


def _end_elsewhere(session: Session, c: Collaborators) -> None:
    """What clearing the store cannot: a copy of a cookie session, the refresh token at the provider.
    Both best effort: the browser is logged out whatever happens here."""
    if session.sid:  # a server-side store deleted the record already; a cookie store needs the list
        try:
            c.logouts.revoke(sid=session.sid, sub=None, at=int(c.clock()))
        except Exception as exc:  # the store being down must not keep anyone logged in
            log.warning("logout: could not record the revoked session (%s)", type(exc).__name__)
    if session.refresh_token:
        c.client.revoke_refresh_token(session.refresh_token)  # never raises


def _callback_params(request: Request) -> dict[str, str]:
    if request.method not in ("GET", "HEAD"):
        raise RequestError("The sign-in response must arrive by GET.", code="invalid_request")
    if len(request.query_string) > MAX_CALLBACK_QUERY:
        raise RequestError("The sign-in response is too large.", code="invalid_request")
    params = parse_qs(request.query_string, keep_blank_values=True, errors="replace")
    for name in _SINGLE_VALUED:
        if len(params.get(name, ())) > 1:
            raise RequestError(f"The sign-in response repeats the parameter {name}.",
                               code="duplicate_parameter")
    return {name: params[name][0] for name in _SINGLE_VALUED if name in params}


def query(request: Request) -> dict[str, str]:
    """The query's first values, decoded leniently: bytes that are not UTF-8 must not crash a route."""
    params = parse_qs(request.query_string, keep_blank_values=True, errors="replace")
    return {name: values[0] for name, values in params.items()}


def _check_issuer(iss: str | None, c: Collaborators) -> None:
    """RFC 9207: the authorization response must come from our issuer (mix-up attacks)."""
    if iss is None:
        if c.client.metadata.get().get("authorization_response_iss_parameter_supported") is True:
            raise RequestError("The sign-in response does not name its issuer.", code="missing_issuer")
        return
    if not hmac.compare_digest(iss.encode(), c.config.issuer.encode()):
        raise RequestError("The sign-in response comes from another issuer.", code="issuer_mismatch")


def _error_code(error: str) -> str:
    known = {"access_denied", "login_required", "consent_required", "interaction_required",
             "invalid_request", "unauthorized_client", "server_error", "temporarily_unavailable"}
    return error if error in known else "authorization_error"
