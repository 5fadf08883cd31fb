"""The one-shot login transaction: state, nonce, PKCE verifier and return path.

Each login attempt gets its own short-lived encrypted cookie, named after a hash of its ``state``,
so two tabs logging in at once both succeed. The callback reads it once and deletes it; a small
in-process memory of consumed states also stops a double-submitted callback from spending the
same code twice (which would make the provider revoke the tokens of the first).

Login cookies are scoped to the callback path, so no other route sees them: to keep at most
:data:`MAX_PENDING_LOGINS` of them (each one rides on the callback's ``Cookie`` header, which
gunicorn caps at 8,190 bytes), a small readable index cookie, ``a0tx``, lists the names of the
pending login cookies and when each started. It is scoped to the app's cookie path, because logins
start on pages too (a step-up, a silent login), not only at ``/login``; it rides on requests only
while a login is pending (10 minutes at most), ~25 bytes a login. It holds no secret; a forged index
can only make us delete login cookies of our own name format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from . import cookies
from .cache import ExpiringMap
from .sealing import Sealer, b64encode
from .session import Headers

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# Every login cookie's name starts with this; config refuses a session cookie name that collides.
TRANSACTION_COOKIE_PREFIX = "a0tx."
TRANSACTION_LIFETIME = 600  # seconds a user may spend on the provider's login page
MAX_CONSUMED = 10_000  # states this process remembers as used; past it, the oldest is forgotten
# Three tabs logging in at once all succeed; a fourth login evicts the oldest pending one. Three
# login cookies of at most ~1 KB each keep the callback's Cookie header far below 8,190 bytes.
MAX_PENDING_LOGINS = 3
# Our login cookies' names: the prefix and 16 base64url characters (12 bytes of the state's hash).
# Nothing else passes for a login cookie, so no name we did not write is ever echoed into a Set-Cookie.
LOGIN_COOKIE_NAME = re.compile(re.escape(TRANSACTION_COOKIE_PREFIX) + r"[A-Za-z0-9_-]{16}")
# "a0tx": config refuses it (and any prefix of "a0tx.") as a session cookie name.
PENDING_INDEX = TRANSACTION_COOKIE_PREFIX.rstrip(".")
_INDEX_ENTRY = re.compile(r"([A-Za-z0-9_-]{16})([0-9]{1,12})")  # cookie name's hash, then start time
_STATE = re.compile(r"[A-Za-z0-9_-]{1,128}")  # we issue 43 base64url characters


@dataclass(frozen=True)
class LoginTransaction:
    state: str
    nonce: str
    code_verifier: str
    return_to: str
    created_at: int
    # What this login asked of the provider beyond the configured parameters (acr_values, max_age,
    # organization, invitation…): sent to /authorize, and what the callback checks the ID token against.
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, return_to: str, now: int, params: dict[str, str] | None = None) -> LoginTransaction:
        # 256-bit state and nonce; a 64-character PKCE verifier (RFC 7636 allows 43-128).
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48),
                   return_to, now, dict(params or {}))

    @property
    def cookie_name(self) -> str:
        return cookie_name_for(self.state)


def cookie_name_for(state: str) -> str:
    return TRANSACTION_COOKIE_PREFIX + b64encode(hashlib.sha256(state.encode()).digest()[:12])


def is_valid_state(state: str) -> bool:
    """Whether ``state`` could be one we issued: anything else is an invalid state, never looked up."""
    return _STATE.fullmatch(state) is not None


def _read_index(environ: WSGIEnvironment) -> list[tuple[str, int]]:
    """The pending logins the index cookie lists: (login cookie name, start time), oldest first.

    Only the first :data:`MAX_PENDING_LOGINS` well-formed entries count (we never write more), so a
    forged index costs at most that many deletions of names in our own format.
    """
    value = cookies.read_cookies(environ.get("HTTP_COOKIE", ""), PENDING_INDEX).get(PENDING_INDEX, "")
    entries = []
    for item in value.split(".")[:MAX_PENDING_LOGINS]:
        match = _INDEX_ENTRY.fullmatch(item)
        if match is not None:
            entries.append((TRANSACTION_COOKIE_PREFIX + match[1], int(match[2])))
    return entries


def _next_index(pending: list[tuple[str, int]], new_name: str, now: int) -> tuple[list[str], str]:
    """The login cookies to delete, and the index value listing the others and ``new_name``: the
    newest ``MAX_PENDING_LOGINS - 1`` logins stay. Expired ones are simply forgotten: the browser
    has dropped their cookies already."""
    alive = sorted((entry for entry in pending if now - entry[1] < TRANSACTION_LIFETIME),
                   key=lambda entry: entry[1])
    cut = max(0, len(alive) - (MAX_PENDING_LOGINS - 1))  # room for the new one
    kept = [*alive[cut:], (new_name, now)]
    index = ".".join(name[len(TRANSACTION_COOKIE_PREFIX):] + str(at) for name, at in kept)
    return [name for name, _ in alive[:cut]], index


class Transactions:
    """Stores transactions in cookies scoped to the callback path, and consumes them once."""

    def __init__(self, sealer: Sealer, options: cookies.CookieOptions,
                 clock: Callable[[], float] = time.time) -> None:
        self._sealer = sealer
        self._options = options
        self._clock = clock
        self._consumed: ExpiringMap[str, bool] = ExpiringMap(MAX_CONSUMED, clock)

    def begin(self, return_to: str, environ: WSGIEnvironment, index_path: str,
              params: dict[str, str] | None = None) -> tuple[LoginTransaction, Headers]:
        """A new transaction (asking ``params`` of the provider) and its headers: its login cookie,
        the deletion of the oldest pending login cookies beyond :data:`MAX_PENDING_LOGINS`, and the
        index cookie at ``index_path`` (the app's cookie path: every route that starts a login reads it)."""
        now = int(self._clock())
        tx = LoginTransaction.start(return_to, now, params)
        value = self._sealer.seal(json.dumps(asdict(tx), separators=(",", ":")).encode())
        evicted, index = _next_index(_read_index(environ), tx.cookie_name, now)
        return tx, [
            self._options.set_cookie(tx.cookie_name, value, TRANSACTION_LIFETIME),
            *(self._options.delete_cookie(name) for name in evicted),
            replace(self._options, path=index_path).set_cookie(PENDING_INDEX, index, TRANSACTION_LIFETIME),
        ]

    def consume(self, environ: WSGIEnvironment, state: str) -> LoginTransaction | None:
        """The transaction this ``state`` started, once; None if unknown, expired or used."""
        if not is_valid_state(state):
            return None
        name = cookie_name_for(state)
        value = cookies.read_matching(environ.get("HTTP_COOKIE", ""), LOGIN_COOKIE_NAME).get(name)
        plaintext = self._sealer.unseal(value) if value else None
        tx = _decode(plaintext) if plaintext else None
        now = int(self._clock())
        if tx is None or not hmac.compare_digest(tx.state.encode(), state.encode()):
            return None
        if now - tx.created_at > TRANSACTION_LIFETIME or not self._mark_consumed(name):
            return None
        return tx

    def clear_all(self, environ: WSGIEnvironment) -> list[tuple[str, str]]:
        """Delete every login cookie this request carried (after a login, none is useful)."""
        found = cookies.read_matching(environ.get("HTTP_COOKIE", ""), LOGIN_COOKIE_NAME)
        return [self._options.delete_cookie(name) for name in sorted(found)]

    def clear(self, state: str) -> tuple[str, str]:
        return self._options.delete_cookie(cookie_name_for(state))

    def _mark_consumed(self, name: str) -> bool:
        """Whether this is the first use of the login cookie ``name``. Remembered as long as its
        transaction could pass the age check above (a second longer: that check is in whole seconds)."""
        return self._consumed.add(name, True, ttl=TRANSACTION_LIFETIME + 1)


def _decode(plaintext: bytes) -> LoginTransaction | None:
    try:
        tx = LoginTransaction(**json.loads(plaintext))
    except (ValueError, TypeError):
        return None
    texts = (tx.state, tx.nonce, tx.code_verifier, tx.return_to)
    if not all(isinstance(t, str) for t in texts) or not isinstance(tx.created_at, int):
        return None
    if not isinstance(tx.params, dict) or not all(isinstance(v, str) for v in tx.params.values()):
        return None
    return tx
