"""Logout ends the session everywhere we can reach: the store, the revocation list, the provider's
refresh token (RFC 7009), and the provider session (the redirect). None of it may block the logout."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from tests.support.fake_provider import CLIENT_ID, CLIENT_SECRET
from tests.support.flows import log_in
from tests.support.http import HTML, JSON
from tests.support.servers import free_port


def _refresh_token(fake) -> str:
    (token,) = fake.refresh_tokens  # the one refresh token this login holds
    return token


def _ends_locally(app, fake, response) -> None:
    assert response.status_int == 302
    assert response.headers["Location"].startswith(fake.issuer + "logout?")
    assert "auth0_session" not in app.cookies
    app.get("/x", headers=JSON, status=401)


def test_logout_revokes_the_refresh_token_at_the_provider(app, fake):
    log_in(app)
    refresh_token = _refresh_token(fake)
    response = app.get("/logout")
    _ends_locally(app, fake, response)
    assert fake.revoked == [refresh_token]
    assert fake.last_revoke_request == {"token": refresh_token, "token_type_hint": "refresh_token",
                                        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert refresh_token not in fake.refresh_tokens  # the provider refuses it from now on


def test_logout_revokes_with_the_token_endpoints_client_authentication(build_app, fake):
    fake.auth_method = "client_secret_basic"
    app = build_app(token_endpoint_auth_method="client_secret_basic")
    log_in(app)
    refresh_token = _refresh_token(fake)
    app.get("/logout")
    assert fake.revoked == [refresh_token]
    assert "client_secret" not in fake.last_revoke_request


def test_logout_without_a_session_revokes_nothing(app, fake):
    assert app.get("/logout").status_int == 302
    assert fake.counts["/oauth/revoke"] == 0


def test_logout_without_a_refresh_token_revokes_nothing(make_app, fake):
    app = make_app(scope="openid profile email")
    log_in(app)
    _ends_locally(app, fake, app.get("/logout"))
    assert fake.counts["/oauth/revoke"] == 0


def _revocation_down(fake) -> None:
    fake.revoke_status = 503


def _revocation_slow(fake) -> None:
    fake.revoke_delay = 3.0  # far beyond http_timeout (0.5 s)


def _revocation_unreachable(fake) -> None:
    fake.discovery_overrides["revocation_endpoint"] = f"http://127.0.0.1:{free_port()}/oauth/revoke"


def _revocation_not_advertised(fake) -> None:
    fake.discovery_overrides["revocation_endpoint"] = None


@pytest.mark.parametrize("break_it", [
    pytest.param(_revocation_down, id="endpoint-answers-503"),
    pytest.param(_revocation_slow, id="endpoint-slower-than-http_timeout"),
    pytest.param(_revocation_unreachable, id="endpoint-unreachable"),
    pytest.param(_revocation_not_advertised, id="no-revocation_endpoint-in-discovery"),
])
def test_logout_completes_whatever_happens_to_the_revocation(build_app, fake, caplog, break_it):
    caplog.set_level(logging.DEBUG)
    break_it(fake)
    app = build_app(http_timeout=0.5)
    log_in(app)
    refresh_token = _refresh_token(fake)
    started = time.monotonic()
    response = app.get("/logout")
    assert time.monotonic() - started < 2.5  # bounded by http_timeout, not by the provider
    _ends_locally(app, fake, response)
    assert fake.revoked == []
    assert refresh_token not in caplog.text


def test_a_copied_cookie_session_is_refused_after_logout(build_app, fake):
    app = build_app()  # the cookie store: the session lives in the browser's cookie
    log_in(app)
    copied = app.cookies["auth0_session"]
    app.get("/logout")
    app.set_cookie("auth0_session", copied)
    assert app.get("/x", headers=JSON, status=401).json["error"] == "login_required"
    app.set_cookie("auth0_session", copied)
    page = app.get("/reports", headers=HTML)  # this browser has just logged out: it is told so, once
    assert "You are signed out" in page.text and "REMOTE_USER" not in page.text
    app.set_cookie("auth0_session", copied)
    page = app.get("/reports", headers=HTML, status=302)
    assert page.headers["Location"].startswith("http://app.test/login")


def test_a_new_login_after_logout_works(build_app, fake):
    app = build_app()
    log_in(app)
    app.get("/logout")
    fake.id_token_claims = lambda claims: {**claims, "sid": "sid-2"}  # the provider's new session
    log_in(app)
    assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"


def test_logout_completes_when_the_revocation_list_fails(build_app, fake, monkeypatch):
    app = build_app()
    log_in(app)
    refresh_token = _refresh_token(fake)

    def broken(**kwargs):
        raise ConnectionError("revocation store down")

    monkeypatch.setattr(app.app.collaborators.logouts, "revoke", broken)
    _ends_locally(app, fake, app.get("/logout"))
    assert fake.revoked == [refresh_token]  # the provider is still told


def test_logout_revokes_the_refresh_token_of_this_session_only(build_app, fake):
    alice, bob = build_app(), build_app()
    log_in(alice)
    alice_token = _refresh_token(fake)
    log_in(bob)
    bob_token = next(token for token in fake.refresh_tokens if token != alice_token)
    bob.get("/logout")
    assert fake.revoked == [bob_token]
    assert alice_token in fake.refresh_tokens


def test_logout_completes_when_revoking_raises_something_unexpected(build_app, fake, monkeypatch, caplog):
    app = build_app()
    log_in(app)
    refresh_token = _refresh_token(fake)

    def exploding(*args, **kwargs):
        raise RuntimeError(f"unexpected, with the token in it: {refresh_token}")

    monkeypatch.setattr(requests.Session, "post", exploding)  # the revocation request, at logout
    _ends_locally(app, fake, app.get("/logout"))
    assert "RuntimeError" in caplog.text
    assert refresh_token not in caplog.text  # the exception's message is not logged: it may hold anything


# -- on_logout: the app is told, after the local session has ended -------------------------------------

def test_on_logout_is_told_the_ended_sessions_claims(build_app, fake):
    calls = []
    app = build_app(on_logout=lambda environ, claims: calls.append((environ["PATH_INFO"], claims)))
    log_in(app)
    response = app.get("/logout")
    assert response.status_int == 302
    [(path, claims)] = calls
    assert path == "/logout" and claims["sub"] == fake.sub and claims["email"] == "alice@example.com"
    app.get("/logout")  # no session: nothing to tell
    assert len(calls) == 1


def test_an_on_logout_hook_that_raises_does_not_stop_the_logout(build_app, fake, caplog):
    def broken(environ, claims):
        raise RuntimeError("the app's bug")
    app = build_app(on_logout=broken)
    log_in(app)
    _ends_locally(app, fake, app.get("/logout"))
    assert "on_logout hook" in caplog.text and "RuntimeError" in caplog.text
