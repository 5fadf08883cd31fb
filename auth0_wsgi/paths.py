"""Which request paths ``public_paths`` exempts: whole segments, never a path that resolves elsewhere.

We match ``PATH_INFO`` as the server hands it over, but a layer after us may read it differently: a
second percent-decoding, a Tomcat/Spring/Jetty proxy that cuts ``;params`` from each segment (so
``..;`` is ``..``), IIS or a Windows file system that reads ``\\`` as ``/`` and drops a segment's
trailing dots and spaces (so ``...`` and ``.. `` are ``..``), an old decoder that takes the
overlong ``%c0%ae`` for a dot. Any of them can turn ``/public/..;/admin`` into ``/admin``. So a path
holding anything that one of them resolves as a dot-segment is under no prefix: it needs a session,
which costs an honest client nothing (browsers and HTTP libraries resolve dot-segments before sending).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MAX_DECODINGS = 3  # as for return paths: "%25" nested three deep is already no honest link
_SEPARATORS = re.compile(r"[/\\]")
_BLANKS = "".join(chr(c) for c in range(0x21))  # what Windows and sloppy parsers drop: C0 and space
_OVERLONG_DOTS = ("\xc0\xae", "\xe0\x80\xae")  # "." as overlong UTF-8, read byte by byte


def path_is_under(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whole path segments: ``/public`` covers ``/public`` and ``/public/x``, not ``/publicity``;
    ``/`` covers the root page only (``require_auth = false`` makes everything public). A path that
    another layer could resolve to somewhere else (:func:`may_resolve_elsewhere`) is under nothing."""
    if not any(path == prefix or (prefix != "/" and path.startswith(prefix + "/")) for prefix in prefixes):
        return False
    return not may_resolve_elsewhere(path)


def may_resolve_elsewhere(path: str) -> bool:
    """Whether ``path``, decoded up to :data:`MAX_DECODINGS` more times, holds a dot-segment in
    any server's reading (``;params`` cut, ``\\`` as ``/``, trailing dots and blanks dropped)."""
    for _ in range(MAX_DECODINGS + 1):
        if _has_dot_segment(path):
            return True
        decoded = unquote(path, encoding="latin-1")  # byte for byte: overlong sequences stay visible
        if decoded == path:
            return False
        path = decoded
    return True  # still encoded after that: no honest link looks like this


def _has_dot_segment(path: str) -> bool:
    for segment in _SEPARATORS.split(path):
        core = segment.partition(";")[0]
        for overlong in _OVERLONG_DOTS:
            core = core.replace(overlong, ".")
        if "." in core and not core.strip("." + _BLANKS):
            return True
    return False
