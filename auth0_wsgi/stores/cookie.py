"""The default store: the whole session, encrypted, in the browser's cookie (no server needed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import cookies
from ..cache import BoundedCache
from ..errors import SessionTooLarge
from ..logs import get_logger
from ..revocation import Revocations
from ..sealing import Sealer
from ..session import Headers, Lifetime, Session

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = get_logger(__name__)
_SEEN = "auth0_wsgi.cookie_names"  # which of our cookies this request carried, to delete stale chunks
# Decrypting and parsing a cookie costs ~30 µs, most of the hot path's budget, and a browser sends
# the same cookie again and again: remember the sessions of recent cookie values. A hit needs the
# byte-identical value we already authenticated; expiry and revocation are still checked each time.
DECODED_CACHE_SIZE = 512


class CookieStore:
    def __init__(self, name: str, sealer: Sealer, lifetime: Lifetime, options: cookies.CookieOptions,
                 revocations: Revocations | None = None,
                 clock: Callable[[], float] = time.time, *, context: bytes = b"") -> None:
        self.name = name
        self._context = context  # the app's namespace: another app's session never unseals here
        self._revocations = revocations
        self._sealer = sealer
        self._lifetime = lifetime
        self._options = options
        self._clock = clock
        self._decoded: BoundedCache[str, Session] = BoundedCache(DECODED_CACHE_SIZE)

    def load(self, environ: WSGIEnvironment) -> Session | None:
        found = cookies.read_cookies(environ.get("HTTP_COOKIE", ""), self.name)
        if not found:
            return None
        environ[_SEEN] = found.keys()
        value = cookies.join_chunks(self.name, found)
        session = self._decode(value) if value else None
        if session is None and self.name in found:  # a same-named cookie that is not ours came first
            later = cookies.later_values_of(environ.get("HTTP_COOKIE", ""), self.name)
            session = next(filter(None, map(self._decode, later)), None)
        if session is None:
            log.debug("session cookie present but unreadable: treated as no session")
            return None
        if self._lifetime.is_over(session, int(self._clock())):
            log.debug("session cookie expired")
            return None
        if self._revocations is not None and self._revocations.is_revoked(session):
            log.debug("session ended by a back-channel logout")
            return None
        return session

    def _decode(self, value: str) -> Session | None:
        session = self._decoded.get(value)
        if session is not None:
            return session
        plaintext = self._sealer.unseal(value, self._context)
        session = Session.from_bytes(plaintext) if plaintext else None
        if session is not None:
            self._decoded.put(value, session)
        return session

    def save(self, environ: WSGIEnvironment, session: Session, supersedes: tuple[str, ...] = ()) -> Headers:
        max_age = self._lifetime.expires_at(session) - int(self._clock())
        sealed = self._sealer.seal(session.to_bytes(), self._context)
        pieces = cookies.chunk(self.name, sealed, self._options, max_age)
        if pieces is None:
            if _SEEN not in environ:  # nothing loaded: a login's new session, refused where it began
                raise SessionTooLarge()
            log.error("session too large for %d cookies: not saved; consider the Redis store",
                      cookies.MAX_CHUNKS)
            return self.clear(environ)
        headers = [self._options.set_cookie(name, value, max_age) for name, value in pieces]
        written = {name for name, _ in pieces}
        return headers + [self._options.delete_cookie(name) for name in self._present(environ)
                          if name not in written]

    def clear(self, environ: WSGIEnvironment) -> Headers:
        names = set(self._present(environ)) | {self.name}
        return [self._options.delete_cookie(name) for name in sorted(names)]

    def _present(self, environ: WSGIEnvironment) -> list[str]:
        if _SEEN not in environ:
            environ[_SEEN] = cookies.read_cookies(environ.get("HTTP_COOKIE", ""), self.name).keys()
        return list(environ[_SEEN])
