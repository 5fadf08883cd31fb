"""Server-side sessions: the browser holds only a signed random id; the record lives in a backend.

The record is sealed with the ``secret`` keys and bound to its key (nothing is readable in the
backend without them, and a record copied under another key is no session), its key in the backend
is a hash of the id (reading the backend's keys does not give away ids), and writes are
compare-and-set on a version so that a slow request cannot overwrite a refreshed token with a stale
one. Every login gets a new id and deletes the old record (no fixation); logout deletes the record,
so a copied cookie stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from .. import cookies
from ..cache import BoundedCache, ExpiringMap
from ..errors import StoreUnavailable as StoreUnavailable  # re-exported: it was defined here
from ..logs import get_logger
from ..sealing import Sealer, b64encode, derive_key
from ..session import Headers, Lifetime, Session

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = get_logger(__name__)
_LOADED = "auth0_wsgi.record"  # a _Loaded: the record as this request last read or wrote it
MAX_ID_COOKIE = 200
DECODED_CACHE_SIZE = 512
# A write that loses its compare-and-set to a request that only touched the record is retried on
# top of that request's version; more losses than this in one save mean a storm of writers.
MAX_WRITE_ATTEMPTS = 3


class _Loaded(NamedTuple):
    session_id: str
    key: str
    version: int
    refresh_token: str | None  # what the record held at that version

    def __repr__(self) -> str:  # it sits in the environ, which debug pages and error reporters print
        return f"_Loaded(version={self.version})"


class RecordBackend(Protocol):
    """Where server-side records live: memory (one process) or Redis (every worker and host)."""

    def read(self, key: str) -> tuple[bytes, int] | None: ...

    def write(self, key: str, data: bytes, ttl: int, expected_version: int | None,
              index_keys: Sequence[str], index_ttl: int) -> int | None: ...

    def delete(self, *keys: str) -> None: ...

    def members(self, index_key: str) -> list[str]: ...

    def claim_once(self, key: str, ttl: int) -> bool: ...

    def is_claimed(self, key: str) -> bool: ...


class ServerSideStore:
    def __init__(self, name: str, backend: RecordBackend, secrets_: Sequence[str], lifetime: Lifetime,
                 options: cookies.CookieOptions, clock: Callable[[], float] = time.time, *,
                 cache_seconds: int = 0) -> None:
        self.name = name
        self.backend = backend
        self._sealer = Sealer(secrets_, "server-session")
        self._id_keys = [derive_key(s, "session-id") for s in secrets_]
        self._lifetime = lifetime
        self._options = options
        self._clock = clock
        self._decoded: BoundedCache[bytes, tuple[str, Session]] = BoundedCache(DECODED_CACHE_SIZE)
        # cookie value -> (session id, record key), once its signature held
        self._verified: BoundedCache[str, tuple[str, str]] = BoundedCache(DECODED_CACHE_SIZE)
        # session_cache_seconds: records this process read recently, reused without asking the backend
        self._cache_seconds = cache_seconds
        self._recent: ExpiringMap[str, tuple[str, int, Session]] = ExpiringMap(
            4 * DECODED_CACHE_SIZE, clock)

    # -- the SessionStore protocol -------------------------------------------------------------
    def load(self, environ: WSGIEnvironment) -> Session | None:
        verified = self._cookie_id(environ)
        if verified is None:
            return None
        session_id, key = verified
        recent = self._recent.get(session_id) if self._cache_seconds else None
        if recent is not None:
            key, version, session = recent
        else:
            found = self._read(key)
            if found is None:
                return None
            session, version = found
            self._remember(session_id, key, version, session)
        if self._lifetime.is_over(session, int(self._clock())):
            return None
        environ[_LOADED] = _Loaded(session_id, key, version, session.refresh_token)
        return session

    def save(self, environ: WSGIEnvironment, session: Session, supersedes: tuple[str, ...] = ()) -> Headers:
        """Writes ``session`` over the record this request loaded, or opens a new one (a login).

        A write is a compare-and-set on the version ``load`` (or this request's previous save) left
        in the environ. When another request wrote in between, the record is read again: if that
        request only touched it (same refresh token), ours is written on top; if it refreshed, its
        tokens are newer (single flight gave every request the same rotation) and are kept, unless
        its refresh token is one ours ``supersedes`` (our grant was chained on its: ours is newer).
        """
        loaded: _Loaded | None = environ.get(_LOADED)
        if loaded is None:
            return self._open(environ, session)
        version = loaded.version
        for _ in range(MAX_WRITE_ATTEMPTS):
            written = self._write(loaded.key, session, version)
            if written is not None:
                return self._saved(environ, loaded, written, session)
            found = self._read(loaded.key)
            if found is None:
                log.info("the session ended during this request (logout): its record is not re-created")
                self._recent.pop(loaded.session_id)
                return []
            stored, version = found
            if stored.refresh_token != loaded.refresh_token and stored.refresh_token not in supersedes:
                return self._keep_stored(environ, loaded, version, stored, session)
            if stored.touched_at > session.touched_at:  # never slide the expiry backwards
                session = session.touched(stored.touched_at)
        if session.refresh_token != loaded.refresh_token:
            log.error("the session record kept changing under this request: its rotated refresh token "
                      "is not saved, and the next refresh of this session may end it")
        else:
            log.warning("the session record kept changing under this request: its update is not saved")
        return []

    def clear(self, environ: WSGIEnvironment) -> Headers:
        verified = self._cookie_id(environ)
        if verified is not None:
            self._recent.pop(verified[0])
            try:
                self.backend.delete(verified[1])
            except StoreUnavailable:
                log.error("session store down: a session record could not be deleted at logout; "
                          "it ends by itself with its TTL")
        return [self._options.delete_cookie(self.name)]

    def revoke(self, *, sid: str | None, sub: str | None, at: int) -> int:
        """End every session of this ``sid`` or ``sub`` (back-channel logout); how many there were."""
        keys: set[str] = set()
        for id_key in self._id_keys:  # sessions indexed before a secret rotation too
            for index_key in self._index_keys(sid, sub, id_key):
                keys.update(self.backend.members(index_key))
        if keys:
            self.backend.delete(*keys)
            # this process forgets them now; other processes within session_cache_seconds
            self._recent.drop_where(lambda entry: entry[0] in keys)
        return len(keys)

    def claim_once(self, name: str, ttl: int) -> bool:
        return self.backend.claim_once(self._hashed("once", name), ttl)

    # -- internals ---------------------------------------------------------------------------------
    def _open(self, environ: WSGIEnvironment, session: Session) -> Headers:
        """A brand-new id for a new login; the record of the id the browser had is deleted."""
        old = self._cookie_id(environ)
        if old is not None:
            self._recent.pop(old[0])
            self.backend.delete(old[1])
        session_id = secrets.token_urlsafe(32)  # 256 bits
        key = self.record_key(session_id)
        version = self._write(key, session, None)
        if version is None:
            raise StoreUnavailable("could not create the session record")
        environ[_LOADED] = _Loaded(session_id, key, version, session.refresh_token)
        return [self._id_cookie(session_id, session)]

    def _saved(self, environ: WSGIEnvironment, loaded: _Loaded, version: int, session: Session) -> Headers:
        """After a write: a later save in this request starts from it; the browser's cookie slides."""
        environ[_LOADED] = loaded._replace(version=version, refresh_token=session.refresh_token)
        self._remember(loaded.session_id, loaded.key, version, session)
        return [self._id_cookie(loaded.session_id, session)]

    def _keep_stored(self, environ: WSGIEnvironment, loaded: _Loaded, version: int, stored: Session,
                     ours: Session) -> Headers:
        """Another request refreshed first: its state is newer than ours, never overwritten by it."""
        environ[_LOADED] = loaded._replace(version=version, refresh_token=stored.refresh_token)
        self._remember(loaded.session_id, loaded.key, version, stored)
        if ours.refresh_token not in (loaded.refresh_token, stored.refresh_token):
            log.warning("another request saved a newer refresh token for this session first: it is "
                        "kept, and the older one this request obtained is not saved")
        else:
            log.debug("another request refreshed this session first: its tokens are kept")
        return [self._id_cookie(loaded.session_id, stored)]

    def _id_cookie(self, session_id: str, session: Session) -> tuple[str, str]:
        """Re-sent at each write with the new ``Max-Age``: the browser's copy slides with the record."""
        max_age = self._lifetime.expires_at(session) - int(self._clock())
        return self._options.set_cookie(self.name, self._signed(session_id), max(0, max_age))

    def _write(self, key: str, session: Session, expected_version: int | None) -> int | None:
        """The new version, or None when the record is not at ``expected_version`` (or exists)."""
        now = int(self._clock())
        ttl = max(1, self._lifetime.expires_at(session) - now)
        sealed = self._sealer.seal(session.to_bytes(), key.encode()).encode("ascii")
        indexes = self._index_keys(session.sid, session.user.get("sub"), self._id_keys[0])
        index_ttl = max(1, session.created_at + self._lifetime.absolute - now)
        return self.backend.write(key, sealed, ttl, expected_version, indexes, index_ttl)

    def _read(self, key: str) -> tuple[Session, int] | None:
        found = self.backend.read(key)
        if found is None:
            return None
        session = self._decode(key, found[0])
        return None if session is None else (session, found[1])

    def _decode(self, key: str, sealed: bytes) -> Session | None:
        """Decrypted and parsed once per distinct record: a changed or deleted record has other bytes
        (or none), so logout and refresh still take effect at once. The record's key is the sealing
        context: a record copied under another key (another session id) does not unseal."""
        cached = self._decoded.get(sealed)
        if cached is not None and cached[0] == key:
            return cached[1]
        plaintext = self._sealer.unseal(sealed.decode("ascii", "replace"), key.encode())
        session = Session.from_bytes(plaintext) if plaintext else None
        if session is not None:
            self._decoded.put(sealed, (key, session))
        return session

    def _remember(self, session_id: str, key: str, version: int, session: Session) -> None:
        if not self._cache_seconds:
            return
        self._recent.put(session_id, (key, version, session), self._cache_seconds)

    @staticmethod
    def record_key(session_id: str) -> str:
        """A 256-bit random id needs no secret to hide it: a hash is enough (and survives rotation).
        The hash is the key's Cluster hash tag (``{…}``): sessions spread over every master."""
        return "session:{" + b64encode(hashlib.sha256(session_id.encode()).digest()) + "}"

    @staticmethod
    def _index_keys(sid: object, sub: object, id_key: bytes) -> list[str]:
        """Keyed hashes: a user id is guessable, so it is never readable from the backend's keys."""
        keys = []
        if isinstance(sid, str) and sid:
            keys.append(_keyed("sid", sid, id_key))
        if isinstance(sub, str) and sub:
            keys.append(_keyed("sub", sub, id_key))
        return keys

    def _hashed(self, kind: str, value: str) -> str:
        return _keyed(kind, value, self._id_keys[0])

    def _signed(self, session_id: str) -> str:
        return f"{session_id}.{self._signature(session_id, self._id_keys[0])}"

    def _signature(self, session_id: str, key: bytes) -> str:
        return b64encode(hmac.new(key, session_id.encode(), hashlib.sha256).digest()[:18])

    def _cookie_id(self, environ: WSGIEnvironment) -> tuple[str, str] | None:
        """The id from our cookie and its record's key, if its signature holds (forged ids never
        reach the backend). A value this process verified before is not verified again: the HMAC
        and the key's hash cost ~11 µs a request in a busy worker (docs/benchmarks.md, "Redis
        store"), and only the byte-identical value is found; the record still decides whether the
        session exists, so a logout ends it at once."""
        header = environ.get("HTTP_COOKIE", "")
        value = cookies.read_cookies(header, self.name).get(self.name)
        found = self._verified_id(value)
        if found is None and value is not None:  # a same-named cookie that is not ours came first
            found = next(filter(None, map(self._verified_id, cookies.later_values_of(header, self.name))),
                         None)
        return found

    def _verified_id(self, value: str | None) -> tuple[str, str] | None:
        if not value or len(value) > MAX_ID_COOKIE or not value.isascii():
            return None
        known = self._verified.get(value)
        if known is not None:
            return known
        session_id, _, signature = value.rpartition(".")
        for key in self._id_keys:  # all secrets verify: rotation keeps sessions
            if hmac.compare_digest(signature, self._signature(session_id, key)):
                known = (session_id, self.record_key(session_id))
                self._verified.put(value, known)
                return known
        return None

    def is_claimed(self, name: str) -> bool:
        """Whether :meth:`claim_once` took ``name`` and it has not expired (claims nothing)."""
        return self.backend.is_claimed(self._hashed("once", name))


def _keyed(kind: str, value: str, key: bytes) -> str:
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).digest()
    return f"{kind}:{{{b64encode(digest[:24])}}}"  # a Cluster hash tag per user (or sid, or claim)
