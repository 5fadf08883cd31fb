"""One authenticated request's session: the refresh views force, other APIs' tokens, the cookies to send.

The middleware builds a :class:`RequestContext` per request with a session and puts it in the environ
(``auth0.context``); ``refresh_access_token``, ``get_access_token(environ, audience)`` and
``api_session`` reach the session through it. What it needs is built once (:class:`SessionServices`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import environ as keys
from . import hooks
from .audiences import LOGIN_API, Target, target_for, without_removed_apis
from .logs import get_logger
from .refresh import Refresher
from .session import Headers, Lifetime, Session, SessionStore
from .tokens import needs_refresh

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = get_logger(__name__)


@dataclass(frozen=True)
class SessionServices:
    """What an authenticated request needs, built once at start-up: all a RequestContext sees."""

    store: SessionStore
    refresher: Refresher
    lifetime: Lifetime
    session_cookie_name: str
    set_remote_user: bool  # REMOTE_USER is ours to set, and to remove when the session ends
    clock: Callable[[], float] = time.time


class RequestContext:
    """One authenticated request: its session, the refresh hook views use, the cookies to send."""

    def __init__(self, services: SessionServices, environ: WSGIEnvironment, session: Session) -> None:
        # No reference to the environ here: the environ holds the context, and a cycle would leave
        # every request to the garbage collector (~10 µs each in a worker).
        self._services = services
        self.session: Session | None = session
        self.headers: Headers = []
        self.response_started = False  # a view's StepUpRequired can still become a step-up login
        environ[keys.CONTEXT] = self

    def refresh(self, environ: WSGIEnvironment, *, force: bool = False,
                target: Target = LOGIN_API) -> str | None:
        """Refresh the login's access token when due (or when forced), or, for another ``target``,
        get or refresh that API's token; returns the token, None if the session ended. Raises
        ProviderUnavailable (and for another API AudienceRefused) once any progress is saved."""
        services, session = self._services, self.session
        if session is None:
            return None
        now = int(services.clock())
        touch = services.lifetime.wants_touch(session, now)
        early = touch and not force and target.audience is None and \
            self._refresh_instead_of_touch(session, now)
        outcome = services.refresher.ensure(session, target, force=force or early)
        before = session.access_token
        if outcome.session is None:
            self.session = None
            self._add_cookies(services.store.clear(environ))
            for key in (*keys.OURS, keys.REMOTE_USER if services.set_remote_user else ""):
                environ.pop(key, None)
            return None
        if outcome.changed:  # a grant may have taken a while
            now = int(services.clock())
        session = outcome.session
        if outcome.changed or touch:
            session = self.session = without_removed_apis(session.touched(now), services.refresher.config)
            self._add_cookies(services.store.save(environ, session, outcome.rotated_out))
        # told after the save: whatever the hook does, the new tokens are kept (another API's: not told)
        if outcome.changed and session.access_token != before:
            hooks.refreshed(services.refresher.config, environ, session)
        self._inject(environ, session)
        if outcome.error is not None:
            raise outcome.error
        return target.token(session)[0]

    def _refresh_instead_of_touch(self, session: Session, now: int) -> bool:
        """A touch (the rolling expiry slid) this close to the login's token being due is a refresh
        instead: the touched cookie of a slow request could reach the browser after a quicker
        request's refresh, and put back the refresh token that refresh spent (Auth0 would see it
        reused, and end the session). Once refreshed, every cookie written carries the new one."""
        leeway = self._services.refresher.config.refresh_leeway
        return bool(session.refresh_token) and \
            needs_refresh(session.expires_at, now + TOUCH_QUIET_SECONDS, leeway)

    def api_token(self, environ: WSGIEnvironment, audience: str | None, scope: str | None, *,
                  force: bool = False) -> str | None:
        """``get_access_token(environ, audience, scope)``: that API's token, granted or refreshed
        with the session's refresh token when missing, due or forced, and saved."""
        return self.refresh(environ, force=force,
                            target=target_for(self._services.refresher.config, audience, scope))

    def _add_cookies(self, headers: Headers) -> None:
        """The cookies of a later save (or clear) in this request, merged with the earlier ones'.

        A cookie of the same name is replaced. A save that sets the session cookie answers for the
        whole set of session cookies (a cookie store may write fewer chunks than the save before
        it): the earlier save's session cookies go, other earlier cookies stay.
        """
        if not self.headers or not headers:
            self.headers = headers or self.headers
            return
        later = {_cookie_name(value) for _, value in headers}
        session_name = self._services.session_cookie_name
        if any(_is_session_cookie(name, session_name) for name in later):
            kept = [(k, v) for k, v in self.headers if not _is_session_cookie(_cookie_name(v), session_name)]
        else:
            kept = self.headers
        self.headers = [(k, v) for k, v in kept if _cookie_name(v) not in later] + headers

    def _inject(self, environ: WSGIEnvironment, session: Session) -> None:
        # The app's own copy: sessions are shared (decode caches), so a view that appends to a
        # nested claim (a roles list) must not change what later requests see.
        environ[keys.USER] = _private_copy(session.user)
        environ[keys.ID_TOKEN] = session.id_token or None  # none kept: see claims.py
        environ[keys.ACCESS_TOKEN] = session.access_token
        if self._services.set_remote_user:
            environ[keys.REMOTE_USER] = session.user["sub"]

    def start_response(self, start_response: StartResponse) -> StartResponse:
        """Adds the session cookies at the moment the app starts its response (a view may refresh)."""
        def wrapped(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self.response_started = True
            if self.headers:
                response_headers = with_cookies(response_headers, self.headers)
            return start_response(status, response_headers, exc_info)
        return wrapped


# A touch within this many seconds of the login's token being due is a refresh instead (see
# RequestContext._refresh_instead_of_touch): a request slower than this could still race a refresh.
TOUCH_QUIET_SECONDS = 60


_CONTAINERS = frozenset((list, dict))  # what JSON claims can hold that an app could change in place


def _private_copy(claims: dict[str, Any]) -> dict[str, Any]:
    """Flat values as they are (immutable), lists and dicts copied all the way down (JSON values).

    Typical claims are all flat: one C-level pass finds that (~0.4 µs) instead of a Python loop.
    """
    copy = claims.copy()
    if _CONTAINERS.isdisjoint(map(type, claims.values())):
        return copy
    for name, value in claims.items():
        if isinstance(value, (list, dict)):
            copy[name] = _copied(value)
    return copy


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


def _cookie_name(set_cookie: str) -> str:
    return set_cookie.partition("=")[0].strip()


def _is_session_cookie(name: str, session_name: str) -> bool:
    return name == session_name or name.startswith(session_name + ".")  # chunks: name.0, name.1…


def with_cookies(response_headers: list[tuple[str, str]], cookies: Headers) -> list[tuple[str, str]]:
    """A response that sets a session cookie must never be stored by a shared cache."""
    kept = [(k, v) for k, v in response_headers if k.lower() not in ("cache-control", "expires")]
    return [*kept, *cookies, ("Cache-Control", "no-store")]
