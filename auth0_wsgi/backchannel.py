"""The fourth route: OpenID Connect Back-Channel Logout 1.0, the provider ending a user's sessions
server to server. It takes the WebOb request and the login routes' collaborators, like the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from webob import Request, Response

from . import hooks, responses
from .errors import RequestError, TokenError
from .logs import get_logger
from .tokens import MAX_LOGOUT_TOKEN_AGE

if TYPE_CHECKING:
    from .handlers import Collaborators

log = get_logger(__name__)

MAX_BACKCHANNEL_BODY = 64 * 1024  # a logout token is at most MAX_TOKEN_LENGTH (16 KB)


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
    if c.logouts.claim_once(jti, ttl=2 * MAX_LOGOUT_TOKEN_AGE):
        # Told once per token: the ids are all a logout token names (the sessions may be
        # anywhere, in cookies this route never sees).
        named = {name: claims[name] for name in ("sub", "sid") if name in claims}
        hooks.notify(c.config.on_logout, "on_logout", request.environ, named)
    else:
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
