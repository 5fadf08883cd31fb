"""The logout route: ends the local session, what a copy of it could still do, and the provider's;
with ``?everywhere=1``, every session of the user, on every device (see :mod:`sessions`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from webob import Request, Response

from . import hooks, hosts, responses
from .errors import DependencyUnavailable, RequestError
from .handlers import (
    SIGNED_OUT_COOKIE,
    SIGNED_OUT_SECONDS,
    SILENT_LOGIN_COOKIE,
    Collaborators,
    has_cookie,
    query,
)
from .logs import get_logger
from .paths import path_is_under
from .returnpath import safe_return_path
from .session import Session

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = get_logger(__name__)


def logout(request: Request, c: Collaborators) -> Response:
    params = query(request)
    try:
        session = c.store.load(request.environ)
    except DependencyUnavailable:  # the session store is down: still log the browser out
        if params.get("everywhere") == "1":
            raise  # 503: whose sessions to end is unknown, and a mere logout would look like success
        session = None
    if params.get("everywhere") == "1" and session is not None:
        _end_everywhere(request, session, c)  # first: if it cannot be done, nothing is
    requested = safe_return_path(params.get("return_to"), default="")
    target = c.config.base_url + requested if requested else c.config.post_logout_redirect
    headers = c.store.clear(request.environ)
    headers.extend(c.transactions.clear_all(request.environ))
    if has_cookie(request.environ, SILENT_LOGIN_COOKIE):  # the next visit may try a silent login again
        headers.append(c.own_cookie(SILENT_LOGIN_COOKIE, 0))
    if session is not None:
        _end_elsewhere(session, c)
        hooks.notify(c.config.on_logout, "on_logout", request.environ, dict(session.user))
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


def _end_everywhere(request: Request, session: Session, c: Collaborators) -> None:
    """Every session of this user's ``sub``: records deleted (server-side stores) or the ``sub`` in
    the revocation list (cookie store). Refused cross-site: a link on another site must not end the
    user's sessions on every device. A registry that is down is a 503: the user can try again."""
    sub = session.user.get("sub")
    if not isinstance(sub, str) or not sub:
        return
    if not same_site(request.environ, c.config.base_url):
        raise RequestError("Signing out everywhere must start from a page of this site.",
                           code="cross_site_request")
    ended = c.logouts.revoke(sid=session.sid, sub=sub, at=int(c.clock()))
    log.info("logout everywhere: every session of the user ended (%d server-side records)", ended)


def same_site(environ: WSGIEnvironment, base_url: str) -> bool:
    """Whether the browser says the request comes from base_url's origin (``Sec-Fetch-Site``, else
    ``Origin``, else ``Referer``), or typed by the user (``Sec-Fetch-Site: none``). A request that
    says nothing (an old browser, curl) passes: a forging site cannot remove these headers."""
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site in ("same-origin", "none")
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None:
        return _same_origin(origin, base_url)
    referer = environ.get("HTTP_REFERER")
    if referer:
        return _same_origin(referer, base_url)
    return True


def _same_origin(url: str, base_url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == urlsplit(base_url).scheme and hosts.same_host(parts.netloc, base_url)
