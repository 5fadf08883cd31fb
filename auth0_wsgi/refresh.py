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

Other APIs (``additional_audiences``, :mod:`audiences`) share the login's refresh token, which each
grant rotates: every grant, whatever its API, runs in the single flight of the refresh token it
spends, and its sealed result says which API it was for. A request that finds another API's result
there takes it (the rotated refresh token, that API's token) and goes on with the new refresh token
in *its* flight: grants run one at a time and no refresh token is spent twice (Auth0 revokes the
whole family on reuse). For another API a refusal is :class:`AudienceRefused` and an outage a 503:
neither ends the session.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .audiences import LOGIN_API, Target, applied, target_of, token_is_for, wrong_audience
from .config import Config
from .coordination import RESULT_TTL, CoordinationTimeout, RefreshCoordinator
from .errors import (
    AudienceRefused,
    Auth0WSGIError,
    GrantRejected,
    ProviderError,
    ProviderUnavailable,
    StoreUnavailable,
    TokenError,
)
from .logs import get_logger
from .oidc import OIDCClient
from .refresh_memory import MAX_BACKOFF as MAX_BACKOFF  # re-exported
from .refresh_memory import REFUSAL_MEMORY as REFUSAL_MEMORY
from .refresh_memory import RefreshMemory
from .sealing import Sealer
from .session import Session
from .tokens import access_token_expiry, is_expired, needs_refresh

log = get_logger(__name__)

_ENDED = {"ended": True}
# Grants one request may chain (each after another API's grant rotated the refresh token first)
MAX_HOPS = 8


class Outcome(NamedTuple):
    """What a refresh decision gives the request. A tuple: built on every request's hot path."""

    session: Session | None  # None: the session has ended
    changed: bool = False
    # raised once ``session`` is saved: AudienceRefused, or ProviderUnavailable for another API
    error: Auth0WSGIError | None = None
    # the refresh tokens this request saw rotated out, oldest first: a save that finds one of them
    # stored holds an older state than ours (another API's grant came first)
    rotated_out: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never a refresh token, even by accident
        return f"Outcome(session={self.session!r}, changed={self.changed}, error={self.error!r})"


class Refresher:
    def __init__(self, config: Config, client: OIDCClient, coordinator: RefreshCoordinator,
                 sealer: Sealer, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._client = client
        self._coordinator = coordinator
        self._sealer = sealer
        self._clock = clock
        self._memory = RefreshMemory(clock)  # backoff and refusals: the provider is not asked each time

    @property
    def config(self) -> Config:
        return self._config

    def ensure_fresh(self, session: Session, *, force: bool = False) -> Outcome:
        """The login's access token, refreshed when due (or forced). Raises ProviderUnavailable."""
        outcome = self.ensure(session, LOGIN_API, force=force)
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def ensure(self, session: Session, target: Target, *, force: bool = False) -> Outcome:
        """The session with a token for ``target`` valid for ``refresh_leeway``, obtained through the
        single flight of its refresh token when due, missing or forced. A failure for another API
        comes back in ``error``, with the session to save first: it never ends the session."""
        now = int(self._clock())
        token, expires_at = target.token(session)
        missing = token is None and target.audience is not None  # the login's own: as it came
        if not (force or missing or needs_refresh(expires_at, now, self._config.refresh_leeway)):
            return Outcome(session)
        expired = missing or is_expired(expires_at, now)
        if not session.refresh_token:
            log.debug("access token due and no refresh token: %s", "ending" if expired else "serving")
            if target.audience is not None:
                return Outcome(session, error=AudienceRefused(
                    "This session has no refresh token to get another API's token with.",
                    audience=target.audience))
            return Outcome(None) if expired or force else Outcome(session)
        return self._flight(session, target, expired)

    def _flight(self, session: Session, target: Target, expired: bool) -> Outcome:
        """Grants for ``target``, one refresh token at a time: the cached result of another API's
        grant on our refresh token is applied (its rotated refresh token, its API's token), and ours
        goes on with the refresh token it rotated to, in that token's own single flight."""
        start, rotated_out = session, list[str]()
        key = _key(session.refresh_token)
        held = target.token(session)
        for _ in range(MAX_HOPS):
            wait = self._memory.backoff_left(key)
            if wait:
                log.debug("refresh backing off for %ss after a failure", wait)
                return self._unavailable(start, session, expired, wait, rotated_out)
            refused = self._memory.refused_lately(key, target)
            if refused is not None:  # the provider said no a moment ago: not asked at every request
                return Outcome(session, session is not start, refused, tuple(rotated_out))
            produced = list[bool]()  # whether this request made the grant (else another's result)
            grant = functools.partial(self._grant, session, key, target, produced)
            try:
                sealed = self._coordinator.run_once(key, grant, timeout=2 * self._config.http_timeout + 1,
                                                    keep=self._keep(start, session))
            except AudienceRefused as exc:  # nothing spent: the session goes on without that API
                log.info("the provider refused a token for %s: the session goes on", exc.audience)
                self._memory.remember_refusal(key, target, exc)
                return Outcome(session, session is not start, exc, tuple(rotated_out))
            except Exception as exc:  # whatever the provider's answer caused: a passing failure
                return self._transient_failure(key, start, session, expired, exc, rotated_out)
            result = self._unsealed(sealed, key)
            if result is None:  # not ours (tampered cache, another key's): never trusted, never ends it
                error = ProviderError("unreadable refresh result")
                return self._transient_failure(key, start, session, expired, error, rotated_out)
            self._memory.clear_backoff(key)
            if result.get("ended"):
                return Outcome(None)
            previous = session.refresh_token
            if not produced and _stale(result, target, previous, held) \
                    and key != _key(previous, target, held[0]):
                # An earlier refresh's result for a refresh token that does not rotate, no newer
                # than what we hold: a grant of our own, in a flight keyed by the token it replaces.
                key = _key(previous, target, held[0])
                continue
            session = applied(session, result, int(self._clock()))
            if previous is not None and session.refresh_token != previous:
                rotated_out.append(previous)
            if target_of(result) == target:
                refused = None if "access_token" in result else wrong_audience(target)
                return Outcome(session, changed=True, error=refused, rotated_out=tuple(rotated_out))
            log.debug("another API's grant spent this refresh token first: going on with its successor")
            # a refresh token that does not rotate is not spent: a flight of its own for each target
            key = _key(session.refresh_token) if session.refresh_token != previous else _key(previous, target)
        error = ProviderError("too many grants in a row")
        return self._transient_failure(key, start, session, expired, error, rotated_out)

    def _keep(self, start: Session, session: Session) -> int:
        """How long the result of spending ``session``'s refresh token answers late requests. One
        that came in another request's result (a chained grant) is also in *that* request's cookie,
        which the browser may keep rather than ours (responses arrive in any order): its result must
        answer it for as long as that cookie may live, not the usual two minutes, and no longer: a
        rolling lifetime past its access token's expiry (until then a request only slides it; after,
        it refreshes and takes this result), within the session's absolute lifetime."""
        if session.refresh_token == start.refresh_token:
            return RESULT_TTL
        config, now = self._config, int(self._clock())
        ends = session.created_at + config.session_absolute_duration
        if session.expires_at is not None:  # else a token valid until a 401: only the absolute end
            ends = min(ends, max(now, session.expires_at) + config.session_rolling_duration)
        return max(RESULT_TTL, ends - now)

    def _grant(self, session: Session, key: str, target: Target, produced: list[bool]) -> bytes:
        """One refresh_token grant; its result (or the fact that it ended the session), sealed for
        ``key``: the cache that holds it under that key may be written by others (Redis, a directory)."""
        assert session.refresh_token is not None
        produced.append(True)
        try:
            refresh_token, audience, scope = session.refresh_token, target.audience, target.scope
            tokens = (self._client.refresh(refresh_token) if audience is None
                      else self._client.refresh(refresh_token, audience=audience, scope=scope))
        except GrantRejected as exc:
            log.info("refresh refused by the provider (%s): the session ends", exc.error)
            return self._seal(_ENDED, key)
        now = int(self._clock())
        id_token = tokens.get("id_token")
        if id_token and not self._same_user(session, id_token):
            return self._seal(_ENDED, key)
        result = {"for": [audience, scope], "access_token": tokens["access_token"], "id_token": id_token,
                  "expires_at": access_token_expiry(tokens, now),
                  "refresh_token": tokens.get("refresh_token")}
        if audience is not None and not token_is_for(tokens["access_token"], audience):
            # Auth0 answers an audience outside the MRRT policy with the login's API's token: never
            # kept as that API's, but the grant rotated the refresh token, which is kept
            log.warning("the provider answered a token for another API than %s: refused", audience)
            del result["access_token"], result["expires_at"]
        log.debug("access token refreshed%s", f" for {audience}" if audience else "")
        return self._seal(result, key)

    def _same_user(self, session: Session, id_token: str) -> bool:
        try:
            claims = self._client.verify_id_token(id_token, nonce=None)
        except TokenError as exc:
            log.warning("the refreshed ID token is invalid (%s): the session ends", exc.message)
            return False
        if claims.get("sub") != session.user.get("sub") or claims.get("iss") != session.user.get("iss"):
            log.warning("the refreshed ID token names another user: the session ends")
            return False
        if claims.get("org_id") != session.user.get("org_id"):  # an invitation's login, unconfigured too
            log.warning("the refreshed ID token names another organization: the session ends")
            return False
        return True

    def _unsealed(self, sealed: bytes, key: str) -> dict[str, Any] | None:
        try:
            plaintext = self._sealer.unseal(sealed.decode("ascii"), key.encode())
            result = json.loads(plaintext) if plaintext else None
        except ValueError:  # UnicodeDecodeError included
            return None
        return result if isinstance(result, dict) else None

    def _transient_failure(self, key: str, start: Session, session: Session, expired: bool,
                           exc: Exception, rotated_out: list[str]) -> Outcome:
        delay = self._memory.note_failure(key)
        if isinstance(exc, (ProviderError, StoreUnavailable)):  # a Redis coordinator's outage too
            reason = exc.message
        elif isinstance(exc, CoordinationTimeout):
            reason = "another refresh is still running"
        else:  # its message could hold anything the provider sent: the type only
            reason = f"unexpected {type(exc).__name__}"
        log.warning("refresh failed (%s); next try in %ss", reason, delay)
        return self._unavailable(start, session, expired, delay, rotated_out)

    def _unavailable(self, start: Session, session: Session, expired: bool, retry_after: int,
                     rotated_out: list[str]) -> Outcome:
        """The current token while it lasts; once expired, a 503 saying when to come back."""
        changed = session is not start
        if not expired:
            return Outcome(session, changed, rotated_out=tuple(rotated_out))
        log.warning("the access token has expired and cannot be refreshed now: 503")
        error = ProviderUnavailable("The sign-in provider cannot be reached; please try again shortly.")
        error.retry_after = retry_after
        return Outcome(session, changed, error, tuple(rotated_out))

    def _seal(self, result: dict[str, Any], key: str) -> bytes:
        plaintext = json.dumps(result, separators=(",", ":")).encode()
        return self._sealer.seal(plaintext, key.encode()).encode("ascii")


def _key(refresh_token: str | None, target: Target | None = None, replacing: str | None = None) -> str:
    """The single-flight key: the refresh token's, or (a token that does not rotate) its and the
    target's, so that each API's grant is cached apart, and the access token it replaces, so that a
    later refresh is not answered by an earlier one's result."""
    material = refresh_token or ""
    if target is not None:  # JSON: the API's default scope (null) is not the scope named "None"
        parts = [material, target.audience, target.scope]
        material = json.dumps(parts if replacing is None else [*parts, replacing])
    return hashlib.sha256(material.encode()).hexdigest()


def _stale(result: dict[str, Any], target: Target, refresh_token: str | None,
           held: tuple[str | None, int | None]) -> bool:
    """Whether a result for ``target`` that did not rotate ``refresh_token`` holds the token the
    request already has, or an older one: an earlier refresh's, cached under the same key."""
    if target_of(result) != target or result.get("refresh_token") not in (None, refresh_token):
        return False
    if held[0] is None or "access_token" not in result:
        return False
    expires = result.get("expires_at")
    return result["access_token"] == held[0] or (expires is not None and held[1] is not None
                                                  and expires < held[1])
