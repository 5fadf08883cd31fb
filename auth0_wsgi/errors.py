"""A small exception tree with stable machine codes.

Every error a user can meet has a ``code`` (shown on error pages and in JSON bodies, stable across
releases so that clients and dashboards can match on it) and an HTTP ``status``. Messages never
contain a token, a code, a verifier or a secret.

    Auth0WSGIError                      500 server_error
    ├── ConfigError                     at start-up: names the option and the fix
    ├── RequestError                    400 (the browser sent something we refuse)
    ├── LoginRequired                   401
    ├── TokenError, GrantRejected       400
    ├── ProviderError                   502 (an answer we cannot use)
    ├── bearer.BearerError              the resource server's 401/403 (RFC 6750 challenges)
    └── DependencyUnavailable           503 + Retry-After
        ├── ProviderUnavailable         provider_unavailable (also a ProviderError)
        └── StoreUnavailable            session_store_unavailable
"""

from __future__ import annotations


class Auth0WSGIError(Exception):
    """Base of every error raised by auth0-wsgi."""

    code = "server_error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigError(Auth0WSGIError, ValueError):
    """The configuration is wrong: raised at start-up, naming the option and the fix."""

    code = "configuration_error"

    def __init__(self, option: str, problem: str, fix: str = "") -> None:
        self.option = option
        text = f"auth0-wsgi: option '{option}': {problem}"
        if fix:
            text += f"; {fix}"
        super().__init__(text)


class RequestError(Auth0WSGIError):
    """The browser sent something we refuse (a bad callback, a forged state…): a 4xx."""

    code = "invalid_request"
    status = 400


class LoginRequired(Auth0WSGIError):
    """No valid session for a request that needs one."""

    code = "login_required"
    status = 401


class ProviderError(Auth0WSGIError):
    """The provider answered, but with something we cannot use (HTML, a 4xx page, bad JSON): a 502.

    A 5xx from the provider is :class:`ProviderUnavailable` (a 503): it says "try again later".
    """

    code = "provider_error"
    status = 502


class DependencyUnavailable(Auth0WSGIError):
    """Something a request needs cannot be reached now: a 503 with ``Retry-After``, worth retrying.

    Raised as one of its subclasses, each with its own stable code; error pages add ``Retry-After``
    for every one of them, and the middleware answers a request it cannot serve with it.
    """

    code = "service_unavailable"
    status = 503
    retry_after = 5  # seconds, sent as Retry-After


class ProviderUnavailable(DependencyUnavailable, ProviderError):
    """The provider could not be reached in time, or answered a 5xx: a 503, worth retrying."""

    code = "provider_unavailable"
    status = 503


class StoreUnavailable(DependencyUnavailable):
    """The session backend (Redis) cannot be reached: a 503, never a request served as someone else.

    Not a :class:`ProviderError`: the provider may be fine while Redis is down.
    """

    code = "session_store_unavailable"


class TokenError(Auth0WSGIError):
    """A token failed validation (signature, issuer, audience, time, nonce…)."""

    code = "invalid_token"
    status = 400


class GrantRejected(Auth0WSGIError):
    """The token endpoint refused a grant (``invalid_grant`` and friends)."""

    code = "invalid_grant"
    status = 400

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error
