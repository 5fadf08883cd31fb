"""The API side of "call my API": a filter that requires a valid Auth0 access token (RFC 6750).

``[filter:auth] use = egg:auth0-wsgi#api``. Each request must carry ``Authorization: Bearer <JWT>``,
verified against the provider's cached JWKS with pinned algorithms, the exact issuer, this API's
audience and the token's times; its claims reach the app as ``environ["auth0.claims"]``. A token is
accepted from the header only: one in the URL or a form body is refused, since URLs end up in logs.
Nothing here logs a token.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, KeySet
from webob import Request, Response
from webob.request import DisconnectionError

from . import bearer, options, responses, stepup
from .bearer import BearerError, InsufficientScope, InvalidRequest, InvalidToken, MissingToken
from .discovery import Metadata, SigningKeys
from .environ import CLAIMS
from .errors import ProviderError, ProviderUnavailable
from .logs import get_logger
from .paths import path_is_under
from .stepup import StepUpRule

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack  # for type checkers only: no runtime dependency

    from .settings import ResourceServerSettings

log = get_logger(__name__)

MAX_FORM_SCAN = 1024 * 1024  # larger form bodies are not read for a stray access_token
# When this filter verified the request's token, and its clock_skew: what requires_step_up measures
# max_age with, so a view agrees with the filter (and with a test's clock). Ours alone, like CLAIMS.
VERIFIED_AT = "auth0_wsgi.resource_server.verified_at"

__all__ = ["CLAIMS", "ResourceServerConfig", "ResourceServerMiddleware", "get_claims", "has_scopes",
           "requires_scopes", "requires_step_up"]


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceServerConfig:
    """The filter's options (the table :data:`~auth0_wsgi.options.API`), parsed and checked.

    Build it with :meth:`from_settings`.
    """

    issuer: str
    audience: str
    required_scopes: tuple[str, ...] = ()
    public_paths: tuple[str, ...] = ()
    step_up: tuple[StepUpRule, ...] = ()
    clock_skew: int = 60
    http_timeout: float = 5.0
    algorithms: tuple[str, ...] = ("RS256",)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None) -> ResourceServerConfig:
        """Build from kwargs or ini values; missing options fall back to ``AUTH0_<OPTION>``."""
        values = options.read(options.API, dict(settings or {}), os.environ if environ is None else environ)
        return cls(**values)


# -- verification ---------------------------------------------------------------------------------
class AccessTokenVerifier:
    """Signature (pinned algorithms, cached JWKS), then the claim rules of :mod:`bearer`."""

    def __init__(self, config: ResourceServerConfig, http: requests.Session | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        http = http or requests.Session()
        self.metadata = Metadata(config.issuer, http, config.http_timeout, clock)
        self.keys = SigningKeys(lambda: self.metadata.get()["jwks_uri"], http, config.http_timeout, clock)

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims; raises InvalidToken, or ProviderError when the keys are out of reach."""
        try:
            decoded = jwt.decode(token, self._key_for, algorithms=list(self.config.algorithms))
        except JoseError as exc:
            reason = exc.description or exc.error.replace("_", " ")
            raise InvalidToken(f"Access token rejected: {reason}") from None
        except (ValueError, TypeError):
            raise InvalidToken("Access token rejected: malformed") from None
        claims = dict(decoded.claims)
        bearer.check_access_token_claims(claims, issuer=self.config.issuer, audience=self.config.audience,
                                         now=int(self.clock()), leeway=self.config.clock_skew)
        return claims

    def _key_for(self, guest: GuestProtocol) -> KeySet:
        kid = guest.headers().get("kid")
        return self.keys.get(kid if isinstance(kid, str) else None)


# -- the filter -----------------------------------------------------------------------------------
class ResourceServerMiddleware:
    """Requires a valid Bearer access token for the wrapped API; see docs/resource-server.md.

    ``ResourceServerMiddleware(app, domain=..., audience=...)``: keyword arguments mirror the ini keys.

    :param app: the WSGI application (the API) to protect.
    :param config: a ready :class:`ResourceServerConfig`, instead of keyword settings.
    :param settings: the options (:class:`~auth0_wsgi.settings.ResourceServerSettings`), as ini
        strings or native values; a missing one falls back to ``AUTH0_<OPTION>``.
    :param clock: the time source in seconds since the epoch (default ``time.time``) for the tokens'
        times and the JWKS cache; tests pass one they can move. Not an option (see ``middleware``).
    :raises ConfigError: at start-up, naming the first unknown, wrong or missing option and the fix.
    :raises TypeError: when both ``config`` and keyword settings are given.
    """

    def __init__(self, app: WSGIApplication, config: ResourceServerConfig | None = None, /, *,
                 clock: Callable[[], float] = time.time, **settings: Unpack[ResourceServerSettings]) -> None:
        if config is not None and settings:
            raise TypeError("pass either a ResourceServerConfig or keyword settings, not both")
        self.app = app
        self.config = config or ResourceServerConfig.from_settings(settings)
        self.clock = clock
        self.verifier = AccessTokenVerifier(self.config, clock=clock)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ.pop(CLAIMS, None)  # only this filter may set them
        environ.pop(VERIFIED_AT, None)
        path = environ.get("PATH_INFO") or "/"
        if self._is_public(path):
            log.debug("public path: passing through")
            return self.app(environ, start_response)
        try:
            environ[CLAIMS] = self._authenticate(environ, path)
        except BearerError as error:
            level = logging.DEBUG if isinstance(error, MissingToken) else logging.INFO
            log.log(level, "bearer request refused: %s (%s)", error.code, error.message)
            return bearer_response(error)(environ, start_response)
        except ProviderError as error:
            log.warning("cannot verify access tokens now: %s (%s)", error.code, error.message)
            return _unavailable()(environ, start_response)
        return self.app(environ, start_response)

    def _authenticate(self, environ: WSGIEnvironment, path: str) -> dict[str, Any]:
        if bearer.has_access_token_param(environ.get("QUERY_STRING", "")) or _form_has_token(environ):
            raise InvalidRequest("Send the access token in the Authorization header only, "
                                 "never in the URL or the request body.")
        claims = self.verifier.verify(bearer.token_from_header(environ.get("HTTP_AUTHORIZATION")))
        if bearer.missing_scopes(claims, self.config.required_scopes):
            raise InsufficientScope(self.config.required_scopes)
        # Last: a token that is not for this API at all is refused for that, not sent to log in again.
        # The access token's own acr/amr/auth_time (RFC 9068 §2.2.1): Auth0 documents them for ID
        # tokens and reserves the names (Actions cannot forge them); docs/resource-server.md, Step-up.
        now, leeway = int(self.clock()), self.config.clock_skew
        rule = stepup.rule_for(path, self.config.step_up)
        reason = rule and stepup.unmet(claims, rule, now=now, leeway=leeway)
        if rule and reason:
            raise bearer.InsufficientUserAuthentication(rule, reason)
        environ[VERIFIED_AT] = (now, leeway)
        return claims

    def _is_public(self, path: str) -> bool:
        return path_is_under(path, self.config.public_paths)


def _form_has_token(environ: WSGIEnvironment) -> bool:
    """Reads a form body (seekably: the app still gets all of it) to look for ``access_token``."""
    request = Request(environ)
    if request.content_type != "application/x-www-form-urlencoded" or not request.is_body_readable:
        return False
    length = request.content_length
    if length is None or length > MAX_FORM_SCAN:
        log.debug("form body not scanned for access_token (length %s)", length)
        return False
    try:
        body = request.body
    except DisconnectionError:  # a Content-Length the client did not keep
        raise InvalidRequest("The request body is shorter than its Content-Length.") from None
    return bearer.has_access_token_param(body.decode("latin-1"))


def bearer_response(error: BearerError) -> Response:
    """The JSON error with its RFC 6750 ``WWW-Authenticate`` challenge."""
    response = Response(status=error.status, content_type="application/json", charset="utf-8")
    response.text = json.dumps({"error": error.code, "error_description": error.message})
    response.headers["WWW-Authenticate"] = error.challenge()
    response.headers["X-Content-Type-Options"] = "nosniff"
    return responses.no_store(response)


def _unavailable() -> Response:
    """A 503 for every provider trouble: clients retry, and the details are in our log, not theirs."""
    response = Response(status=503, content_type="application/json", charset="utf-8")
    response.text = json.dumps({"error": ProviderUnavailable.code, "error_description":
                                "The identity provider's keys cannot be fetched now; retry later."})
    response.headers["Retry-After"] = str(ProviderUnavailable.retry_after)
    return responses.no_store(response)


# -- for views ------------------------------------------------------------------------------------
def get_claims(environ: WSGIEnvironment) -> dict[str, Any] | None:
    """The verified access token's claims (``environ["auth0.claims"]``).

    :param environ: the WSGI environ of a request that passed through :class:`ResourceServerMiddleware`.
    :return: the claims as a ``dict``, or None when the filter did not authenticate the request (a
        public path, or no filter in front of the app).
    """
    claims: dict[str, Any] | None = environ.get(CLAIMS)
    return claims


def has_scopes(environ: WSGIEnvironment, *scopes: str) -> bool:
    """Whether the request's token grants every scope (in ``scope`` or Auth0's ``permissions``).

    :param environ: the WSGI environ of a request that passed through :class:`ResourceServerMiddleware`.
    :param scopes: the scope names that must all be granted; none at all asks only for a verified token.
    :return: False as well when the request carries no verified token.
    """
    claims = get_claims(environ)
    return claims is not None and not bearer.missing_scopes(claims, scopes)


def requires_scopes(*scopes: str) -> Callable[[WSGIApplication], WSGIApplication]:
    """Decorate a WSGI callable: 403 ``insufficient_scope`` unless the token grants every scope.

    A request without a verified token gets 401 ``missing_token``; the JSON error carries an RFC 6750
    ``WWW-Authenticate`` challenge naming every required scope.

    :param scopes: the scope names the route needs, all of them.
    :return: the decorator, which wraps the WSGI callable (keeping its name and docstring).
    :raises ValueError: at decoration time, for a name that cannot appear in a scope claim (a space,
        a quote, a backslash).
    """
    required = bearer.check_scope_tokens(scopes)
    return _guarded_by(lambda environ, claims: None if has_scopes(environ, *required)
                       else InsufficientScope(required))


def requires_step_up(*, acr_values: str | Iterable[str] = (),
                     max_age: int | None = None) -> Callable[[WSGIApplication], WSGIApplication]:
    """Decorate a WSGI callable: 401 ``insufficient_user_authentication`` unless the token's login
    meets the rule, as the ``step_up`` option does for a path (RFC 9470).

    The token's ``acr`` must be one of ``acr_values`` (for Auth0's multi-factor policy, ``amr``
    containing ``mfa`` also counts), and its ``auth_time`` no older than ``max_age`` seconds, measured
    with the filter's clock and ``clock_skew``. The JSON error's ``WWW-Authenticate`` challenge names
    both, so the client can log in again asking for them. A request without a verified token gets
    401 ``missing_token``.

    :param acr_values: the acceptable ``acr`` values, space-separated or a sequence (empty: any).
    :param max_age: the greatest acceptable age of the login in seconds (None: any).
    :return: the decorator, which wraps the WSGI callable (keeping its name and docstring).
    :raises ValueError: at decoration time, when neither is given, or for an acr value with a space,
        a quote, a comma or a backslash, or an age that is not a whole number of seconds.
    """
    values = tuple(acr_values.split() if isinstance(acr_values, str) else acr_values)
    rule = stepup.StepUpRule(values, max_age)
    if not values and max_age is None:
        raise ValueError("requires_step_up needs acr_values, max_age, or both")
    stepup.challenge(rule)  # raises ValueError now for what could not stand in the challenge

    def refusal(environ: WSGIEnvironment, claims: dict[str, Any]) -> BearerError | None:
        now, leeway = environ.get(VERIFIED_AT) or (int(time.time()), 0)
        reason = stepup.unmet(claims, rule, now=now, leeway=leeway)
        return bearer.InsufficientUserAuthentication(rule, reason) if reason else None
    return _guarded_by(refusal)


def _guarded_by(refusal: Callable[[WSGIEnvironment, dict[str, Any]], BearerError | None]
                ) -> Callable[[WSGIApplication], WSGIApplication]:
    """The decorator of a route helper: 401 ``missing_token`` without a token the filter verified,
    else ``refusal``'s error for its claims, if any (with its challenge), else the route itself."""
    def decorate(app: WSGIApplication) -> WSGIApplication:
        @functools.wraps(app)
        def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            claims = get_claims(environ)
            error = (MissingToken("This route needs an Authorization: Bearer access token.")
                     if claims is None else refusal(environ, claims))
            if error is None:
                return app(environ, start_response)
            log.debug("route refused: %s", error.code)
            return bearer_response(error)(environ, start_response)
        return guarded
    return decorate
