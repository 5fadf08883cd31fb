"""The one-shot login transaction: state, nonce, PKCE verifier and return path.

Each login attempt gets its own short-lived encrypted cookie, named after a hash of its ``state``,
so two tabs logging in at once both succeed. The callback reads it once and deletes it; a small
in-process memory of consumed states also stops a double-submitted callback from spending the
same code twice (which would make the provider revoke the tokens of the first).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from . import cookies
from .config import TRANSACTION_COOKIE_PREFIX
from .sealing import Sealer, b64encode

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

TRANSACTION_LIFETIME = 600  # seconds a user may spend on the provider's login page
MAX_CONSUMED = 10_000


@dataclass(frozen=True)
class LoginTransaction:
    state: str
    nonce: str
    code_verifier: str
    return_to: str
    created_at: int

    @classmethod
    def start(cls, return_to: str, now: int) -> LoginTransaction:
        # 256-bit state and nonce; a 64-character PKCE verifier (RFC 7636 allows 43-128).
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48),
                   return_to, now)

    @property
    def cookie_name(self) -> str:
        return cookie_name_for(self.state)


def cookie_name_for(state: str) -> str:
    return TRANSACTION_COOKIE_PREFIX + b64encode(hashlib.sha256(state.encode()).digest()[:12])


class Transactions:
    """Stores transactions in cookies scoped to the callback path, and consumes them once."""

    def __init__(self, sealer: Sealer, options: cookies.CookieOptions,
                 clock: Callable[[], float] = time.time) -> None:
        self._sealer = sealer
        self._options = options
        self._clock = clock
        self._consumed: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def begin(self, return_to: str) -> tuple[LoginTransaction, tuple[str, str]]:
        tx = LoginTransaction.start(return_to, int(self._clock()))
        value = self._sealer.seal(json.dumps(asdict(tx), separators=(",", ":")).encode())
        return tx, self._options.set_cookie(tx.cookie_name, value, TRANSACTION_LIFETIME)

    def consume(self, environ: WSGIEnvironment, state: str) -> LoginTransaction | None:
        """The transaction this ``state`` started, once; None if unknown, expired or used."""
        name = cookie_name_for(state)
        value = cookies.read_prefixed(environ.get("HTTP_COOKIE", ""), name).get(name)
        plaintext = self._sealer.unseal(value) if value else None
        tx = _decode(plaintext) if plaintext else None
        now = int(self._clock())
        if tx is None or not hmac.compare_digest(tx.state, state):
            return None
        if now - tx.created_at > TRANSACTION_LIFETIME or not self._mark_consumed(name, now):
            return None
        return tx

    def clear_all(self, environ: WSGIEnvironment) -> list[tuple[str, str]]:
        """Delete every login cookie this request carried (after a login, none is useful)."""
        found = cookies.read_prefixed(environ.get("HTTP_COOKIE", ""), TRANSACTION_COOKIE_PREFIX)
        return [self._options.delete_cookie(name) for name in sorted(found)]

    def clear(self, state: str) -> tuple[str, str]:
        return self._options.delete_cookie(cookie_name_for(state))

    def _mark_consumed(self, name: str, now: int) -> bool:
        with self._lock:
            while self._consumed and (len(self._consumed) >= MAX_CONSUMED or
                                      next(iter(self._consumed.values())) < now - TRANSACTION_LIFETIME):
                self._consumed.popitem(last=False)
            if name in self._consumed:
                return False
            self._consumed[name] = now
            return True


def _decode(plaintext: bytes) -> LoginTransaction | None:
    try:
        tx = LoginTransaction(**json.loads(plaintext))
    except (ValueError, TypeError):
        return None
    texts = (tx.state, tx.nonce, tx.code_verifier, tx.return_to)
    if not all(isinstance(t, str) for t in texts) or not isinstance(tx.created_at, int):
        return None
    return tx
