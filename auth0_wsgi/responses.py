"""Small responses: redirects, the login challenge, and error pages (HTML or JSON, by Accept).

Error pages show a stable code and a message written for the user, never a traceback, token or
secret; what the operator needs (the option to fix) goes to the log, and on the page too only with
``debug = true``. Every response built here carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from webob import Response

from . import errorpage
from .errors import (
    Auth0WSGIError,
    DependencyUnavailable,
    GrantRejected,
    LoginRefused,
    LoginRequired,
    ProviderError,
    ProviderUnavailable,
    RequestError,
    TokenError,
)
from .returnpath import safe_return_path

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .errorpage import ErrorTemplate

UNEXPECTED = "Something went wrong on this site. Please try again."
# What a user is told for each kind of error: the error's own message is for the operator (it
# names endpoints and options), except a RequestError's and a LoginRequired's, written for users.
# The most specific class first.
_FOR_USERS: tuple[tuple[type[Auth0WSGIError], str, str], ...] = (
    (ProviderUnavailable, "Sign-in is unavailable",
     "The sign-in provider cannot be reached right now. Please try again in a moment."),
    (DependencyUnavailable, "Temporarily unavailable",
     "This site cannot reach its session store right now. Please try again in a moment."),
    (ProviderError, "Sign-in problem",
     "The sign-in provider sent an answer this site cannot use. Please try again later; if it keeps "
     "happening, tell the site's operator."),
    (TokenError, "Sign-in problem", "This sign-in could not be verified. Please sign in again."),
    (GrantRejected, "Sign-in problem", "This sign-in could not be completed. Please sign in again."),
)


def is_browser_navigation(environ: WSGIEnvironment) -> bool:
    """A GET/HEAD that a browser makes to show a page (not XHR, not an API client)."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return False
    if environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return False
    return (environ.get("HTTP_SEC_FETCH_MODE") == "navigate"
            or "text/html" in environ.get("HTTP_ACCEPT", ""))


def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def redirect(location: str) -> Response:
    response = Response(status=302, location=location, content_type="text/plain", charset="utf-8")
    response.text = "Redirecting\n"
    return no_store(response)


def login_location(environ: WSGIEnvironment, login_url: str) -> str:
    """The login URL that comes back to this request's page (when it is a safe return path)."""
    path = original_path(environ)
    if safe_return_path(path, default="") != path:
        return login_url
    return f"{login_url}?return_to={quote(path, safe='/')}"


def original_path(environ: WSGIEnvironment) -> str:
    """The app-relative path and query of this request, to come back to after login."""
    raw = environ.get("PATH_INFO", "") or "/"
    try:
        raw_bytes = raw.encode("latin-1")  # PEP 3333: the request's bytes, decoded as Latin-1
    except UnicodeEncodeError:
        raw_bytes = raw.encode("utf-8")  # a server that decoded them as text already
    path = quote(raw_bytes, safe="/;=,:@!$&'()*+~-._")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def user_message(error: Auth0WSGIError) -> tuple[str, str]:
    """The page title and the message a user sees for ``error`` (its ``message`` is the operator's)."""
    if isinstance(error, (RequestError, LoginRequired, LoginRefused)):  # LoginRefused: the app's own words
        return "Sign-in problem", error.message
    for kind, title, message in _FOR_USERS:
        if isinstance(error, kind):
            return title, message
    return "Something went wrong", UNEXPECTED


@dataclass(frozen=True)
class ErrorPages:
    """How one middleware shows errors: its ``base_url``, ``error_template`` and ``debug``."""

    base_url: str = ""
    template: ErrorTemplate | None = None
    debug: bool = False

    def error(self, environ: WSGIEnvironment, error: Auth0WSGIError, *, retry_url: str | None = None,
              as_json: bool = False) -> Response:
        """``error`` as a page (or JSON, by ``Accept``). ``retry_url`` is where "Try again" goes:
        by default the page itself for a GET, else the home page."""
        title, message = user_message(error)
        details = error.message if self.debug and error.message != message else ""
        status = error.status
        if as_json or wants_json(environ):
            response = Response(status=status, content_type="application/json", charset="utf-8")
            body = {"error": error.code, "error_description": message}
            response.text = json.dumps({**body, "detail": details} if details else body)
        else:
            if retry_url is None:
                retry_url = self.base_url + (original_path(environ)
                                             if environ.get("REQUEST_METHOD") in ("GET", "HEAD") else "/")
            response = self._page(status, title=title, message=message, code=error.code,
                                  retry_url=retry_url, details=details)
        if isinstance(error, DependencyUnavailable):  # the provider or the session store: come back later
            response.headers["Retry-After"] = str(error.retry_after)
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return no_store(response)

    def signed_out(self, login_url: str) -> Response:
        """What a browser sees on a protected page right after logging out, instead of the provider's
        login form: that the logout happened, and a way to sign in again."""
        return self._page(200, title="You are signed out", message="You have signed out of this site.",
                          code="", retry_url=login_url, link="Sign in again")

    def _page(self, status: int, *, title: str, message: str, code: str, retry_url: str,
              details: str = "", link: str = "Try again") -> Response:
        response = Response(status=status, content_type="text/html", charset="utf-8")
        if self.template is None:
            response.text = errorpage.render_default(title=title, message=message, code=code,
                                                     retry_url=retry_url, details=details, link=link)
            policy = errorpage.DEFAULT_POLICY
        else:
            response.text = self.template.render(title=title, message=message, code=code or "signed_out",
                                                 retry_url=retry_url, details=details)
            policy = self.template.content_security_policy
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        return no_store(response)


def error_response(environ: WSGIEnvironment, error: Auth0WSGIError, *, retry_url: str | None = None,
                   as_json: bool = False) -> Response:
    """``error`` as the default page (or JSON), for a caller without its middleware's :class:`ErrorPages`."""
    return ErrorPages().error(environ, error, retry_url=retry_url, as_json=as_json)


def wants_json(environ: WSGIEnvironment) -> bool:
    if environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return True
    return "text/html" not in environ.get("HTTP_ACCEPT", "") and not is_browser_navigation(environ)
