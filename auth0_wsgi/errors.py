"""A small exception tree with stable machine codes.

Every error a user can meet has a ``code`` (shown on error pages and in JSON bodies, stable across
releases so that clients and dashboards can match on it) and an HTTP ``status``. Messages never
contain a token, a code, a verifier or a secret.
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
    """The provider answered, but with something we cannot use (HTML, a 500, bad JSON): a 502."""

    code = "provider_error"
    status = 502


class ProviderUnavailable(ProviderError):
    """The provider could not be reached in time: a 503, worth retrying."""

    code = "provider_unavailable"
    status = 503
    retry_after = 5


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
