"""Review of several APIs per session (MRRT) and refresh, as an attacker and as an unlucky operator:
each test failed before its fix."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest

from auth0_wsgi import Auth0Middleware, api_session
from auth0_wsgi.audiences import LOGIN_API, Target
from auth0_wsgi.config import Config
from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.coordination import LocalCoordinator
from auth0_wsgi.refresh import Refresher
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.session import ApiToken, Lifetime, Session
from auth0_wsgi.stores.memory import MemoryBackend
from auth0_wsgi.stores.server import ServerSideStore
from tests.support.clocks import Clock
from tests.support.flows import addressed_as, log_in, settings_for
from tests.support.mrrt import BILLING, REPORTS, api_app, claims_of, hold, session_cookies
from tests.support.servers import serve


# -- api_session and redirects -----------------------------------------------------------------------
class Recorder:
    """A loopback host that records the Authorization header of each request, and answers a fixed
    status, headers and body."""

    def __init__(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status, self.headers = status, headers
        self.seen: list[str] = []

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        self.seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        start_response(self.status, self.headers)
        return [b"{}"]


@pytest.fixture
def redirecting_api() -> Iterator[tuple[str, Recorder]]:
    """An API that redirects to another host (an open redirect, a moved endpoint), which answers
    401 invalid_token: the API's URL, and what that other host saw."""
    elsewhere = Recorder("401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
    with serve(elsewhere) as elsewhere_url:
        api = Recorder("302 Found", [("Location", elsewhere_url + "/steal")])
        with serve(api) as api_url:
            yield api_url, elsewhere


def _calling(url: str) -> Any:
    def app(environ: dict, start_response: Any) -> list[bytes]:
        with api_session(environ, BILLING) as session:
            status = session.get(url + "/invoices", timeout=5).status_code
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"status": status}).encode()]
    return app


def test_api_session_never_sends_a_token_to_the_host_a_redirect_leads_to(fake, redirecting_api):
    api_url, elsewhere = redirecting_api
    fake.mrrt_audiences = {BILLING}
    middleware = Auth0Middleware(_calling(api_url), **settings_for(fake, additional_audiences=BILLING))
    app = webtest.TestApp(middleware, extra_environ=addressed_as())
    log_in(app)
    assert app.get("/").json == {"status": 401}  # the other host's answer, left to the view
    assert elsewhere.seen == [""]  # requests stripped the token at the redirect; no retry put one back
    assert fake.refresh_grants == [BILLING]  # nor did the other host's challenge force a grant


# -- how long a chained grant's result answers an older cookie -----------------------------------------

def _racing_pair(app: webtest.TestApp) -> None:
    """Two requests of one cookie ask BILLING and REPORTS at once; the browser keeps the first's
    answer, whose refresh token the second (chained) grant spent."""
    both_start_with = session_cookies(app)
    app.get("/", {"audience": BILLING})
    first_leaves_with = session_cookies(app)
    hold(app, both_start_with)
    app.get("/", {"audience": REPORTS})
    hold(app, first_leaves_with)


def _browser(fake: Any, clock: Clock, **overrides: Any) -> webtest.TestApp:
    fake.mrrt_audiences = {BILLING, REPORTS}
    settings = settings_for(fake, additional_audiences=f"{BILLING} {REPORTS}", **overrides)
    app = webtest.TestApp(Auth0Middleware(api_app, clock=clock, **settings), extra_environ=addressed_as())
    log_in(app)
    return app


def test_an_older_cookie_touched_then_idle_never_spends_its_refresh_token_twice(fake):
    """The older cookie is touched while its access token is valid (its rolling expiry slides), then
    comes back after almost a rolling lifetime more: later than the rolling lifetime after the grant."""
    clock = Clock()
    fake.access_token_ttl = 600
    app = _browser(fake, clock, session_rolling_duration=900)
    _racing_pair(app)
    clock.advance(500)  # the login's token is not due yet (60 s leeway): a touch, no refresh
    app.get("/")
    clock.advance(500)  # 1,000 s after the chained grant, 500 s after the touch: the session lives
    answer = app.get("/", {"audience": REPORTS}).json  # refreshes: takes the chained grant's result
    assert claims_of(answer["token"])["aud"] == REPORTS
    assert fake.refresh_reuses == 0
    assert fake.refresh_grants[:3] == [BILLING, REPORTS, None]  # no second REPORTS grant on one token


def test_a_chained_grants_result_does_not_outlive_the_session(fake, tmp_path: Path):
    """Sealed tokens stay on disk no longer than the session that could present them may live."""
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o700)
    clock = Clock()
    start = clock.now
    app = _browser(fake, clock, session_absolute_duration=1000, refresh_lock_dir=str(lock_dir))
    clock.advance(700)
    _racing_pair(app)
    results = [p for p in lock_dir.iterdir() if p.name.endswith(".result")]
    assert len(results) == 2
    assert all(os.stat(p).st_mtime <= start + 1000 + 1 for p in results)  # mtime: the end of its life


# -- secrets in reprs ----------------------------------------------------------------------------------
def test_an_api_tokens_repr_shows_no_token():
    token = ApiToken(BILLING, "read:invoices", "eyJ.secret-access-token.sig", 1_800_000_000)
    assert "secret-access-token" not in repr(token) and BILLING in repr(token)


def test_what_a_server_side_store_leaves_in_the_environ_shows_no_refresh_token():
    """Debug pages and error reporters print the environ (Django's technical 500 shows META)."""
    clock = Clock()
    store = ServerSideStore("auth0_session", MemoryBackend(clock), ["s" * 40], Lifetime(86400, 604800),
                            CookieOptions("/", True, "Lax"), clock)
    now = int(clock())
    session = Session("h.e.s", "access", now + 3600, "v1.secret-refresh-token", now, now, "sid-1",
                      {"sub": "auth0|alice"})
    environ: dict[str, Any] = {}
    store.save(environ, session)
    assert environ and "secret-refresh-token" not in repr(environ)


# -- the single flight's keys ---------------------------------------------------------------------------
class NonRotatingProvider:
    """A token endpoint whose refresh tokens do not rotate (Auth0 with rotation off): each grant's
    access token names what it was asked for."""

    def __init__(self) -> None:
        self.grants: list[tuple[str | None, str | None]] = []

    def refresh(self, refresh_token: str, *, audience: str | None = None,
                scope: str | None = None) -> dict[str, Any]:
        self.grants.append((audience, scope))
        return {"access_token": f"token-for-{audience}-{scope}", "token_type": "Bearer", "expires_in": 3600}


def test_a_non_rotating_refresh_token_keeps_each_scope_of_an_api_apart(fake):
    """``scope=None`` (the API's default) and the scope literally named ``None`` are two targets."""
    clock = Clock()
    config = Config.from_settings(settings_for(fake, additional_audiences=BILLING))
    provider = NonRotatingProvider()
    refresher = Refresher(config, provider, LocalCoordinator(clock),  # type: ignore[arg-type]
                          Sealer(config.secret, "refresh"), clock=clock)
    now = int(clock())
    session: Session | None = Session("h.e.s", "access", now + 3600, "rt", now, now, None,
                                      {"sub": "auth0|alice"})
    for target in (LOGIN_API, Target(BILLING, None), Target(BILLING, "None")):
        assert session is not None
        outcome = refresher.ensure(session, target, force=True)
        assert outcome.error is None
        session = outcome.session
    assert session is not None and session.api(BILLING) == ApiToken(BILLING, "None", "token-for-"
                                                                     f"{BILLING}-None", now + 3600)
    assert provider.grants == [(None, None), (BILLING, None), (BILLING, "None")]


# -- hostile or unlucky answers --------------------------------------------------------------------------
@pytest.mark.parametrize("challenge", [
    pytest.param('Bearer error="insufficient_scope", error_description="invalid_token expected"',
                 id="in-a-description"),
    pytest.param('Bearer realm="invalid_token", error="insufficient_scope"', id="as-a-realm"),
    pytest.param('Basic realm="api", error="invalid_token"', id="not-bearer"),
])
def test_api_session_retries_only_on_a_bearer_invalid_token_error(fake, challenge):
    api = Recorder("401 Unauthorized", [("WWW-Authenticate", challenge)])
    fake.mrrt_audiences = {BILLING}
    with serve(api) as url:
        middleware = Auth0Middleware(_calling(url), **settings_for(fake, additional_audiences=BILLING))
        app = webtest.TestApp(middleware, extra_environ=addressed_as())
        log_in(app)
        assert app.get("/").json == {"status": 401}
    assert len(api.seen) == 1 and fake.refresh_grants == [BILLING]  # no forced grant, no retry


def test_a_rate_limited_grant_for_another_api_is_a_503_with_backoff_not_a_refusal(fake):
    """Auth0 answers its rate limits with 429 and a JSON ``too_many_requests`` error: a passing
    failure, which must back off (asking again at every request makes it worse), not a refusal."""
    app = _browser(fake, Clock())
    fake.token_answer = (429, b'{"error":"too_many_requests","error_description":"Global limit"}')
    answer = app.get("/", {"audience": BILLING}, status="*").json
    assert answer["error"] == "provider_unavailable"
    asked = fake.counts["grant:refresh_token"]
    app.get("/", {"audience": BILLING}, status="*")
    assert fake.counts["grant:refresh_token"] == asked
