"""Which return paths may follow a login or logout: same-origin relative paths only.

Open redirects are the most common CVE of our peers, so this is deliberately strict: anything
that a browser could read as another origin (``//evil``, ``/\\evil``, ``/%09/evil``, ``https:evil``,
``javascript:``) or that carries control characters becomes ``/``.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

MAX_RETURN_PATH = 2048
# A login keeps its return path in its login cookie, and up to three login cookies ride on the
# callback's Cookie header: 512 bytes keeps each cookie near 1 KB whatever the link.
MAX_KEPT_RETURN_PATH = 512
# Backslash, C0 and C1 controls, DEL: browsers strip or reinterpret them in URLs.
_ASCII_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
_FORBIDDEN = frozenset("\\") | frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)))


def safe_return_path(value: object, default: str = "/") -> str:
    """``value`` when it is a safe app-relative path (with optional query), else ``default``."""
    if not isinstance(value, str) or not value or len(value) > MAX_RETURN_PATH:
        return default
    if not _is_local(value):
        return default
    # Decoded forms count too: some servers and proxies decode before the browser sees them.
    decoded = value
    for _ in range(3):
        decoded = unquote(decoded)
        if not _is_local(decoded):
            return default
    # Non-ASCII travels percent-encoded (UTF-8): a Location header is Latin-1 only.
    return quote(value, safe=_ASCII_PRINTABLE)


def kept_for_login(path: str) -> str:
    """A safe return path as a login cookie keeps it: whole up to :data:`MAX_KEPT_RETURN_PATH`
    bytes, else without its query (the page, not its state), else ``/``."""
    if len(path) <= MAX_KEPT_RETURN_PATH:
        return path
    without_query = path.partition("?")[0]
    return without_query if len(without_query) <= MAX_KEPT_RETURN_PATH else "/"


def _is_local(path: str) -> bool:
    # A leading "/" leaves no room for a scheme ("https:evil", "javascript:"), so a ':' after it is
    # part of the path ("/a:b"); a leading "//" would name another host.
    if not path.startswith("/") or path.startswith("//"):
        return False
    if any(ch in _FORBIDDEN for ch in path):
        return False
    # No fragment: a browser never sends one, so a '#' in a return path was put there by hand.
    return "#" not in path
