"""Several APIs per session (Multi-Resource Refresh Token), against the fake provider: a token per API
kept in the session, refreshed ahead of expiry, refused or unreachable without ending the session,
the rotated refresh token always kept; and how many APIs the cookie store holds."""

from __future__ import annotations

import base64
import json
import logging
import secrets
from typing import Any

import pytest
import webtest

from auth0_wsgi import Auth0Middleware, get_access_token
from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.errors import SessionTooLarge
from auth0_wsgi.refresh import REFUSAL_MEMORY
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.session import ApiToken, Lifetime, Session
from auth0_wsgi.stores.cookie import CookieStore
from tests.support.clocks import Clock
from tests.support.fake_provider import AUDIENCE
from tests.support.flows import addressed_as, log_in, settings_for
from tests.support.mrrt import BILLING, REPORTS, api_app, claims_of, hold, session_cookies


@pytest.fixture
def mrrt(fake, session_store):
    """A logged-in browser on an app that may call BILLING and REPORTS, which the provider allows."""
    fake.mrrt_audiences = {BILLING, REPORTS}

    def make(clock: Clock | None = None, **overrides: Any) -> webtest.TestApp:
        overrides.setdefault("session_store", session_store)
        overrides.setdefault("additional_audiences", f"{BILLING} {REPORTS}")
        middleware = Auth0Middleware(api_app, clock=clock or Clock(), **settings_for(fake, **overrides))
        app = webtest.TestApp(middleware, extra_environ=addressed_as())
        log_in(app)
        return app
    return make


def ask(app: webtest.TestApp, audience: str | None = None, scope: str | None = None,
        status: int = 200) -> dict[str, Any]:
    params = {k: v for k, v in (("audience", audience), ("scope", scope)) if v is not None}
    return app.get("/", params, status=status).json


def test_each_api_gets_its_own_token_kept_in_the_session(mrrt, fake):
    app = mrrt()
    primary = ask(app)["primary"]
    billing = ask(app, BILLING)
    assert claims_of(billing["token"])["aud"] == BILLING
    assert fake.refresh_grants == [BILLING]
    assert fake.last_token_request["audience"] == BILLING and "scope" not in fake.last_token_request
    reports = ask(app, REPORTS, "read:reports")
    assert claims_of(reports["token"])["aud"] == REPORTS
    assert claims_of(reports["token"])["scope"] == "read:reports"
    assert fake.refresh_grants == [BILLING, REPORTS]
    # the next requests read them from the session: no grant; the login's own token is untouched
    assert ask(app, BILLING)["token"] == billing["token"]
    assert ask(app, REPORTS, "read:reports")["token"] == reports["token"]
    assert ask(app, AUDIENCE)["token"] == ask(app)["primary"] == primary
    assert fake.refresh_grants == [BILLING, REPORTS]
    assert fake.refresh_reuses == 0


def test_no_token_reaches_the_log(mrrt, fake, caplog):
    caplog.set_level(logging.DEBUG, logger="auth0_wsgi")
    app = mrrt()
    refresh_tokens = set(fake.refresh_tokens)
    tokens = [ask(app, BILLING)["token"], ask(app, REPORTS, "read:reports")["token"], ask(app)["primary"]]
    fake.token_mode = "error:invalid_scope"
    ask(app, BILLING, "write:x", status=403)
    refresh_tokens |= fake.spent_refresh_tokens | set(fake.refresh_tokens)
    assert "billing.example.com" in caplog.text  # the API is named…
    for secret in (*tokens, *refresh_tokens):
        assert secret not in caplog.text  # …never a token


def test_another_scope_replaces_the_api_token(mrrt, fake):
    app = mrrt()
    first = ask(app, BILLING, "read:invoices")["token"]
    second = ask(app, BILLING, "write:invoices")["token"]
    assert claims_of(second)["scope"] == "write:invoices" and second != first
    assert ask(app, BILLING, "write:invoices")["token"] == second
    assert fake.refresh_grants == [BILLING, BILLING]


def test_api_tokens_are_refreshed_ahead_of_expiry(mrrt, fake):
    clock = Clock()
    app = mrrt(clock)
    billing = ask(app, BILLING)["token"]
    clock.advance(3600 - 30)  # inside the 60 s leeway, for the login's token and BILLING's
    again = ask(app, BILLING)
    assert again["token"] != billing and claims_of(again["token"])["aud"] == BILLING
    assert fake.refresh_grants == [BILLING, None, BILLING]  # the login's refresh, then BILLING's
    assert ask(app, BILLING)["token"] == again["token"]
    assert fake.refresh_reuses == 0


def test_each_grant_uses_the_newest_refresh_token_and_keeps_the_others_tokens(mrrt, fake):
    clock = Clock()
    app = mrrt(clock)
    fake.access_token_ttl = 7200  # the other APIs' tokens outlive the login's (3600 s)
    used: list[str] = []
    for audience in (BILLING, REPORTS):
        before = set(fake.refresh_tokens)
        ask(app, audience)
        used.append(fake.last_token_request["refresh_token"])
        assert before == {used[-1]}  # the only live one: the newest
        assert len(fake.refresh_tokens) == 1 and used[-1] not in fake.refresh_tokens
    billing, reports = ask(app, BILLING)["token"], ask(app, REPORTS)["token"]
    clock.advance(3600 - 30)  # the login's token is due, the other APIs' not yet
    ask(app)
    assert fake.refresh_grants == [BILLING, REPORTS, None]
    assert fake.last_token_request["refresh_token"] not in used  # the one REPORTS' grant rotated to
    assert ask(app, BILLING)["token"] == billing and ask(app, REPORTS)["token"] == reports
    assert fake.refresh_grants == [BILLING, REPORTS, None] and fake.refresh_reuses == 0


@pytest.mark.parametrize("audience", [
    pytest.param("https://evil.example.com", id="other-api"),
    pytest.param(BILLING + "/", id="trailing-slash"),
    pytest.param(BILLING.upper(), id="other-case"),
    pytest.param(BILLING + "\r\nX-Injected: 1", id="crlf"),
    pytest.param("x" * 5000, id="huge"),
    pytest.param("", id="empty"),
])
def test_an_unlisted_audience_is_refused_without_asking_the_provider(mrrt, fake, audience, caplog):
    app = mrrt()
    answer = ask(app, audience, status=403)
    assert answer["error"] == "audience_not_allowed" and answer["audience"] == audience
    assert "additional_audiences" in answer["message"] and len(answer["message"]) < 400
    assert fake.counts["grant:refresh_token"] == 0
    assert ask(app)["primary"]  # the session goes on


@pytest.mark.parametrize(("scope", "error"), [
    pytest.param("read:x\r\nwrite:y", "ValueError", id="crlf"),
    pytest.param("read:x  write:y", "ValueError", id="two-spaces"),
    pytest.param('read:"x"', "ValueError", id="quote"),
    pytest.param("r" * 2000, "ValueError", id="huge"),
])
def test_a_malformed_scope_is_a_clear_error_without_a_grant(mrrt, fake, scope, error):
    app = mrrt()
    assert ask(app, BILLING, scope, status=400)["error"] == error
    assert fake.counts["grant:refresh_token"] == 0


def test_a_non_string_audience_is_a_type_error(mrrt, fake):
    app = mrrt()
    assert ask(app, "<a number>", status=400)["error"] == "TypeError"
    assert fake.counts["grant:refresh_token"] == 0


def test_anonymous_gets_none(fake):
    app = webtest.TestApp(Auth0Middleware(api_app, **settings_for(fake, require_auth=False)),
                          extra_environ=addressed_as())
    assert ask(app, BILLING)["token"] is None


def test_not_behind_the_filter_says_so():
    with pytest.raises(RuntimeError, match="did not pass through the auth0 filter"):
        get_access_token({}, BILLING)
    assert get_access_token({}) is None  # as before: reads the environ only


@pytest.mark.parametrize(("provider", "code"), [
    pytest.param({"mrrt_audiences": set()}, "HTTP 403", id="403-access_denied"),
    pytest.param({"token_mode": "error:invalid_scope"}, "invalid_scope", id="invalid_scope"),
    pytest.param({"token_mode": "error:unauthorized_client"}, "unauthorized_client", id="unauthorized"),
])
def test_a_provider_refusal_raises_audience_refused_and_the_session_lives_on(mrrt, fake, provider, code,
                                                                           caplog):
    clock = Clock()
    app = mrrt(clock)
    primary = ask(app)["primary"]
    refresh_token = next(iter(fake.refresh_tokens))
    for name, value in provider.items():
        setattr(fake, name, value)
    answer = ask(app, BILLING, status=403)
    assert answer["error"] == "audience_refused" and answer["audience"] == BILLING
    assert code in answer["message"]
    assert answer["primary"] == primary
    assert fake.refresh_tokens == {refresh_token: "auth0|alice"}  # not spent: kept
    asked = fake.counts["grant:refresh_token"]
    assert ask(app, BILLING, status=403)["error"] == "audience_refused"  # remembered: not asked again
    assert fake.counts["grant:refresh_token"] == asked
    fake.token_mode, fake.mrrt_audiences = "ok", {BILLING}
    clock.advance(REFUSAL_MEMORY + 1)  # a policy fixed in the provider is seen a minute later
    assert ask(app)["primary"] == primary  # the session lives on
    assert claims_of(ask(app, BILLING)["token"])["aud"] == BILLING  # with the same refresh token
    assert fake.last_token_request["refresh_token"] == refresh_token
    assert refresh_token not in caplog.text and primary not in caplog.text


def test_a_token_for_another_api_is_refused_and_its_rotated_refresh_token_kept(mrrt, fake):
    app = mrrt()
    primary = ask(app)["primary"]
    fake.mrrt_audiences, fake.mrrt_fallback = set(), True  # the provider answers the login's API's token
    answer = ask(app, BILLING, status=403)
    assert answer["error"] == "audience_refused" and answer["audience"] == BILLING
    assert answer["primary"] == primary
    assert fake.refresh_grants == [None] and len(fake.refresh_tokens) == 1
    fake.mrrt_audiences, fake.mrrt_fallback = {BILLING}, False
    assert claims_of(ask(app, BILLING)["token"])["aud"] == BILLING  # with the rotated refresh token
    assert fake.refresh_reuses == 0 and ask(app)["primary"] == primary


@pytest.mark.parametrize("mode", ["500", "html", "truncated"])
def test_a_provider_outage_is_a_503_with_backoff_and_never_ends_the_session(mrrt, fake, mode, caplog):
    clock = Clock()
    app = mrrt(clock)
    primary = ask(app)["primary"]
    fake.token_mode = mode
    answer = ask(app, BILLING, status=503)
    assert answer["error"] == "provider_unavailable" and answer["retry_after"] >= 1
    assert answer["primary"] == primary
    asked = fake.counts["grant:refresh_token"]
    ask(app, BILLING, status=503)
    assert fake.counts["grant:refresh_token"] == asked  # backing off: the provider is not asked
    fake.token_mode = "ok"
    clock.advance(answer["retry_after"])
    assert claims_of(ask(app, BILLING)["token"])["aud"] == BILLING
    assert ask(app)["primary"] == primary and fake.refresh_reuses == 0


def test_while_the_provider_is_down_a_due_api_token_is_served_until_it_expires(mrrt, fake):
    clock = Clock()
    app = mrrt(clock, refresh_leeway=120)
    fake.access_token_ttl = 100_000
    ask(app)
    fake.access_token_ttl = 600
    billing = ask(app, BILLING)["token"]
    clock.advance(600 - 60)  # BILLING's token is due (leeway 120 s), not expired
    fake.token_mode = "500"
    assert ask(app, BILLING)["token"] == billing
    clock.advance(61)  # now expired
    assert ask(app, BILLING, status=503)["error"] == "provider_unavailable"


def test_a_session_that_ends_at_the_login_refresh_returns_none(mrrt, fake):
    clock = Clock()
    app = mrrt(clock)
    clock.advance(3600 - 30)
    fake.refresh_tokens.clear()  # revoked at the provider: the login's refresh ends the session
    response = app.get("/", {"audience": BILLING}, headers={"Accept": "application/json"}, status=401)
    assert response.json["error"] == "login_required"


# -- the cookie budget -----------------------------------------------------------------------------
# Measured with Auth0-sized tokens: a 900-byte JWT access token per API, an ID token of ~1,100 bytes
# with profile claims, a rotating refresh token. The README's "Several APIs" section states these.
ONE_COOKIE_APIS = 2  # the session still fits one 4 KB cookie
GUNICORN_HEADER_APIS = 7  # the Cookie request header stays under gunicorn's default 8190 bytes
MAX_COOKIE_APIS = 23  # the most the five chunks hold; one more and the session is not saved


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any], size: int | None = None) -> str:
    head, signature = _b64(b'{"alg":"RS256","typ":"JWT","kid":"k1"}'), _b64(secrets.token_bytes(256))
    body = _b64(json.dumps(claims).encode())
    if size is not None:  # random claims (they do not compress) up to an Auth0-sized token
        body += secrets.token_urlsafe(size)[: size - len(head) - len(body) - len(signature) - 2]
    return f"{head}.{body}.{signature}"


def _auth0_sized_session(apis: int) -> Session:
    profile = {"iss": "https://tenant.us.auth0.com/", "sub": "auth0|64b7f2c1e4a5d6f7a8b9c0d1",
               "aud": "x" * 32, "iat": 1, "exp": 2, "name": "Alice Example", "email": "alice@example.com",
               "nickname": "alice", "email_verified": True, "updated_at": "2024-01-01T00:00:00.000Z",
               "picture": "https://s.gravatar.com/avatar/" + "a" * 32 + "?s=480&r=pg&d=https%3A%2F%2Fcdn."
                          "auth0.com%2Favatars%2Fal.png", "sid": "s" * 32, "nonce": "n" * 43}
    access = {"sub": profile["sub"], "iss": profile["iss"]}
    return Session(_jwt(profile), _jwt(access, 900), 2_000_000_000, "v1." + secrets.token_urlsafe(100),
                   1_700_000_000, 1_700_000_000, "s" * 32, dict(profile),
                   tuple(ApiToken(f"https://api{i}.example.com", "read:all", _jwt(access, 900), 2_000_000_000)
                         for i in range(apis)))


def _cookie_header(apis: int) -> tuple[str, int]:
    """The session saved by the cookie store; the Cookie header a browser sends back, and its chunks."""
    clock = Clock(1_700_000_000)
    store = CookieStore("auth0_session", Sealer("s" * 40, "session"), Lifetime(86400, 604800),
                        CookieOptions("/", True, "Lax"), clock=clock)
    environ = {"HTTP_COOKIE": _sent(store.save({}, _auth0_sized_session(0)))}
    store.load(environ)  # a session this request carried, which then gained the APIs' tokens
    headers = store.save(environ, _auth0_sized_session(apis))
    cookies = _sent(headers).split("; ") if _sent(headers) else []
    return "; ".join(cookies), len(cookies)


def _sent(headers: list[tuple[str, str]]) -> str:
    """The Cookie header a browser sends back after these Set-Cookie headers (deletions left out)."""
    return "; ".join(value.split(";")[0] for _, value in headers if "Max-Age=0" not in value)


@pytest.mark.parametrize(("apis", "chunks", "under_8190"), [
    pytest.param(0, 1, True, id="login-api-only"),
    pytest.param(ONE_COOKIE_APIS, 1, True, id="one-cookie"),
    pytest.param(ONE_COOKIE_APIS + 1, 2, True, id="two-chunks"),
    pytest.param(GUNICORN_HEADER_APIS, 2, True, id="gunicorn-default-limit"),
    pytest.param(GUNICORN_HEADER_APIS + 1, 3, False, id="past-gunicorn-default"),
    pytest.param(MAX_COOKIE_APIS, 5, False, id="five-chunks"),
])
def test_cookie_size_with_n_apis(apis, chunks, under_8190):
    header, written = _cookie_header(apis)
    assert written == chunks
    assert (len("Cookie: ") + len(header) <= 8190) is under_8190
    session = CookieStore("auth0_session", Sealer("s" * 40, "session"), Lifetime(86400, 604800),
                          CookieOptions("/", True, "Lax"), clock=Clock(1_700_000_000)).load(
        {"HTTP_COOKIE": header})
    assert session is not None and len(session.apis) == apis  # every API's token comes back


def test_a_session_with_too_many_apis_for_the_cookie_is_not_saved_and_says_so(caplog):
    header, written = _cookie_header(MAX_COOKIE_APIS + 1)
    assert written == 0 and header == ""
    assert "session too large" in caplog.text and "Redis" in caplog.text


def test_a_new_session_too_large_for_the_cookie_is_refused_where_the_login_ends():
    """At the callback nothing was loaded: a redirect to the page would find no session and send the
    browser to log in again, for ever. The callback shows SessionTooLarge instead."""
    store = CookieStore("auth0_session", Sealer("s" * 40, "session"), Lifetime(86400, 604800),
                        CookieOptions("/", True, "Lax"), clock=Clock(1_700_000_000))
    with pytest.raises(SessionTooLarge):
        store.save({}, _auth0_sized_session(MAX_COOKIE_APIS + 1))


def test_the_login_api_with_another_scope_is_kept_beside_the_login_token(mrrt, fake):
    app = mrrt()
    primary = ask(app)["primary"]
    narrow = ask(app, None, "read:messages")["token"]
    assert claims_of(narrow)["aud"] == AUDIENCE and claims_of(narrow)["scope"] == "read:messages"
    assert fake.last_token_request["audience"] == AUDIENCE
    assert ask(app, AUDIENCE, "read:messages")["token"] == narrow and ask(app)["primary"] == primary
    assert fake.refresh_grants == [AUDIENCE]


def test_a_scope_without_any_audience_is_refused(fake):
    app = webtest.TestApp(Auth0Middleware(api_app, **settings_for(fake, audience="")),
                          extra_environ=addressed_as())
    log_in(app)
    assert ask(app, None, "read:x", status=403)["error"] == "audience_not_allowed"
    assert fake.counts["grant:refresh_token"] == 0




def test_a_browser_that_keeps_the_older_of_two_racing_cookies_keeps_its_session(mrrt, fake):
    """Two requests of one page ask for two APIs at once with the same cookie: the second finds the
    first's grant (its refresh token is spent) and chains a grant on the refresh token that came in
    the first's result. Their cookies then hold different refresh tokens, and a browser may keep the
    first's (responses arrive in any order). Its next grant, long after the 120 s a result usually
    lives, must not spend that rotated-out refresh token (Auth0 would revoke the family)."""
    clock = Clock()
    app = mrrt(clock)
    both_start_with = session_cookies(app)
    ask(app, BILLING)  # the first request: spends the login's refresh token
    first_leaves_with = session_cookies(app)
    hold(app, both_start_with)
    ask(app, REPORTS)  # the second: takes the first's result, then spends the refresh token it brought
    hold(app, first_leaves_with)  # the browser kept the first response's cookie
    clock.advance(1800)  # within the session's rolling lifetime, far past a result's usual 120 s
    reports = ask(app, REPORTS)
    assert claims_of(reports["token"])["aud"] == REPORTS
    assert fake.refresh_reuses == 0
    assert fake.refresh_grants == [BILLING, REPORTS]  # the second's grant, found again: no third


@pytest.mark.parametrize("store", ["cookie", "redis"])  # shared by two app instances, as after a restart
def test_an_api_removed_from_the_configuration_leaves_the_session_at_its_next_save(fake, store, request):
    """Its token is never served again (the audience is refused first); the next save drops it so
    that it stops riding in the cookie."""
    session_store = request.getfixturevalue("redis_url") if store == "redis" else store
    fake.mrrt_audiences = {BILLING, REPORTS}
    clock = Clock()
    settings = settings_for(fake, session_store=session_store, additional_audiences=f"{BILLING} {REPORTS}")
    before = Auth0Middleware(api_app, clock=clock, **settings)
    app = webtest.TestApp(before, extra_environ=addressed_as())
    log_in(app)
    ask(app, BILLING)
    ask(app, REPORTS)
    # the app restarts without REPORTS, with the same secret (and the same store)
    app.app = after = Auth0Middleware(api_app, clock=clock, **{**settings, "additional_audiences": BILLING})
    assert ask(app, REPORTS, status=403)["error"] == "audience_not_allowed"
    clock.advance(400)  # past the touch interval: the next request saves the session
    ask(app)
    cookie = "; ".join(f"{name}={value}" for name, value in session_cookies(app).items())
    stored = after.store.load({"HTTP_COOKIE": cookie, **addressed_as()})
    assert [api.audience for api in stored.apis] == [BILLING]


def test_a_dead_refresh_token_ends_the_session_whichever_api_asked(mrrt, fake):
    """``invalid_grant`` is about the refresh token, not the API (Auth0 answers an API outside its
    policies with another refusal, or silently with the login's API): revoked, expired or reused,
    it can refresh nothing, so the session ends as it does for the login's own refresh."""
    app = mrrt()
    ask(app)
    fake.token_mode = "error:invalid_grant"
    answer = ask(app, BILLING)
    assert answer["token"] is None and answer["primary"] is None  # the session has ended
    assert not session_cookies(app)
