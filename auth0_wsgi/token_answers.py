"""What a token-endpoint answer must be: the one place it becomes tokens we use, or an error.

Every grant (code, refresh, another API's refresh) ends here. The answer is untrusted input: each
field we read must be of the type we read it as; a refusal of this grant, the provider's trouble and
an answer we cannot use are told apart, because they mean different things to a session.
"""

from __future__ import annotations

import re
from typing import Any

from . import discovery, tokens
from .errors import Auth0WSGIError, GrantRejected, ProviderError, ProviderUnavailable
from .logs import get_logger

log = get_logger(__name__)

# Errors by which the token endpoint refuses *this* grant; anything else is the provider's trouble.
_GRANT_ERRORS = frozenset({"invalid_grant", "invalid_request", "unauthorized_client", "invalid_scope",
                           "unsupported_grant_type", "invalid_target"})
# What an error code may look like for us to repeat it (RFC 6749's codes are all snake_case).
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TEXT_FIELDS = ("id_token", "refresh_token", "scope")


def token_response(status: int, body: bytes, grant_type: str) -> dict[str, Any]:
    """The one place a token-endpoint answer becomes something we use.

    Returns the response's object with every field we read of the type we read it as; raises
    :class:`GrantRejected` when the provider refuses this grant, :class:`ProviderUnavailable` (503) for
    a 5xx, a 429 (rate limited, whatever its body) or a non-OAuth 4xx (a gateway's page), and
    :class:`ProviderError` (502) for the rest.
    """
    if status >= 500 or status == 429:  # 429: Auth0's rate limits (too_many_requests), a passing state
        raise ProviderUnavailable(f"the token endpoint answered HTTP {status}")
    try:
        answer = discovery.json_object(body, "the token endpoint")
    except ProviderError:
        if status >= 400:
            raise ProviderUnavailable(f"the token endpoint answered HTTP {status}") from None
        raise
    if status != 200 or "error" in answer:
        raise _refusal(answer.get("error"), status, grant_type)
    return _checked_tokens(answer)


def _refusal(error: object, status: int, grant_type: str) -> Auth0WSGIError:
    if not isinstance(error, str) or not _ERROR_CODE.fullmatch(error):
        return ProviderError(f"the token endpoint answered HTTP {status} without a usable error code")
    if error == "invalid_client":  # our configuration, not the user's login: say what to fix
        log.error("the token endpoint refused our client authentication: check client_id and "
                  "the client secret or private key (token_endpoint_auth_method)")
        return ProviderError("The sign-in provider refused this application's credentials.",
                             code="invalid_client")
    if error in _GRANT_ERRORS:
        return GrantRejected(f"the provider refused the {grant_type} grant: {error}", error=error)
    return ProviderError(f"the token endpoint answered error {error}")


def _checked_tokens(answer: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(answer.get("access_token"), str) or not answer["access_token"]:
        raise ProviderError("the token response holds no access_token")
    token_type = answer.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ProviderError("the token response is not of token_type Bearer")
    for name in _TEXT_FIELDS:
        if name in answer and not isinstance(answer[name], str):
            raise ProviderError(f"the token response's {name} is not a string")
    if "expires_in" in answer and tokens.lifetime_seconds(answer["expires_in"]) is None:
        raise ProviderError("the token response's expires_in is not a number of seconds")
    expires_at = answer.get("expires_at")  # not OAuth's, but some clients read it: not left broken either
    if expires_at is not None and (isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))
                                   or expires_at < 0):
        raise ProviderError("the token response's expires_at is not a time")
    return answer
