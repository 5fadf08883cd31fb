"""A small exception tree with stable machine codes.

Every error a user can meet has a ``code`` (shown on error pages and in JSON bodies, stable across
releases so that clients and dashboards can match on it) and an HTTP ``status``. Messages never
contain a token, a code, a verifier or a secret.

    Auth0WSGIError                      500 server_error
    ├── ConfigError                     at start-up: names the option and the fix
    ├── RequestError                    400 (the browser sent something we refuse)
    ├── LoginRequired                   401
    ├── StepUpRequired                  401 insufficient_user_authentication (RFC 9470)
    ├── LoginRefused                    403 login_refused (an on_login hook said no)
    ├── AudienceRefused                 403 audience_not_allowed / audience_refused
    ├── SessionTooLarge                 500 session_too_large (a new session the cookie store cannot hold)
    ├── TokenError, GrantRejected       400
    ├── ProviderError                   502 (an answer we cannot use)
    ├── bearer.BearerError              the resource server's 401/403 (RFC 6750 challenges)
    └── DependencyUnavailable           503 + Retry-After
        ├── ProviderUnavailable         provider_unavailable (also a ProviderError)
        └── StoreUnavailable            session_store_unavailable
"""

from __future__ import annotations

from collections.abc import Sequence


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


class StepUpRequired(Auth0WSGIError):
    """This request needs a stronger or more recent login than the session's (RFC 9470).

    Raise it from a view (``raise StepUpRequired(acr_values=MFA_POLICY)``) and the middleware
    sends a browser through a new login asking for it, back to the same page, or answers an XHR
    401 with the RFC 9470 challenge; ``api_session`` raises it when the API answers with one.

    :param acr_values: the acceptable ``acr`` values, space-separated (or a sequence), or None.
    :param max_age: the greatest acceptable age of the login in seconds, or None.
    """

    code = "insufficient_user_authentication"
    status = 401

    def __init__(self, message: str = "This page needs a stronger or more recent sign-in.", *,
                 acr_values: str | Sequence[str] | None = None, max_age: int | None = None) -> None:
        super().__init__(message)
        values = acr_values.split() if isinstance(acr_values, str) else list(acr_values or ())
        if not all(isinstance(v, str) and v for v in values):
            raise TypeError("acr_values must be a string or a sequence of non-empty strings")
        if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
            raise TypeError("max_age must be a whole number of seconds, or None")
        if not values and max_age is None:
            raise TypeError("StepUpRequired needs acr_values, max_age, or both")
        self.acr_values: str | None = " ".join(values) or None
        self.max_age = max_age


class LoginRefused(Auth0WSGIError):
    """Raised by an ``on_login`` hook to refuse a login: the user sees the message (403)."""

    code = "login_refused"
    status = 403


class AudienceRefused(Auth0WSGIError):
    """No access token for this API: it is not in ``audience``/``additional_audiences``
    (``audience_not_allowed``), or the provider refused to issue one (``audience_refused``).
    The session goes on: only this API is out of reach. ``audience`` names it."""

    code = "audience_refused"
    status = 403

    def __init__(self, message: str, *, audience: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.audience = audience


class SessionTooLarge(Auth0WSGIError):
    """A login's new session does not fit the cookie store's cookies: said at the callback, rather
    than a redirect to a page that would find no session and send the browser to log in again."""

    code = "session_too_large"

    def __init__(self) -> None:
        super().__init__("This sign-in brought more profile data than this site can keep. Please "
                         "contact the site's operator.")


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
