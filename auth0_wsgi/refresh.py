"""Keeping the access token fresh: refresh ahead of expiry, once per refresh token, safely.

Outcomes for a session whose token needs refreshing:
- refreshed: new tokens (and the rotated refresh token) to save;
- unchanged: nothing to do, or the provider is down but the token has not actually expired yet
  (the request is served with it; the next try waits for a growing backoff);
- ended: the provider refused the grant (revoked, expired, reused) or the new ID token names
  another user or organization: the session is over;
- :class:`ProviderUnavailable` (a 503): the provider is down and the token has expired.

"Down" is anything but a refusal of the grant: unreachable, a 5xx, an answer we cannot read, an
unexpected exception, a cached result that is not ours. After one, the provider is not asked again
for that refresh token before a backoff of 1, 2, 4… up to ``MAX_BACKOFF`` seconds, expired or not.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .cache import ExpiringMap
from .config import Config
from .coordination import CoordinationTimeout, RefreshCoordinator
from .errors import GrantRejected, ProviderError, ProviderUnavailable, StoreUnavailable, TokenError
from .logs import get_logger
from .oidc import OIDCClient
from .sealing import Sealer
from .session import Session
from .tokens import access_token_expiry, is_expired, needs_refresh

log = get_logger(__name__)

MAX_BACKOFF = 60
# Refresh tokens whose failures this process remembers; past it, the least recently failed is forgotten
# (its next failure waits one second again).
MAX_BACKOFF_ENTRIES = 10_000
_ENDED = {"ended": True}


@dataclass(frozen=True)
class Outcome:
    session: Session | None  # None: the session has ended
    changed: bool = False


class Refresher:
    def __init__(self, config: Config, client: OIDCClient, coordinator: RefreshCoordinator,
                 sealer: Sealer, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._client = client
        self._coordinator = coordinator
        self._sealer = sealer
        self._clock = clock
        # refresh key -> (no request to the provider before, failures so far): kept past the wait,
        # so that the next failure waits twice as long, until a success clears it
        self._backoff: ExpiringMap[str, tuple[float, int]] = ExpiringMap(MAX_BACKOFF_ENTRIES, clock)
        self._backoff_lock = threading.Lock()  # a failure reads the count, then writes it

    def ensure_fresh(self, session: Session, *, force: bool = False) -> Outcome:
        now = int(self._clock())
        if not force and not needs_refresh(session.expires_at, now, self._config.refresh_leeway):
            return Outcome(session)
        expired = is_expired(session.expires_at, now)
        if not session.refresh_token:
            log.debug("access token due and no refresh token: %s", "ending" if expired else "serving")
            return Outcome(None) if expired or force else Outcome(session)
        key = hashlib.sha256(session.refresh_token.encode()).hexdigest()
        wait = self._backoff_left(key)
        if wait:
            log.debug("refresh backing off for %ss after a failure", wait)
            return self._unavailable(session, expired, wait)
        try:
            sealed = self._coordinator.run_once(key, lambda: self._grant(session, key),
                                                timeout=2 * self._config.http_timeout + 1)
        except Exception as exc:  # whatever the provider's answer caused: a passing failure
            return self._transient_failure(key, session, expired, exc)
        result = self._unsealed(sealed, key)
        if result is None:  # not ours (tampered cache, or another key's): never trusted, never ends a session
            return self._transient_failure(key, session, expired, ProviderError("unreadable refresh result"))
        self._clear_backoff(key)
        if result.get("ended"):
            return Outcome(None)
        return Outcome(session.with_tokens(now=now, **result), changed=True)

    def _grant(self, session: Session, key: str) -> bytes:
        """One refresh_token grant; its result (or the fact that it ended the session), sealed for
        ``key``: the cache that holds it under that key may be written by others (Redis, a directory)."""
        assert session.refresh_token is not None
        try:
            tokens = self._client.refresh(session.refresh_token)
        except GrantRejected as exc:
            log.info("refresh refused by the provider (%s): the session ends", exc.error)
            return self._seal(_ENDED, key)
        now = int(self._clock())
        id_token = tokens.get("id_token")
        if id_token and not self._same_user(session, id_token):
            return self._seal(_ENDED, key)
        log.debug("access token refreshed")
        return self._seal({"access_token": tokens["access_token"],
                           "expires_at": access_token_expiry(tokens, now),
                           "refresh_token": tokens.get("refresh_token"),
                           "id_token": id_token}, key)

    def _same_user(self, session: Session, id_token: str) -> bool:
        try:
            claims = self._client.verify_id_token(id_token, nonce=None)
        except TokenError as exc:
            log.warning("the refreshed ID token is invalid (%s): the session ends", exc.message)
            return False
        if claims.get("sub") != session.user.get("sub") or claims.get("iss") != session.user.get("iss"):
            log.warning("the refreshed ID token names another user: the session ends")
            return False
        return True

    def _unsealed(self, sealed: bytes, key: str) -> dict[str, Any] | None:
        try:
            plaintext = self._sealer.unseal(sealed.decode("ascii"), key.encode())
            result = json.loads(plaintext) if plaintext else None
        except ValueError:  # UnicodeDecodeError included
            return None
        return result if isinstance(result, dict) else None

    def _transient_failure(self, key: str, session: Session, expired: bool, exc: Exception) -> Outcome:
        delay = self._note_failure(key)
        if isinstance(exc, (ProviderError, StoreUnavailable)):  # a Redis coordinator's outage too
            reason = exc.message
        elif isinstance(exc, CoordinationTimeout):
            reason = "another refresh is still running"
        else:  # its message could hold anything the provider sent: the type only
            reason = f"unexpected {type(exc).__name__}"
        log.warning("refresh failed (%s); next try in %ss", reason, delay)
        return self._unavailable(session, expired, delay)

    def _unavailable(self, session: Session, expired: bool, retry_after: int) -> Outcome:
        """The current token while it lasts; once expired, a 503 saying when to come back."""
        if not expired:
            return Outcome(session)
        log.warning("the access token has expired and cannot be refreshed now: 503")
        error = ProviderUnavailable("The sign-in provider cannot be reached; please try again shortly.")
        error.retry_after = retry_after
        raise error

    def _seal(self, result: dict[str, Any], key: str) -> bytes:
        plaintext = json.dumps(result, separators=(",", ":")).encode()
        return self._sealer.seal(plaintext, key.encode()).encode("ascii")

    # -- backoff after transient failures (per process: it only spares the provider) --------------
    def _backoff_left(self, key: str) -> int:
        """Whole seconds until the provider may be asked again for this refresh token (0: now)."""
        until, _ = self._backoff.get(key) or (0.0, 0)
        left = until - self._clock()
        return math.ceil(left) if left > 0 else 0

    def _note_failure(self, key: str) -> int:
        with self._backoff_lock:
            _, failures = self._backoff.get(key) or (0.0, 0)
            delay = min(MAX_BACKOFF, 1 << min(failures, 16))  # 1, 2, 4, … MAX_BACKOFF
            self._backoff.put(key, (self._clock() + delay, failures + 1), ttl=math.inf)
            return delay

    def _clear_backoff(self, key: str) -> None:
        with self._backoff_lock:
            self._backoff.pop(key)
