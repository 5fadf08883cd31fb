"""``session_claims``: a session keeps only the claims asked for (and those the middleware needs),
without the raw ID token, so the cookie shrinks; refreshes leave those claims as the login did;
logout goes to the provider without ``id_token_hint``. Against every store, and the real provider."""

from __future__ import annotations

import secrets

import pytest
import requests

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.claims import ALWAYS_KEPT, trimmed
from auth0_wsgi.session import Session
from tests.support.apps import echo_app
from tests.support.flows import log_in
from tests.support.http import HTML, JSON, query_of
from tests.support.real_idp import (
    confirm_logout,
    login_via_form,
    provider_for_an_app,
)
from tests.support.servers import serve

# What an Auth0 ID token for a social login typically carries besides the registered claims.
PROFILE = {"given_name": "Alice", "family_name": "Example", "nickname": "alice", "locale": "en",
           "picture": "https://s.gravatar.com/avatar/0123456789abcdef0123456789abcdef?s=480&r=pg&d=https%3A"
                      "%2F%2Fcdn.auth0.com%2Favatars%2Fal.png",
           "updated_at": "2026-11-29T10:00:00.000Z", "email_verified": True,
           "https://example.com/roles": ["editor", "billing-admin"]}
NEEDED = {"acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor", "amr": ["mfa"],
          "auth_time": 1_795_000_000, "org_id": "org_W7aV3s", "org_name": "acme"}


def session_cookie_bytes(app) -> int:
    return sum(len(name) + len(value) for name, value in app.cookies.items()
               if name == "auth0_session" or name.startswith("auth0_session."))


@pytest.fixture
def realistic(fake):
    fake.id_token_claims = lambda claims: {**claims, **PROFILE}


def test_only_the_claims_asked_for_and_the_needed_ones_are_kept(make_app, fake, realistic):
    app = make_app(session_claims="email name")
    log_in(app)
    seen = app.get("/x", headers=JSON).json
    assert seen["auth0.user"] == {"sub": "auth0|alice", "sid": "sid-1", "iss": fake.issuer,
                                  "email": "alice@example.com", "name": "Alice Example"}
    assert seen["auth0.id_token"] is None
    assert seen["REMOTE_USER"] == "auth0|alice" and seen["auth0.access_token"]


def test_without_session_claims_every_claim_and_the_id_token_are_kept(make_app, fake, realistic):
    app = make_app()
    log_in(app)
    seen = app.get("/x", headers=JSON).json
    assert seen["auth0.user"]["picture"] == PROFILE["picture"] and "exp" in seen["auth0.user"]
    assert seen["auth0.id_token"].count(".") == 2


def test_the_claims_the_middleware_needs_are_always_kept(build_app, fake):
    fake.id_token_claims = lambda claims: {**claims, **PROFILE, **NEEDED}
    app = build_app(session_claims="nickname")
    log_in(app)
    user = app.get("/x", headers=JSON).json["auth0.user"]
    assert user == {"sub": "auth0|alice", "sid": "sid-1", "iss": fake.issuer, "nickname": "alice", **NEEDED}
    assert set(ALWAYS_KEPT) <= set(user)


def test_the_session_cookie_shrinks(build_app, fake, realistic):
    full = build_app()
    log_in(full)
    small = build_app(session_claims="email")
    log_in(small)
    full_bytes, small_bytes = session_cookie_bytes(full), session_cookie_bytes(small)
    assert small_bytes < full_bytes * 0.75, (small_bytes, full_bytes)


def test_refreshes_keep_the_claims_as_the_login_left_them(make_app, fake, realistic):
    fake.access_token_ttl = 30  # inside refresh_leeway: every request refreshes
    app = make_app(session_claims="email name")
    log_in(app)
    first = app.get("/x", headers=JSON).json
    fake.id_token_claims = lambda claims: {**claims, **PROFILE, "name": "Renamed", "email": "new@example.com"}
    second = app.get("/x", headers=JSON).json
    assert second["auth0.access_token"] != first["auth0.access_token"]  # it did refresh
    assert second["auth0.user"] == first["auth0.user"]
    assert second["auth0.id_token"] is None  # the refreshed ID token is checked, not kept


def test_the_cookie_stays_small_after_a_refresh(build_app, fake, realistic):
    fake.access_token_ttl = 30
    full, small = build_app(), build_app(session_claims="email")
    for app in (full, small):
        log_in(app)
        app.get("/x", headers=JSON)  # a refresh, saved
    assert session_cookie_bytes(small) < session_cookie_bytes(full) * 0.75


def test_a_refresh_for_another_user_still_ends_the_session(build_app, fake):
    """``iss`` and ``sub`` stay in the trimmed claims: the refresh's same-user check still works."""
    fake.access_token_ttl = 30
    app = build_app(session_claims="email")
    log_in(app)
    fake.refresh_sub = "auth0|mallory"
    app.get("/x", headers=JSON, status=401)


def test_logout_sends_the_client_id_instead_of_the_id_token_hint(build_app, fake):
    plain, trimmed_app = build_app(), build_app(session_claims="email")
    hints = {}
    for name, app in (("plain", plain), ("trimmed", trimmed_app)):
        log_in(app)
        hints[name] = query_of(app.get("/logout").headers["Location"])
    assert "id_token_hint" in hints["plain"]
    assert "id_token_hint" not in hints["trimmed"]
    assert hints["trimmed"]["client_id"] == "fake-client"
    assert hints["trimmed"]["post_logout_redirect_uri"] == "http://app.test/"


@pytest.mark.parametrize("claims", [
    pytest.param({"sub": "auth0|alice", "sid": "sid-1", "email": "a@example.com"}, id="with-sid"),
    pytest.param({"sub": "auth0|alice", "roles": ["a", "b"], "n": 1.5}, id="without-sid"),
])
def test_a_session_of_kept_claims_round_trips(claims):
    tokens = {"id_token": "a.b.c", "access_token": "at", "refresh_token": "rt", "expires_in": 60}
    session = Session.from_kept_claims(tokens, claims, 1000)
    assert (session.id_token, session.own_claims, session.sid) == ("", True, claims.get("sid"))
    loaded = Session.from_bytes(session.to_bytes())
    assert loaded is not None and loaded.user == claims and loaded.own_claims and loaded.id_token == ""
    refreshed = loaded.with_tokens(access_token="at2", expires_at=2000, refresh_token=None,
                                   id_token="x.y.z", now=1500)
    assert (refreshed.id_token, refreshed.user, refreshed.refresh_token) == ("", claims, "rt")


def test_trimmed_never_adds_a_claim():
    assert trimmed({"sub": "s", "email": "e"}, ("email", "name", "acr")) == {"sub": "s", "email": "e"}


# -- against the real provider -----------------------------------------------------------------
@pytest.fixture(scope="module")
def real():
    with provider_for_an_app("app-claims") as started:
        yield started


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_login_and_logout_with_session_claims(real):
    idp, client, port = real
    settings = {"issuer": idp.issuer, "client_id": client.client_id, "client_secret": client.client_secret,
                "base_url": f"http://127.0.0.1:{port}", "secret": secrets.token_urlsafe(32),
                "audience": idp.audience, "public_paths": "/"}
    sizes = {}
    for keep in ("", "email"):
        with serve(Auth0Middleware(echo_app, **settings, session_claims=keep), port) as url:
            http = requests.Session()
            seen = login_via_form(http, http.get(url + "/x", headers=HTML, timeout=10), "alice").json()
            sizes[keep] = sum(len(c.name) + len(c.value or "") for c in http.cookies
                              if c.name.startswith("auth0_session"))
            if not keep:
                continue
            assert set(seen["auth0.user"]) == {"sub", "sid", "iss", "auth_time", "email"}
            assert seen["auth0.id_token"] is None
            out = http.get(url + "/logout", allow_redirects=False, timeout=10)
            to_provider = out.headers["Location"]
            assert to_provider.startswith(idp.issuer) and "id_token_hint" not in to_provider
            assert query_of(to_provider)["client_id"] == client.client_id
            # The provider accepts the logout without the hint, and sends the browser back.
            page = http.get(to_provider, timeout=10)
            back = confirm_logout(http, page)
            assert back.url == url + "/"
            assert http.get(url + "/x", headers=JSON, timeout=10).status_code == 401
    assert sizes["email"] < sizes[""] * 0.8, sizes
