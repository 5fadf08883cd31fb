"""Keeping the access token fresh: refresh ahead of expiry, once per refresh token, safely.

Outcomes for a session whose token needs refreshing:
- refreshed: new tokens (and the rotated refresh token) to save;
- unchanged: nothing to do, or the provider is down but the token has not actually expired yet
  (the request is served with it; the next try waits for a growing backoff);
- ended: the provider refused the grant (revoked, expired, reused) or the new ID token names
  another user: the session is over;
- :class:`ProviderUnavailable` (a 503): the provider is down and the token has expired.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import Config
from .coordination import CoordinationTimeout, RefreshCoordinator
from .errors import GrantRejected, ProviderError, ProviderUnavailable, TokenError
from .logs import get_logger
from .oidc import OIDCClient
from .sealing import Sealer
from .session import Session
from .tokens import access_token_expiry, is_expired, needs_refresh

log = get_logger(__name__)

MAX_BACKOFF = 60
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
        self._backoff: dict[str, tuple[float, int]] = {}
        self._backoff_lock = threading.Lock()

    def ensure_fresh(self, session: Session, *, force: bool = False) -> Outcome:
        now = int(self._clock())
        if not force and not needs_refresh(session.expires_at, now, self._config.refresh_leeway):
            return Outcome(session)
        expired = is_expired(session.expires_at, now)
        if not session.refresh_token:
            log.debug("access token due and no refresh token: %s", "ending" if expired else "serving")
            return Outcome(None) if expired or force else Outcome(session)
        key = hashlib.sha256(session.refresh_token.encode()).hexdigest()
        if not expired and not force and self._backing_off(key, now):
            return Outcome(session)
        try:
            sealed = self._coordinator.run_once(key, lambda: self._grant(session),
                                                timeout=2 * self._config.http_timeout + 1)
        except (ProviderError, CoordinationTimeout) as exc:
            return self._transient_failure(key, session, expired, exc)
        result = self._unsealed(sealed)
        if result is None:  # not ours (tampered cache): never trusted, never ends a session either
            return self._transient_failure(key, session, expired, ProviderError("unreadable refresh result"))
        self._clear_backoff(key)
        if result.get("ended"):
            return Outcome(None)
        return Outcome(session.with_tokens(now=now, **result), changed=True)

    def _grant(self, session: Session) -> bytes:
        """One refresh_token grant; its result (or the fact that it ended the session), sealed."""
        assert session.refresh_token is not None
        try:
            tokens = self._client.refresh(session.refresh_token)
        except GrantRejected as exc:
            log.info("refresh refused by the provider (%s): the session ends", exc.error)
            return self._seal(_ENDED)
        now = int(self._clock())
        id_token = tokens.get("id_token")
        if id_token and not self._same_user(session, id_token):
            return self._seal(_ENDED)
        log.debug("access token refreshed")
        return self._seal({"access_token": tokens["access_token"],
                           "expires_at": access_token_expiry(tokens, now),
                           "refresh_token": tokens.get("refresh_token"),
                           "id_token": id_token})

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

    def _unsealed(self, sealed: bytes) -> dict[str, Any] | None:
        try:
            plaintext = self._sealer.unseal(sealed.decode("ascii"))
        except UnicodeDecodeError:
            return None
        result = json.loads(plaintext) if plaintext else None
        return result if isinstance(result, dict) else None

    def _transient_failure(self, key: str, session: Session, expired: bool, exc: Exception) -> Outcome:
        delay = self._note_failure(key)
        reason = exc.message if isinstance(exc, ProviderError) else "another refresh is still running"
        if not expired:
            log.warning("refresh failed (%s); serving the current token, next try in %ss", reason, delay)
            return Outcome(session)
        log.warning("refresh failed (%s) and the access token has expired: 503", reason)
        error = ProviderUnavailable("The sign-in provider cannot be reached; please try again shortly.")
        error.retry_after = delay
        raise error

    def _seal(self, result: dict[str, Any]) -> bytes:
        return self._sealer.seal(json.dumps(result, separators=(",", ":")).encode()).encode("ascii")

    # -- backoff after transient failures (per process: it only spares the provider) --------------
    def _backing_off(self, key: str, now: float) -> bool:
        with self._backoff_lock:
            until, _ = self._backoff.get(key, (0.0, 0))
        return now < until

    def _note_failure(self, key: str) -> int:
        with self._backoff_lock:
            _, failures = self._backoff.get(key, (0.0, 0))
            delay = min(MAX_BACKOFF, 2 ** failures)
            self._backoff[key] = (self._clock() + delay, failures + 1)
            if len(self._backoff) > 10_000:  # bounded: forget the oldest entries
                for old in list(self._backoff)[:5_000]:
                    del self._backoff[old]
            return delay

    def _clear_backoff(self, key: str) -> None:
        with self._backoff_lock:
            self._backoff.pop(key, None)
