"""Pure token rules: ID-token claims, access-token expiry, session claims.

Nothing here does I/O; time is always a parameter so tests can move the clock.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Mapping
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from .errors import TokenError
from .sealing import b64decode

MAX_EXPIRES_IN = 10 * 365 * 86400  # beyond this (or NaN, inf) the value is nonsense: not trusted
MAX_TOKEN_LENGTH = 16 * 1024  # an Auth0 ID token is ~1-2 KB; anything huge is refused unparsed


def registered_claims_or_raise(claims: Mapping[str, Any], what: str, *, now: int, leeway: int,
                               error: type[Exception] = TokenError, **essential: str | None) -> None:
    """joserfc's checks of the registered claims (types, times with leeway); each named claim is
    essential, and must equal (or, for ``aud``, contain) its value when one is given."""
    options: dict[str, Any] = {name: {"essential": True} if value is None else
                               {"essential": True, "value": value} for name, value in essential.items()}
    try:
        JWTClaimsRegistry(now=now, leeway=leeway, **options).validate(dict(claims))
    except JoseError as exc:
        raise error(f"{what} rejected: {exc.error}: {exc.description or ''}".strip()) from None


def check_id_token_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str,
                          nonce: str | None, now: int, leeway: int) -> None:
    """Raise :class:`TokenError` unless the claims are exactly what OIDC Core §3.1.3.7 demands."""
    registered_claims_or_raise(claims, "ID token", now=now, leeway=leeway, iss=issuer, aud=client_id,
                               sub=None, exp=None, iat=None)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise TokenError("ID token rejected: azp must be the client id when aud has several values")
    if nonce is not None:
        received = claims.get("nonce")
        if not isinstance(received, str) or not hmac.compare_digest(received, nonce):
            raise TokenError("ID token rejected: nonce does not match this login")


def check_organization(claims: Mapping[str, Any], organization: str | None) -> None:
    """The organization asked for at /authorize must be the ID token's (Auth0 leaves this to the SDK).

    ``org_…`` is an organization id, compared exactly with ``org_id``; anything else is a name,
    compared case-insensitively with ``org_name``. A missing claim is a mismatch.
    """
    if not organization:
        return
    if organization.startswith("org_"):
        found = claims.get("org_id")
        matches = isinstance(found, str) and hmac.compare_digest(found.encode(), organization.encode())
    else:
        found = claims.get("org_name")
        matches = isinstance(found, str) and found.lower() == organization.lower()
    if not matches:
        raise TokenError("ID token rejected: it is not for the organization this application signs in to",
                         code="organization_mismatch")


def unverified_payload(token: str) -> dict[str, Any] | None:
    """The payload of a JWS we verified earlier (or None when it is not a JWT at all)."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        payload = json.loads(b64decode(parts[1]))
    except (ValueError, RecursionError):  # RecursionError: a payload nested "[[[[…" deeper than the stack
        return None
    return payload if isinstance(payload, dict) else None


def lifetime_seconds(value: object) -> int | None:
    """An ``expires_in``: a number of seconds (or its digits, as some providers send), from 0 to
    ``MAX_EXPIRES_IN``; None for anything else (text, bool, negative, NaN, infinite, absurd)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or not 0 <= value <= MAX_EXPIRES_IN:
        return None
    return int(value)


def access_token_expiry(token_response: Mapping[str, Any], now: int) -> int | None:
    """When the access token expires: ``expires_in``, else a JWT's ``exp``, else unknown (None)."""
    expires_in = lifetime_seconds(token_response.get("expires_in"))
    if expires_in is not None:
        return now + expires_in
    payload = unverified_payload(str(token_response.get("access_token", "")))
    exp = payload.get("exp") if payload else None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and 0 <= exp <= now + MAX_EXPIRES_IN:
        return int(exp)
    return None


def needs_refresh(expires_at: int | None, now: int, leeway: int) -> bool:
    """The literal rule: a token that expires within ``leeway`` seconds is refreshed first."""
    return expires_at is not None and expires_at - now <= leeway


def is_expired(expires_at: int | None, now: int) -> bool:
    return expires_at is not None and expires_at <= now


BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_LOGOUT_TOKEN_AGE = 600  # seconds: an older logout token is refused (jti memory is bounded too)


def check_logout_token_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str,
                              now: int, leeway: int) -> None:
    """OpenID Connect Back-Channel Logout 1.0 §2.6: what makes a logout token acceptable."""
    registered_claims_or_raise(claims, "logout token", now=now, leeway=leeway, iss=issuer, aud=client_id,
                               iat=None, jti=None)
    if claims["iat"] < now - MAX_LOGOUT_TOKEN_AGE - leeway:
        raise TokenError("logout token rejected: too old")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise TokenError("logout token rejected: no back-channel logout event")
    if "nonce" in claims:
        raise TokenError("logout token rejected: it carries a nonce")
    if not any(isinstance(claims.get(name), str) and claims[name] for name in ("sub", "sid")):
        raise TokenError("logout token rejected: neither sub nor sid")
