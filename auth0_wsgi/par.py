"""Pushed authorization requests (PAR, RFC 9126): whether a login pushes, where, and what the answer
may be.

With PAR the authorization parameters (PKCE challenge, state, nonce, audience, step-up…) travel in
an authenticated POST from the server, never in the browser's URL, where an extension, a proxy log
or the user could read or change them; the browser gets ``client_id`` and ``request_uri`` only.
The PAR endpoint's answer is untrusted like any provider answer: a ``request_uri`` that is not a short
plain string, or an ``expires_in`` that is not a number, is refused here, before a browser sees it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.urls import add_params_to_uri

from . import discovery, tokens
from .errors import ProviderError, ProviderUnavailable
from .logs import get_logger

log = get_logger(__name__)

WHAT = "the PAR endpoint (pushed_authorization_request_endpoint)"
# RFC 9126 leaves request_uri opaque; Auth0's and node-oidc-provider's are ~70 characters. 512
# printable characters without spaces leave room for any sane one and keep the browser's URL short.
_REQUEST_URI = re.compile(r"[\x21-\x7e]{1,512}")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def wanted(setting: str, metadata: dict[str, Any]) -> bool:
    """``pushed_authorization_requests``: ``true``, ``false``, or ``auto`` (what discovery requires)."""
    if setting == "auto":
        return metadata.get("require_pushed_authorization_requests") is True
    return setting == "true"


def endpoint(metadata: dict[str, Any], issuer: str) -> str:
    """Discovery's ``pushed_authorization_request_endpoint``, or a 502 that names it."""
    url = metadata.get("pushed_authorization_request_endpoint")
    if not isinstance(url, str) or not url or not discovery.same_security(url, issuer):
        raise ProviderError("PAR is required (pushed_authorization_requests, or discovery's "
                            "require_pushed_authorization_requests) but discovery has no usable "
                            "pushed_authorization_request_endpoint: enable PAR at the provider, or "
                            "set pushed_authorization_requests = false", code="par_unavailable")
    return url


def form(url: str, auth_method: str) -> dict[str, str]:
    """What is pushed: the parameters of the authorization URL ``url``, but ``client_id`` when the
    client authentication adds it (``client_secret_post``, ``private_key_jwt``): sent twice, it is refused."""
    pushed = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if auth_method != "client_secret_basic":
        pushed.pop("client_id", None)
    return pushed


def browser_url(authorization_endpoint: str, client_id: str, request_uri: str) -> str:
    """Where the browser goes after a push: nothing of the login in it but the ``request_uri``."""
    log.debug("login: authorization parameters pushed to the PAR endpoint")
    return str(add_params_to_uri(authorization_endpoint, [("client_id", client_id),
                                                          ("request_uri", request_uri)]))


def request_uri(status: int, body: bytes) -> str:
    """The ``request_uri`` of a PAR answer (RFC 9126 §2.2: 201, sometimes 200), or an error
    classified as at the token endpoint: a 5xx, a 429 or a non-OAuth 4xx is :class:`ProviderUnavailable`
    (503), an OAuth error or an unusable answer :class:`ProviderError` (502)."""
    if status >= 500 or status == 429:  # 429: rate limited (Auth0's too_many_requests), a passing state
        raise ProviderUnavailable(f"{WHAT} answered HTTP {status}")
    try:
        answer = discovery.json_object(body, WHAT)
    except ProviderError:
        if status >= 400:
            raise ProviderUnavailable(f"{WHAT} answered HTTP {status}") from None
        raise
    if status not in (200, 201) or "error" in answer:
        raise _refusal(answer.get("error"), status)
    uri = answer.get("request_uri")
    if not isinstance(uri, str) or not _REQUEST_URI.fullmatch(uri):
        raise ProviderError(f"{WHAT} answered no usable request_uri")
    if tokens.lifetime_seconds(answer.get("expires_in")) is None:
        raise ProviderError(f"{WHAT} answered no usable expires_in")
    return uri


def _refusal(error: object, status: int) -> ProviderError:
    if not isinstance(error, str) or not _ERROR_CODE.fullmatch(error):
        return ProviderError(f"{WHAT} answered HTTP {status} without a usable error code")
    if error == "invalid_client":
        log.error("%s refused our client authentication: check client_id and the client secret or "
                  "private key (token_endpoint_auth_method)", WHAT)
    return ProviderError(f"{WHAT} refused the login's parameters: {error}")
