"""Pure RFC 6750 rules for the resource server: where a token may come from, its claims, its scopes.

Nothing here does I/O; time is a parameter. The errors carry everything a response needs (status,
RFC 6750 error code, the ``WWW-Authenticate`` challenge), so one function can answer any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from . import stepup
from .errors import Auth0WSGIError
from .tokens import MAX_TOKEN_LENGTH, registered_claims_or_raise

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# RFC 6749 §3.3 scope-token; also what may stand inside the challenge's quoted scope="...".
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
# RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")


class BearerError(Auth0WSGIError):
    """A request the resource server refuses; ``error`` is the RFC 6750 code for the challenge."""

    error: str | None = None  # None: the bare challenge of RFC 6750 §3.1 (no credentials at all)

    def challenge(self) -> str:
        if self.error is None:
            return "Bearer"
        description = _NOT_DESCRIPTION_CHARS.sub("?", self.message)
        return f'Bearer error="{self.error}", error_description="{description}"'


class MissingToken(BearerError):
    code, status = "missing_token", 401


class InvalidRequest(BearerError):
    code, status, error = "invalid_request", 400, "invalid_request"


class InvalidToken(BearerError):
    code, status, error = "invalid_token", 401, "invalid_token"


class InsufficientScope(BearerError):
    code, status, error = "insufficient_scope", 403, "insufficient_scope"

    def __init__(self, required: Iterable[str]) -> None:
        self.required = tuple(required)
        super().__init__(f"This request needs the scopes: {' '.join(self.required)}")

    def challenge(self) -> str:
        return f'{super().challenge()}, scope="{" ".join(self.required)}"'


class InsufficientUserAuthentication(BearerError):
    """RFC 9470: the token is good, but the login behind it is too weak or too old for this path.

    401, not 403: the client can fix it with a new login asking for ``rule`` (the challenge says how).
    """

    code, status, error = "insufficient_user_authentication", 401, "insufficient_user_authentication"

    def __init__(self, rule: stepup.StepUpRule, reason: str) -> None:
        self.rule, self.reason = rule, reason
        needs = "a more recent login" if reason.startswith("auth_time") else "a stronger login"
        super().__init__(f"This request needs {needs}.")

    def challenge(self) -> str:
        return stepup.challenge(self.rule, self.message)


def token_from_header(value: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235)."""
    if value is None or not value.strip():
        raise MissingToken("This API needs an Authorization: Bearer access token.")
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        # Another scheme (Basic, Digest…) carries no Bearer credentials: challenge, don't scold.
        raise MissingToken("This API needs an Authorization: Bearer access token.")
    token = rest.strip(" ")
    if not token:  # RFC 6750 §3.1: no credentials at all, as Auth0's own API middleware answers
        raise MissingToken("This API needs an Authorization: Bearer access token.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("The access token is too large.")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("The Authorization header must hold exactly one Bearer token.")
    return token


def has_access_token_param(urlencoded: str) -> bool:
    """Whether a query string or form body carries ``access_token`` (RFC 6750 §2.2, §2.3)."""
    return any(unquote_plus(pair.partition("=")[0]) == "access_token" for pair in urlencoded.split("&"))


def check_access_token_claims(claims: Mapping[str, Any], *, issuer: str, audience: str,
                              now: int, leeway: int) -> None:
    """Raise :class:`InvalidToken` unless the claims make this a live token for this API."""
    registered_claims_or_raise(claims, "Access token", now=now, leeway=leeway, error=InvalidToken,
                               iss=issuer, aud=audience, sub=None, exp=None)
    granted_scopes(claims)  # a malformed scope or permissions claim is the token's fault


def granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The ``scope`` claim's words plus Auth0 RBAC's ``permissions`` array."""
    scope = claims.get("scope", "")
    permissions = claims.get("permissions", [])
    if not isinstance(scope, str):
        raise InvalidToken("The access token's scope claim is not a string.")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise InvalidToken("The access token's permissions claim is not a list of strings.")
    return frozenset(scope.split()) | frozenset(permissions)


def missing_scopes(claims: Mapping[str, Any], required: Iterable[str]) -> tuple[str, ...]:
    granted = granted_scopes(claims)
    return tuple(scope for scope in required if scope not in granted)


def check_scope_tokens(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scope names, deduplicated; each must be a valid RFC 6749 scope-token (``ValueError``)."""
    checked = tuple(dict.fromkeys(scopes))
    for scope in checked:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"{scope!r} is not a valid scope name")
    return checked

