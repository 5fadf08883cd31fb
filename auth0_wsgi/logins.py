"""What a login asks of the provider beyond the configured parameters, and starting one.

Three things may add ``/authorize`` parameters to a login, each from a trusted source only:

- ``organization`` (the option) on every login;
- an Auth0 invitation link, ``/login?invitation=…&organization=…&organization_name=…``: the two
  parameters Auth0 wants back, after strict checks (the query is untrusted input). Auth0 documents
  ``organization_name`` as a display hint that /authorize does not need: it is checked, then dropped;
- a step-up rule (``step_up``, or a :class:`~auth0_wsgi.StepUpRequired` a view raised): its
  ``acr_values`` and ``max_age``. A /login query never names them: /login takes them from the
  ``step_up`` rule of its ``return_to`` path, so one login meets the rule of the page it returns to.

Every other query parameter of /login is ignored: nothing a link carries reaches /authorize
unchecked. The callback then checks the ID token against what the login asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from webob import Response

from . import hosts, responses, stepup, tokens
from .config import Config
from .errors import Auth0WSGIError, LoginRequired, RequestError, StepUpRequired
from .logs import get_logger
from .paths import path_is_under
from .returnpath import kept_for_login, safe_return_path
from .stepup import StepUpRule

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .handlers import Collaborators
    from .session import Session

log = get_logger(__name__)

INVITATION_QUERY = ("organization", "invitation", "organization_name")
# Auth0 organization ids are org_ and 16 characters, names a-z0-9_- of at most 50 (as the option).
_ORGANIZATION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Invitation tickets are opaque base64url-like ids (about 32 characters).
_INVITATION = re.compile(r"[A-Za-z0-9_-]{1,128}")
# The name is only shown by Auth0's own pages: any printable text, bounded.
_ORGANIZATION_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
STEP_UP_FAILED = "insufficient_user_authentication"


class StepUpUnsatisfiable(RequestError):
    """The app asks for a login its session already meets by our rules (the app checks something
    else): a new login could not help, so the user sees why instead of being sent round again."""

    code = STEP_UP_FAILED
    status = 403


def login_params(query: Mapping[str, str], return_to: str, config: Config) -> dict[str, str]:
    """The parameters a /login request asks for: the organization (configured or an invitation's)
    and the step-up rule of ``return_to``'s path. Raises :class:`RequestError` for a bad invitation."""
    params = invitation_params(query, config)
    rule = rule_for_path(unquote(return_to.partition("?")[0]), config)
    if rule is not None:
        params.update(rule.authorize_params())
    return params


def invitation_params(query: Mapping[str, str], config: Config) -> dict[str, str]:
    """``organization`` and ``invitation`` from an invitation link, checked; else the configured
    organization. Refused when it names another organization than the configured one."""
    given = {name: query[name] for name in INVITATION_QUERY if name in query}
    if not given.keys() & {"organization", "invitation"}:
        return {"organization": config.organization} if config.organization else {}
    organization, invitation = given.get("organization"), given.get("invitation")
    if organization is None or not _ORGANIZATION.fullmatch(organization):
        raise RequestError("This invitation link names no valid organization.", code="invalid_request")
    if invitation is not None and not _INVITATION.fullmatch(invitation):
        raise RequestError("This invitation link is malformed.", code="invalid_request")
    name = given.get("organization_name")
    if name is not None and not _ORGANIZATION_NAME.fullmatch(name):
        raise RequestError("This invitation link names no valid organization.", code="invalid_request")
    if config.organization and not _may_be_same(config.organization, organization):
        log.warning("login: an invitation link for another organization than the configured one was refused")
        raise RequestError("This invitation is for another organization than this site signs in to.",
                           code="organization_mismatch")
    params = {"organization": organization}
    if invitation is not None:
        params["invitation"] = invitation
    return params


def _may_be_same(configured: str, linked: str) -> bool:
    """False only when the two certainly name different organizations: an id and a name may be the
    same one (Auth0's links carry the id), and the callback then checks the ID token for both."""
    if configured.startswith("org_") != linked.startswith("org_"):
        return True
    return configured == linked if configured.startswith("org_") else configured.lower() == linked.lower()


def rule_for_path(path: str, config: Config) -> StepUpRule | None:
    """The ``step_up`` rule of ``path``; none under ``public_paths`` (they are served without a
    login, so they cannot demand a stronger one)."""
    rule = stepup.rule_for(path, config.step_up)
    if rule is None or path_is_under(path, config.public_paths):
        return None
    return rule


def login_claims(session: Session) -> Mapping[str, Any]:
    """The claims a step-up rule is checked against: the ID token's as the callback (or a refresh)
    verified them, or, for a session that keeps claims of its own, those (``acr``, ``amr`` and
    ``auth_time`` are always kept: :data:`claims.ALWAYS_KEPT`). The callback refuses a login that
    falls short, so a session it opens after a step-up meets its rule: no redirect loop."""
    return tokens.unverified_payload(session.id_token) or session.user


def falls_short(session: Session | None, rule: StepUpRule, config: Config,
                clock: Callable[[], float]) -> bool:
    """Whether ``session`` misses ``rule`` (a session a view's forced refresh ended misses it)."""
    if session is None:
        return True
    reason = stepup.unmet(login_claims(session), rule, now=int(clock()), leeway=config.clock_skew)
    if reason is not None:
        log.debug("step-up: the session falls short of the rule for %s (%s)", rule.prefix or "a view",
                  reason)
    return reason is not None


def asked_by_app(environ: WSGIEnvironment, c: Collaborators, session: Session | None,
                 exc: StepUpRequired) -> Response:
    """The step-up a view asked for by raising ``exc``; an error page when the session already
    meets it by our rules (the app checks something else: another login could not help)."""
    rule = stepup.requested(exc.acr_values, exc.max_age)
    if rule is None or not falls_short(session, rule, c.config, c.clock):
        return unsatisfiable(environ, c)
    return step_up(environ, c, rule)


def begin(environ: WSGIEnvironment, c: Collaborators, return_to: str, params: dict[str, str]) -> Response:
    """A new login asking ``params`` of the provider: a redirect to its ``/authorize``."""
    tx, headers = c.transactions.begin(return_to, environ, c.config.cookie_path, params)
    response = responses.redirect(c.client.authorization_url(tx))
    response.headerlist.extend(headers)
    return response


def step_up(environ: WSGIEnvironment, c: Collaborators, rule: StepUpRule) -> Response:
    """What a request whose session falls short of ``rule`` gets: a browser's page navigation goes
    through a new login asking for it, back to the same page (the session stays until that login
    replaces it); anything else (XHR, an API client, a POST whose body a redirect would lose) gets
    401 with the RFC 9470 challenge."""
    if not responses.is_browser_navigation(environ):
        error = LoginRequired("This request needs a stronger or more recent sign-in.", code=STEP_UP_FAILED)
        response = c.pages.error(environ, error, as_json=True)
        response.headers["WWW-Authenticate"] = stepup.challenge(rule)
        return response
    if rule.prefix and hosts.other_host(environ, c.config.base_url) is not None:
        # The login cookie must land where the callback reads it: /login on base_url's host, which
        # takes the rule from return_to's path. A view's rule cannot travel there (no link adds
        # /authorize parameters), and /login would start a login without it, back to the view, which
        # asks again: a loop behind a proxy that rewrites Host. So a view's rule starts here.
        return responses.redirect(responses.login_location(environ, c.login_url))
    return_to = kept_for_login(safe_return_path(responses.original_path(environ)))
    params = {**invitation_params({}, c.config), **rule.authorize_params()}
    log.debug("step-up: redirecting to the authorization endpoint for a stronger or more recent login")
    try:
        return begin(environ, c, return_to, params)
    except Auth0WSGIError as error:  # discovery or the PAR endpoint down: a 503 page, never a 500
        log.warning("step-up: the login could not start: %s (%s)", error.code, error.message)
        return c.pages.error(environ, error)


def unsatisfiable(environ: WSGIEnvironment, c: Collaborators) -> Response:
    """The app asked for a step-up the session already meets: an error page, never a login loop."""
    log.warning("step-up: the app asks for a login its session already meets (acr/amr/auth_time); "
                "not sending the user round again: check what the view or the API really checks")
    error = StepUpUnsatisfiable("This page asks for a kind of sign-in this site's provider did not give. "
                                "Please contact the site's operator.")
    return c.pages.error(environ, error, retry_url=c.config.base_url + "/")
