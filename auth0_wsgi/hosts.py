"""Whether a request names ``base_url``'s host, as the browser sees it.

Cookies belong to a host: a login started on ``localhost`` leaves its login cookie there, and the
provider sends the browser back to ``base_url``'s host (``127.0.0.1``), where no cookie waits. So
``/login`` first moves the browser to ``base_url``'s host. Hosts compare case-insensitively, without
a trailing dot, and with the default port of ``base_url``'s scheme when the ``Host`` header names
none: behind a proxy that ends TLS, ``Host: app.example.com`` is ``https://app.example.com``.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, quote, urlsplit

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a query may keep as it is in a Location header: printable ASCII but the characters a URL
# never holds raw. Anything else (spaces, controls, Latin-1 bytes) travels percent-encoded.
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>\\^`{|}#')


def authority(netloc: str, scheme: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``netloc`` (a Host header or a URL's), normalised; None if unreadable."""
    try:
        parts = urlsplit("//" + netloc.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query:
        return None
    return host.rstrip("."), port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def base_authority(base_url: str) -> tuple[str, int] | None:
    parts = urlsplit(base_url)
    return authority(parts.netloc, parts.scheme)


def other_host(environ: WSGIEnvironment, base_url: str) -> str | None:
    """The request's ``Host`` when it is not ``base_url``'s host and port, else None.

    Read after ``trusted_proxies`` applied ``X-Forwarded-Host``. A request without ``Host`` (HTTP/1.0)
    names no host, so it is never said to differ.
    """
    host = environ.get("HTTP_HOST")
    if not host:
        return None
    if authority(host, urlsplit(base_url).scheme) == base_authority(base_url):
        return None
    return str(host)


def alias_seen(environ: WSGIEnvironment, base_url: str) -> str | None:
    """The request's ``Host``, else its ``Referer``'s host, when it is another name for base_url's
    host (:func:`is_alias_of`): a hint that the browser holds its cookies under that other name."""
    for netloc in (environ.get("HTTP_HOST"), _referer(environ).netloc):
        if netloc and is_alias_of(netloc, base_url):
            return str(netloc)
    return None


def came_from(environ: WSGIEnvironment, base_url: str) -> str | None:
    """The app-relative path and query of the ``Referer`` when it is a page under ``base_url``."""
    referer, base = _referer(environ), urlsplit(base_url)
    if referer.scheme != base.scheme or not same_host(referer.netloc, base_url):
        return None
    if referer.path != base.path and not referer.path.startswith(base.path + "/"):
        return None
    path = referer.path[len(base.path):] or "/"
    return f"{path}?{referer.query}" if referer.query else path


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _referer(environ: WSGIEnvironment) -> SplitResult:
    try:
        return urlsplit(environ.get("HTTP_REFERER", ""))
    except ValueError:
        return urlsplit("")


def same_host(netloc: str, base_url: str) -> bool:
    return authority(netloc, urlsplit(base_url).scheme) == base_authority(base_url)


def is_alias_of(netloc: str, base_url: str) -> bool:
    """Whether ``netloc`` is another name a user would type for ``base_url``'s host: a loopback name
    for a loopback host (``localhost`` for ``127.0.0.1``), the same name on another port, or the
    name with or without ``www.``. A provider's host (or Google's, after a social login) is none."""
    ours, theirs = base_authority(base_url), authority(netloc, urlsplit(base_url).scheme)
    if ours is None or theirs is None or ours == theirs:
        return False
    if _is_loopback(ours[0]) and _is_loopback(theirs[0]):
        return True
    return ours[0].removeprefix("www.") == theirs[0].removeprefix("www.")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def query_for_location(environ: WSGIEnvironment) -> str:
    """The request's query, safe to repeat in a ``Location`` header (``?`` included, or empty)."""
    query = environ.get("QUERY_STRING", "")
    if not query:
        return ""
    try:
        raw = query.encode("latin-1")  # PEP 3333: the request's bytes, decoded as Latin-1
    except UnicodeEncodeError:
        raw = query.encode("utf-8")
    return "?" + quote(raw, safe=_QUERY_SAFE)
