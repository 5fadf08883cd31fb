"""Which access token a view asks for: the login's API or another one (Multi-Resource Refresh Token).

A login gets an access token for ``audience``; with ``additional_audiences`` the same refresh token
also gets tokens for those APIs (``grant_type=refresh_token`` with ``audience`` and ``scope``).
Any other audience is refused here, before the provider is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from .config import Config
from .errors import AudienceRefused
from .session import ApiToken, Session
from .tokens import unverified_payload

# RFC 6749 §3.3: scope tokens are printable ASCII but space, '"' and '\'; one space between them
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")
MAX_SCOPE_LENGTH = 1000


@dataclass(frozen=True)
class Target:
    """The login's own access token (``audience`` None: ``Session.access_token``) or another API's
    (``Session.apis``) asked with ``scope`` (None: the API's default scopes)."""

    audience: str | None = None
    scope: str | None = None

    def token(self, session: Session) -> tuple[str | None, int | None]:
        """The session's access token for this target and its expiry; (None, None) when it holds
        none (or one asked with another scope: one token per API is kept)."""
        if self.audience is None:
            return session.access_token, session.expires_at
        api = session.api(self.audience)
        return (api.access_token, api.expires_at) if api and api.scope == self.scope else (None, None)


LOGIN_API = Target()


def target_for(config: Config, audience: object, scope: object) -> Target:
    """What ``get_access_token(environ, audience, scope)`` asks for, checked.

    :raises TypeError: ``audience`` or ``scope`` is neither a string nor None.
    :raises ValueError: ``scope`` is not space-separated scope tokens.
    :raises AudienceRefused: (``audience_not_allowed``) ``audience`` is neither ``audience`` nor one
        of ``additional_audiences``.
    """
    if not (audience is None or isinstance(audience, str)) or not (scope is None or isinstance(scope, str)):
        raise TypeError("audience and scope must be strings (or None)")
    if scope is not None and (len(scope) > MAX_SCOPE_LENGTH or not _SCOPE.fullmatch(scope)):
        raise ValueError("scope must be scope names separated by single spaces, e.g. 'read:invoices'")
    if audience is None or audience == config.audience:
        if scope is None:
            return LOGIN_API
        if config.audience is None:
            raise AudienceRefused("No audience is configured to ask a scope of.", audience="",
                                  code="audience_not_allowed")
        return Target(config.audience, scope)  # the login's API with another scope: as another API's
    if audience not in config.additional_audiences:
        shown = audience if len(audience) <= 200 and audience.isprintable() else f"{audience[:200]!r}…"
        raise AudienceRefused(f"The API {shown} is not one this application may call: list it in "
                              "additional_audiences.", audience=audience, code="audience_not_allowed")
    return Target(audience, scope)


def token_is_for(access_token: str, audience: str) -> bool:
    """Whether a JWT access token names ``audience`` in ``aud`` (an opaque token: trusted as asked)."""
    claims = unverified_payload(access_token)
    if claims is None or "aud" not in claims:
        return True
    aud = claims["aud"]
    return audience == aud or (isinstance(aud, list) and audience in aud)


def wrong_audience(target: Target) -> AudienceRefused:
    return AudienceRefused(f"The sign-in provider answered with a token for another API than "
                           f"{target.audience}: is it in the application's refresh token policies?",
                           audience=target.audience or "")


def target_of(result: dict[str, Any]) -> Target:
    """Whom a sealed result is for (a result without ``for``: the login's API, as before MRRT)."""
    audience, scope = result.get("for") or (None, None)
    return Target(audience, scope)


def applied(session: Session, result: dict[str, Any], now: int) -> Session:
    target = target_of(result)
    if "access_token" not in result:  # a token for the wrong API (refused): the rotation only
        return session.with_tokens(access_token=session.access_token, expires_at=session.expires_at,
                                   refresh_token=result["refresh_token"], id_token=result["id_token"],
                                   now=now)
    if target.audience is None:
        return session.with_tokens(access_token=result["access_token"], expires_at=result["expires_at"],
                                   refresh_token=result["refresh_token"], id_token=result["id_token"],
                                   now=now)
    api = ApiToken(target.audience, target.scope, result["access_token"], result["expires_at"])
    return session.with_api(api, refresh_token=result["refresh_token"], id_token=result["id_token"], now=now)


def without_removed_apis(session: Session, config: Config) -> Session:
    """The session without the tokens of APIs no longer configured (never served: their audience is
    refused first; dropped at the next save so that they stop riding in the cookie)."""
    allowed = {config.audience, *config.additional_audiences}
    if all(api.audience in allowed for api in session.apis):
        return session
    return replace(session, apis=tuple(api for api in session.apis if api.audience in allowed))
