"""The four routes the middleware owns: login, callback, logout and back-channel logout.

Each takes the WebOb request and the collaborators, and returns a WebOb response; errors are
raised as :class:`Auth0WSGIError` and the middleware renders them with :func:`error_page`, except
the callback's, which it renders itself to add the headers its error pages need too.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from webob import Request, Response

from . import responses
from .config import Config
from .errors import Auth0WSGIError, DependencyUnavailable, RequestError, TokenError
from .logs import get_logger
from .oidc import OIDCClient
from .returnpath import kept_for_login, safe_return_path
from .session import Headers, LogoutRegistry, Session, SessionStore
from .tokens import MAX_LOGOUT_TOKEN_AGE
from .transaction import Transactions, is_valid_state

log = get_logger(__name__)

_SINGLE_VALUED = ("code", "state", "iss", "error", "error_description")
MAX_CALLBACK_QUERY = 8 * 1024
MAX_BACKCHANNEL_BODY = 64 * 1024  # a logout token is at most MAX_TOKEN_LENGTH (16 KB)


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


def login(request: Request, c: Collaborators) -> Response:
    return_to = kept_for_login(safe_return_path(query(request).get("return_to")))
    tx, cookies = c.transactions.begin(return_to, request.environ, c.config.base_path + c.config.login_path)
    response = responses.redirect(c.client.authorization_url(tx))
    response.headerlist.extend(cookies)
    log.debug("login: redirecting to the authorization endpoint")
    return response


def callback(request: Request, c: Collaborators) -> Response:
    """The provider's redirect back: the session opens, or an error page says why not.

    Either answer sends ``Referrer-Policy: no-referrer``: this URL holds the code and the state,
    which the next page must not leak in a ``Referer``. An error also deletes the attempt's login
    cookie: that login can never complete now, and the cookie would ride on every later callback.
    """
    try:
        response = _open_session(request, c)
        spent: Headers = []
    except Exception as exc:  # rendered here, like any route's, to send the headers below with it
        response = error_page(request, exc, c)
        state = query(request).get("state")
        spent = [c.transactions.clear(state)] if state is not None and is_valid_state(state) else []
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headerlist.extend(spent)
    return response


def error_page(request: Request, exc: Exception, c: Collaborators) -> Response:
    """What a route that raised ``exc`` answers: the error's code and message, or a plain 500 for
    anything else (its details go to our log only, never to the browser)."""
    if isinstance(exc, Auth0WSGIError):
        log.warning("%s failed: %s (%s)", request.path_info, exc.code, exc.message)
        return responses.error_response(request.environ, exc, retry_url=c.login_url)
    log.error("unexpected error in %s", request.path_info, exc_info=exc)
    return responses.error_response(request.environ, Auth0WSGIError("Something went wrong."))


def _open_session(request: Request, c: Collaborators) -> Response:
    params = _callback_params(request)
    state = params.get("state", "")
    if "error" in params:
        reason = params.get("error_description") or params["error"]
        raise RequestError(f"The sign-in was not completed: {reason}", code=_error_code(params["error"]))
    if not state:
        raise RequestError("The sign-in response has no state.", code="missing_state")
    tx = c.transactions.consume(request.environ, state)
    if tx is None:
        raise RequestError("This sign-in link has expired or was already used.", code="invalid_state")
    _check_issuer(params.get("iss"), c)
    if not params.get("code"):
        raise RequestError("The sign-in response has no code.", code="missing_code")
    tokens = c.client.exchange_code(params["code"], tx.code_verifier)
    claims = c.client.verify_id_token(tokens["id_token"], nonce=tx.nonce)
    session = Session.from_token_response(tokens, claims, int(c.clock()))
    response = responses.redirect(c.config.base_url + tx.return_to)
    # A brand-new session: whatever cookie came in is replaced, stale chunks are deleted.
    response.headerlist.extend(c.store.save(request.environ, session))
    response.headerlist.append(c.transactions.clear(state))  # other tabs' logins stay pending
    log.info("login completed for a user; session opened")
    return response


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
    response = responses.redirect(location)
    response.headerlist.extend(headers)
    log.debug("logout: local session cleared")
    return response


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


def backchannel_logout(request: Request, c: Collaborators) -> Response:
    """OpenID Connect Back-Channel Logout 1.0: the provider ends a user's sessions server to server."""
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        raise RequestError("POST a form-encoded logout_token.", code="invalid_request")
    length = _content_length(request)
    if length is None or length > MAX_BACKCHANNEL_BODY:  # refused before reading a byte of it
        raise RequestError("The logout request is too large or has no valid length.", code="invalid_request")
    form = parse_qs(request.body_file.read(length).decode("latin-1"), keep_blank_values=True)
    tokens = form.get("logout_token", [])
    if len(tokens) != 1 or not tokens[0]:
        raise RequestError("Exactly one logout_token is needed.", code="invalid_request")
    try:
        claims = c.client.verify_logout_token(tokens[0])
    except TokenError as exc:  # the spec's answer to a bad logout token is invalid_request
        raise RequestError(exc.message, code="invalid_request") from None
    # The jti is claimed only once the sessions are ended: a store that fails in between answers
    # 503, and the provider's retry of the same token must still be able to end them. Two
    # deliveries racing past the check both end the sessions, which is what either would do.
    jti = "jti:" + claims["jti"]
    if c.logouts.is_claimed(jti):
        raise RequestError("This logout token was already used.", code="invalid_request")
    ended = c.logouts.revoke(sid=claims.get("sid"), sub=claims.get("sub"), at=int(c.clock()))
    if not c.logouts.claim_once(jti, ttl=2 * MAX_LOGOUT_TOKEN_AGE):
        log.debug("back-channel logout: a concurrent delivery of the same token claimed it first")
    log.info("back-channel logout: %d server-side session(s) ended", ended)
    response = Response(status=200, content_type="text/plain", charset="utf-8")
    return responses.no_store(response)


def _content_length(request: Request) -> int | None:
    """``Content-Length`` when it is plain digits (RFC 9110: ``1*DIGIT``), else None.

    Not WebOb's ``content_length``: it returns -1 for "-1", which some servers (wsgiref) pass
    through, and ``read(-1)`` reads the whole body whatever its size.
    """
    value = request.environ.get("CONTENT_LENGTH", "")
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 12:
        return None
    return int(value)


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
