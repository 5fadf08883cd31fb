"""What a login keeps of the user: the ID token's claims, with ``fetch_userinfo``'s profile,
``on_login``'s answer and ``session_claims``' trim.

A session keeps either the raw ID token (and derives ``auth0.user`` from it) or claims of its own,
when any of these changed them: then the ID token is dropped, so that the cookie holds the user
once. Claims of its own stay as the login left them: a refresh's new ID token is checked (same
``sub``, ``iss`` and ``org_id``) but neither merged nor kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import hooks
from .errors import ProviderError
from .logs import get_logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .config import Config
    from .oidc import OIDCClient

log = get_logger(__name__)

# What the middleware itself reads from a session's claims, kept whatever session_claims says and
# whatever on_login returns: the user and login (sub, sid), the refresh's same-user check (iss),
# step-up (acr, amr, auth_time) and organizations (org_id, org_name).
ALWAYS_KEPT = ("sub", "sid", "iss", "acr", "amr", "auth_time", "org_id", "org_name")
MAX_DEPTH = 32  # nesting of a userinfo answer: a profile needs two or three levels
# Claims only the ID token may set: a userinfo answer naming them is not believed (an ``acr`` from
# there would pass a step-up; an ``iss`` or ``sub`` would make the session someone else's).
REGISTERED = frozenset({*ALWAYS_KEPT, "aud", "azp", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash"})


def for_session(environ: WSGIEnvironment, tokens: dict[str, Any], claims: dict[str, Any],
                config: Config, client: OIDCClient) -> dict[str, Any] | None:
    """The claims a new session stores as its own, or None when it keeps the ID token's as they are.

    ``claims`` are the validated ID token's. Raises what :func:`with_userinfo` and
    :func:`hooks.run_login_hook` raise: the login is then refused.
    """
    user = with_userinfo(claims, client.userinfo(tokens["access_token"])) if config.fetch_userinfo else None
    given = user if user is not None else claims
    returned = hooks.run_login_hook(config.on_login, environ, given, tokens)
    if returned is not None:  # what the middleware checks comes from the ID token alone
        return {**{k: v for k, v in returned.items() if k not in ALWAYS_KEPT}, **needed(claims)}
    if config.session_claims:
        return trimmed(given, config.session_claims)
    return user


def with_userinfo(claims: dict[str, Any], userinfo: dict[str, Any]) -> dict[str, Any]:
    """``userinfo`` merged under the ID token's ``claims``: the ID token's win, and the registered
    claims never come from userinfo. Its ``sub`` must be the ID token's (OIDC Core §5.3.2)."""
    if _depth(userinfo) > MAX_DEPTH:  # the copies and checks down the line recurse
        raise ProviderError("the userinfo endpoint answered claims nested too deep")
    if userinfo.get("sub") != claims["sub"]:
        log.warning("the userinfo endpoint answered for another user than the ID token's: login refused")
        raise ProviderError("the userinfo endpoint answered for another user", code="userinfo_mismatch")
    ignored = sorted(name for name in userinfo if name in REGISTERED and name != "sub")
    if ignored:
        log.info("userinfo: ignoring %s (only the ID token sets them)", ", ".join(ignored))
    return {**{k: v for k, v in userinfo.items() if k not in REGISTERED}, **claims}


def trimmed(claims: dict[str, Any], keep: tuple[str, ...]) -> dict[str, Any]:
    """``claims`` reduced to ``keep`` (``session_claims``) and the ones the middleware needs."""
    wanted = set(keep).union(ALWAYS_KEPT)
    return {name: value for name, value in claims.items() if name in wanted}


def needed(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims of :data:`ALWAYS_KEPT` that ``claims`` hold."""
    return {name: claims[name] for name in ALWAYS_KEPT if name in claims}


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (without recursing: it may be hostile)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
