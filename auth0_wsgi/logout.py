"""The logout route: ends the local session, what a copy of it could still do, and the provider's."""

from __future__ import annotations

from webob import Request, Response

from . import responses
from .errors import DependencyUnavailable
from .handlers import SIGNED_OUT_COOKIE, SIGNED_OUT_SECONDS, Collaborators, query
from .logs import get_logger
from .paths import path_is_under
from .returnpath import safe_return_path
from .session import Session

log = get_logger(__name__)


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
