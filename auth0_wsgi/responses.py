"""Small responses: redirects, the login challenge, and error pages (HTML or JSON, by Accept).

Error pages show a stable code and an escaped message, never a traceback, token or secret. Every
response built here carries ``Cache-Control: no-store``.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING
from urllib.parse import quote

from webob import Response

from .errors import Auth0WSGIError, DependencyUnavailable
from .returnpath import safe_return_path

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{title}</h1><p>{message}</p><p><small>Error code: <code>{code}</code></small></p>{link}
</body></html>
"""


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


def login_redirect(environ: WSGIEnvironment, login_url: str) -> Response:
    """To login, remembering where to come back, when that place is a safe return path at all."""
    path = original_path(environ)
    if safe_return_path(path, default="") != path:
        return redirect(login_url)
    return redirect(f"{login_url}?return_to={quote(path, safe='/')}")


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


def error_response(environ: WSGIEnvironment, error: Auth0WSGIError, *, title: str = "Sign-in problem",
                   retry_url: str | None = None, as_json: bool = False) -> Response:
    status = error.status
    if as_json or wants_json(environ):
        response = Response(status=status, content_type="application/json", charset="utf-8")
        response.text = json.dumps({"error": error.code, "error_description": error.message})
    else:
        link = f'<p><a href="{html.escape(retry_url)}">Try again</a></p>' if retry_url else ""
        response = Response(status=status, content_type="text/html", charset="utf-8")
        response.text = _PAGE.format(title=html.escape(title), message=html.escape(error.message),
                                     code=html.escape(error.code), link=link)
    if isinstance(error, DependencyUnavailable):  # the provider or the session store: come back later
        response.headers["Retry-After"] = str(error.retry_after)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return no_store(response)


def wants_json(environ: WSGIEnvironment) -> bool:
    if environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return True
    return "text/html" not in environ.get("HTTP_ACCEPT", "") and not is_browser_navigation(environ)
