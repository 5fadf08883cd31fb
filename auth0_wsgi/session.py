"""The session value, its lifetime rules, and the small protocol every session store implements."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from .tokens import access_token_expiry, unverified_payload

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

Headers = list[tuple[str, str]]
# Re-writing an unchanged session only to slide its rolling expiry costs a Set-Cookie (and, for a
# cookie store, the whole cookie) on the response: do it at most this often.
MAX_TOUCH_INTERVAL = 300


@dataclass(frozen=True)
class ApiToken:
    """An access token for another API than the login's (``additional_audiences``, MRRT), and the
    ``scope`` it was asked with (None: the API's default)."""

    audience: str
    scope: str | None
    access_token: str = field(repr=False)  # never printed, even by accident
    expires_at: int | None

    def to_list(self) -> list[Any]:
        return [self.audience, self.scope, self.access_token, self.expires_at]

    @classmethod
    def from_list(cls, item: object) -> ApiToken | None:
        if not (isinstance(item, list) and len(item) == 4):
            return None
        audience, scope, access_token, expires_at = item
        if not (isinstance(audience, str) and _optional(scope, str) and isinstance(access_token, str)
                and _optional(expires_at, int)):
            return None
        return cls(audience, scope, access_token, expires_at)


@dataclass(frozen=True)
class Session:
    """What we keep for a logged-in user.

    ``user`` is derived from the ID token, not stored twice, unless the login changed it (an
    ``on_login`` hook, ``session_claims``, ``fetch_userinfo``): then ``own_claims`` is set and the
    claims are stored themselves (and ``id_token`` may be empty). ``apis`` holds the access tokens
    of other APIs than the login's.
    """

    id_token: str
    access_token: str | None
    expires_at: int | None  # of the access token; None when the provider did not say
    refresh_token: str | None
    created_at: int
    touched_at: int
    sid: str | None = None  # the login's session id: kept across refreshes (back-channel logout)
    user: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    apis: tuple[ApiToken, ...] = ()
    own_claims: bool = False  # user is stored as it is, not derived from id_token

    def __repr__(self) -> str:  # never print a token, even by accident
        return f"Session(sub={self.user.get('sub')!r}, created_at={self.created_at})"

    @classmethod
    def from_token_response(cls, tokens: dict[str, Any], claims: dict[str, Any], now: int) -> Session:
        return cls(
            id_token=tokens["id_token"],
            access_token=tokens.get("access_token"),
            expires_at=access_token_expiry(tokens, now),
            refresh_token=tokens.get("refresh_token"),
            created_at=now,
            touched_at=now,
            sid=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            user=dict(claims),
        )

    @classmethod
    def from_kept_claims(cls, tokens: dict[str, Any], user: dict[str, Any], now: int) -> Session:
        """A session that stores ``user`` itself (``claims.for_session``) instead of the ID token:
        the cookie holds the user once; ``auth0.id_token`` is then None and logout sends no
        ``id_token_hint``."""
        return replace(cls.from_token_response({**tokens, "id_token": ""}, user, now), own_claims=True)

    def with_tokens(self, *, access_token: str | None, expires_at: int | None, refresh_token: str | None,
                    id_token: str | None, now: int) -> Session:
        """The session after a refresh: new tokens, the old refresh/ID token when none came back."""
        # Claims of its own stay as the login left them, without an ID token (see ``claims``).
        id_token = self.id_token if self.own_claims else (id_token or self.id_token)
        user = self.user if self.own_claims else (_claims(id_token, self.sid) or self.user)
        return replace(self, access_token=access_token, expires_at=expires_at,
                       refresh_token=refresh_token or self.refresh_token, id_token=id_token,
                       touched_at=now, user=user)

    def api(self, audience: str) -> ApiToken | None:
        """The token this session holds for another API (one per API: a new scope replaces it)."""
        return next((api for api in self.apis if api.audience == audience), None)

    def with_api(self, token: ApiToken, *, refresh_token: str | None, id_token: str | None,
                 now: int) -> Session:
        """The session after a grant for another API: its token replaces that API's, the rotated
        refresh token is kept, and the login's own access token stays as it is."""
        session = self.with_tokens(access_token=self.access_token, expires_at=self.expires_at,
                                   refresh_token=refresh_token, id_token=id_token, now=now)
        others = tuple(api for api in self.apis if api.audience != token.audience)
        return replace(session, apis=(*others, token))

    def touched(self, now: int) -> Session:
        return replace(self, touched_at=now)

    def to_bytes(self) -> bytes:
        record: list[Any] = [self.id_token, self.access_token, self.expires_at, self.refresh_token,
                             self.created_at, self.touched_at, self.sid]
        extensions: dict[str, Any] = {}
        if self.apis:
            extensions["apis"] = [api.to_list() for api in self.apis]
        if self.own_claims:
            extensions["user"] = self.user
        if extensions:  # a plain session keeps the plain record (and its size)
            record.append(extensions)
        return json.dumps(record, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> Session | None:
        """The session, or None for anything that is not a record we wrote."""
        try:
            record = json.loads(data)
            extensions = record.pop() if isinstance(record, list) and len(record) == 8 else {}
            id_token, access_token, expires_at, refresh_token, created_at, touched_at, sid = record
        except (ValueError, TypeError, RecursionError):
            return None
        if not (isinstance(id_token, str) and _optional(access_token, str) and _optional(refresh_token, str)
                and _optional(sid, str) and _optional(expires_at, int)
                and _is_int(created_at) and _is_int(touched_at) and isinstance(extensions, dict)):
            return None
        listed = extensions.get("apis", [])
        apis = tuple(ApiToken.from_list(item) for item in listed) if isinstance(listed, list) else (None,)
        own = extensions.get("user")
        user = dict(own, sid=sid) if isinstance(own, dict) and sid is not None else own
        user = user if isinstance(user, dict) else _claims(id_token, sid)
        if user is None or None in apis or not isinstance(user.get("sub"), str):
            return None
        return cls(id_token, access_token, expires_at, refresh_token, created_at, touched_at, sid, user,
                   apis, isinstance(own, dict))  # type: ignore[arg-type]  # None in apis: refused above


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(value: object, kind: type) -> bool:
    return value is None or (_is_int(value) if kind is int else isinstance(value, kind))


def _claims(id_token: str, sid: str | None) -> dict[str, Any] | None:
    """The ID token's claims (verified when it was received), with the login's ``sid``."""
    claims = unverified_payload(id_token)
    if claims is not None and sid is not None:
        claims["sid"] = sid
    return claims


@dataclass(frozen=True)
class Lifetime:
    """Rolling and absolute session expiry, in seconds."""

    rolling: int
    absolute: int

    def expires_at(self, session: Session) -> int:
        return min(session.touched_at + self.rolling, session.created_at + self.absolute)

    def is_over(self, session: Session, now: int) -> bool:
        return now >= self.expires_at(session)

    def wants_touch(self, session: Session, now: int) -> bool:
        interval = min(MAX_TOUCH_INTERVAL, max(1, self.rolling // 10))
        return now - session.touched_at >= interval


class SessionStore(Protocol):
    """Loads and saves sessions; the middleware never knows which store it talks to.

    Per request, ``load`` comes first, then any number of ``save`` calls, or a ``clear``; the
    callback saves a brand-new session without a ``load``. ``load`` leaves in the environ what
    ``save`` and ``clear`` of the same request need, under keys private to the store:
    ``auth0_wsgi.cookie_names`` (the cookie store: which of its cookies, chunks included, the
    request carried) and ``auth0_wsgi.record`` (a server-side store: the record it read, with its
    version). Without them, ``save`` opens a new session and ``clear`` reads the cookies itself.

    The stores: ``stores.cookie.CookieStore`` (the session, encrypted, in the cookie) and
    ``stores.server.ServerSideStore`` (a signed id in the cookie, the record in memory or Redis).
    """

    def load(self, environ: WSGIEnvironment) -> Session | None:
        """This request's session, or None: no cookie, a cookie that does not authenticate, a
        session past its rolling or absolute expiry, or one ended by a logout.

        Raises :class:`~auth0_wsgi.errors.StoreUnavailable` when a server-side backend cannot be
        reached (never None then: no request is served as anonymous, or as someone else).
        """
        ...

    def save(self, environ: WSGIEnvironment, session: Session, supersedes: tuple[str, ...] = ()) -> Headers:
        """Stores ``session`` as this request's session, and returns the cookies that make it so.

        It relies on what ``load`` left in ``environ`` for this request: without it (a login, at
        the callback) a brand-new session is opened; with it, the loaded session is updated. It may
        be called several times in one request (a touch, then a refresh a view forces): each save
        leaves ``environ`` as the next one needs it, and the cookies of the last save supersede the
        earlier ones of the same name. A server-side store never lets a stale save replace a newer
        refresh token that another request stored, unless that refresh token is one of
        ``supersedes``, those this request saw rotated out on its way to ``session`` (its grant was
        chained on another request's: ours is the newer state); it returns no cookie when it keeps
        the record as it is (the session ended during the request, or the record kept changing under
        it). A
        session too large for the cookie store is not saved: its cookies are deleted, and it says so.

        Raises :class:`~auth0_wsgi.errors.StoreUnavailable` when a server-side backend cannot be
        reached.
        """
        ...

    def clear(self, environ: WSGIEnvironment) -> Headers:
        """Ends this request's session: the headers that delete its cookie (and every chunk of it
        the request carried). A server-side store deletes the record too, or, with its backend
        down, logs it and leaves the record to its TTL: ``clear`` never raises."""
        ...


class LogoutRegistry(Protocol):
    """Where back-channel logouts take effect: the server-side store, or the cookie store's
    revocation list (``revocation.Revocations``). Each method raises
    :class:`~auth0_wsgi.errors.StoreUnavailable` when Redis holds the registry and is down."""

    def revoke(self, *, sid: str | None, sub: str | None, at: int) -> int:
        """Ends the sessions of this ``sid`` and those of this ``sub`` (either may be None), in
        every process the registry spans.

        A server-side store deletes their records now and returns how many there were; a
        revocation list remembers the logout (a session of that ``sid`` or ``sub`` created at or
        before ``at`` no longer loads) and returns 0: cookie sessions live in browsers and cannot
        be counted.
        """
        ...

    def claim_once(self, name: str, ttl: int) -> bool:
        """Takes ``name`` (a logout token's ``jti``) for ``ttl`` seconds: True for the one call that
        took it, False while an earlier claim lives, in every process the registry spans."""
        ...

    def is_claimed(self, name: str) -> bool:
        """Whether ``claim_once(name)`` succeeded and has not expired (a read: claims nothing)."""
        ...
