"""The callback route: the provider's redirect back, where a login completes or fails.

It checks the response (state, issuer, code) before any token request, exchanges the code,
validates the ID token against what this login asked for, and opens the session.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from webob import Request, Response

from . import cookies, hosts, responses, stepup
from .claims import for_session as claims_for_session
from .errors import RequestError
from .handlers import SIGNED_OUT_COOKIE, SILENT_LOGIN_ERRORS, Collaborators, error_page, has_cookie, query
from .logins import STEP_UP_FAILED
from .logs import get_logger
from .session import Headers, Session
from .tokens import check_organization
from .transaction import LOGIN_COOKIE_NAME, LoginTransaction, is_valid_state

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = get_logger(__name__)

_SINGLE_VALUED = ("code", "state", "iss", "error", "error_description")
MAX_CALLBACK_QUERY = 8 * 1024


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


def _open_session(request: Request, c: Collaborators, params: dict[str, str],
                  tx: LoginTransaction | None) -> Response:
    state = params.get("state", "")
    if "error" in params:
        if tx is not None and tx.params.get("prompt") == "none" and params["error"] in SILENT_LOGIN_ERRORS:
            # A silent login the provider could not complete without a page: the page, anonymous.
            log.debug("callback: silent login declined (%s); back to the page", params["error"])
            response = responses.redirect(c.config.base_url + tx.return_to)
            response.headerlist.append(c.transactions.clear(state))
            return response
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
    if has_cookie(request.environ, SIGNED_OUT_COOKIE):
        response.headerlist.append(c.own_cookie(SIGNED_OUT_COOKIE, 0))
    log.info("login completed for a user; session opened")
    return response


def _check_what_this_login_asked(claims: dict[str, Any], tx: LoginTransaction, c: Collaborators) -> None:
    """The ID token must show what this login asked of the provider (``tx.params``): a step-up's
    ``acr``/``auth_time`` (OIDC Core §3.1.3.7), an invitation's organization. A login that falls
    short is refused here, so the session it would open never lacks what its page needs (and no
    redirect loop can follow); the session from before it stays as it was."""
    check_organization(claims, tx.params.get("organization"))
    rule = stepup.requested(tx.params.get("acr_values"), tx.params.get("max_age"))
    now, leeway = int(c.clock()), c.config.clock_skew
    reason = None if rule is None else stepup.unmet(claims, rule, now=now, leeway=leeway)
    if reason is not None:
        log.warning("callback: the ID token does not show the step-up this login asked for (%s): refused",
                    reason)
        raise RequestError("This sign-in did not meet what the page asks for (a second factor, or a "
                           "recent sign-in). Please try again.", code=STEP_UP_FAILED)


def _new_session(request: Request, tokens: dict[str, Any], claims: dict[str, Any],
                 c: Collaborators) -> Session:
    """The session this login opens, with the claims the app will see (see :mod:`claims`)."""
    user = claims_for_session(request.environ, tokens, claims, c.config, c.client)
    if user is None:
        session = Session.from_token_response(tokens, claims, int(c.clock()))
    else:
        session = Session.from_kept_claims(tokens, user, int(c.clock()))
    return _after_any_recorded_logout(session, c)


def _after_any_recorded_logout(session: Session, c: Collaborators) -> Session:
    """A login completed now is newer than every logout already recorded, whatever the clocks say:
    a cookie session counts as logged out when created at or before its ``sub``'s logout time, and
    that time may be ahead of ours (the same second, or a clock stepped back since), which would
    refuse every new login of the user until the clock passes it."""
    revoked_at = getattr(c.logouts, "revoked_at", None)  # the cookie store's revocation list only
    logged_out = revoked_at(session) if revoked_at is not None else None
    if logged_out is None or logged_out < session.created_at:
        return session
    return dataclasses.replace(session, created_at=logged_out + 1)


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
