"""Reading our own cookies fast, and writing them within the browsers' limits.

WebOb's cookie parser costs ~107 µs for a 3.5 KB Cookie header; the authenticated hot path only
needs our own cookie, so :func:`read_cookies` finds it directly. Writing goes through WebOb's
``make_cookie`` (rarely on the hot path, and it validates every attribute).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from webob.cookies import make_cookie

MAX_SET_COOKIE = 4096  # bytes per Set-Cookie header value, name and attributes included
MAX_CHUNKS = 5  # a session larger than this is refused: see docs on --limit-request-field_size
_CHUNK_INDEXES = frozenset(str(i) for i in range(MAX_CHUNKS))
_OWS = " \t"  # RFC 6265's whitespace around names and values: nothing else (not NBSP, not NEL)
_SAMESITE: dict[str, Literal["strict", "lax", "none"]] = {"strict": "strict", "lax": "lax", "none": "none"}


def read_cookies(header: str, name: str) -> dict[str, str]:
    """The cookies called ``name`` or ``name.0`` … ``name.<MAX_CHUNKS - 1>`` (chunks), by name.

    No other name is ever returned: what we read may be echoed into a Set-Cookie (to delete stale
    chunks), and a name we did not write (``name.(``, ``name.99``) must never reach one.
    """
    if name not in header:
        return {}
    chunk_prefix = name + "."
    if chunk_prefix not in header:  # the usual case, one cookie: find it without splitting the header
        value = _first_value(header, name + "=")
        if value is not None:
            return {name: value}
    return _parse(header, lambda key: key == name or (
        key.startswith(chunk_prefix) and key[len(chunk_prefix):] in _CHUNK_INDEXES))


# Same-named cookies a store tries when the first is not ours: another app's cookie on the parent
# domain (Domain=example.com), set earlier, comes first, and would otherwise hide ours for ever.
MAX_SAME_NAME = 4


def later_values_of(header: str, name: str) -> list[str]:
    """The values of the cookies called exactly ``name`` after the first (``read_cookies`` gives
    that one), at most ``MAX_SAME_NAME - 1``, in the header's order: a browser sends one name
    several times when cookies of other paths or of a parent domain carry it too."""
    return [_unquote(value) for key, value in _pairs(header) if key == name][1:MAX_SAME_NAME]


def read_matching(header: str, pattern: re.Pattern[str]) -> dict[str, str]:
    """The cookies whose whole name matches ``pattern`` (the login cookies), by name."""
    return _parse(header, lambda key: pattern.fullmatch(key) is not None)


def _parse(header: str, is_ours: Callable[[str], bool]) -> dict[str, str]:
    """Our cookies by name, the first of duplicates winning (as browsers send the oldest first)."""
    found: dict[str, str] = {}
    for key, value in _pairs(header):
        if key not in found and is_ours(key):
            found[key] = _unquote(value)
    return found


def _pairs(header: str) -> Iterator[tuple[str, str]]:
    """The one parser behind every reader: each cookie's name and raw value, split on ``;``.

    A name is what lies between a ``;`` (or the start) and the first ``=``, so our name inside another
    cookie's value ("utm=a auth0_session=...") is never taken for our cookie.
    """
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            yield key.strip(_OWS), value


def _first_value(header: str, key: str) -> str | None:
    """:func:`_parse`'s answer for one name, without splitting the header (the hot path)."""
    start = header.find(key)
    while start != -1:
        before = start - 1
        while before >= 0 and header[before] in _OWS:
            before -= 1
        # A cookie name starts the header or follows ";": after a bare space it is inside another
        # cookie's value ("utm=a auth0_session=..."), which must never pass for our cookie.
        if before < 0 or header[before] == ";":
            end = header.find(";", start)
            return _unquote(header[start + len(key):end if end != -1 else None])
        start = header.find(key, start + 1)
    return None


def _unquote(value: str) -> str:
    return value.strip(_OWS).strip('"')


@dataclass(frozen=True)
class CookieOptions:
    path: str
    secure: bool
    samesite: str

    def set_cookie(self, name: str, value: str, max_age: int) -> tuple[str, str]:
        header = make_cookie(name, value, max_age=max_age, path=self.path, secure=self.secure,
                             httponly=True, samesite=_SAMESITE[self.samesite.lower()])
        return ("Set-Cookie", header.decode("latin-1") if isinstance(header, bytes) else header)

    def delete_cookie(self, name: str) -> tuple[str, str]:
        return self.set_cookie(name, "", max_age=0)


def chunk(name: str, value: str, options: CookieOptions, max_age: int) -> list[tuple[str, str]] | None:
    """``name=value`` when it fits one Set-Cookie, else ``name.0``, ``name.1``…; None if too large."""
    if len(options.set_cookie(name, value, max_age)[1]) <= MAX_SET_COOKIE:
        return [(name, value)]
    overhead = len(options.set_cookie(name + ".0", "", max_age)[1]) + 2
    size = MAX_SET_COOKIE - overhead
    pieces = [value[i:i + size] for i in range(0, len(value), size)]
    if len(pieces) > MAX_CHUNKS:
        return None
    return [(f"{name}.{i}", piece) for i, piece in enumerate(pieces)]


def join_chunks(name: str, found: dict[str, str]) -> str | None:
    """The whole value from ``name`` or from ``name.0..n`` (contiguous); None when absent."""
    if name in found:
        return found[name]
    pieces = []
    for i in range(MAX_CHUNKS):
        piece = found.get(f"{name}.{i}")
        if piece is None:
            break
        pieces.append(piece)
    return "".join(pieces) or None
