"""Sign out everywhere: ``GET {logout_path}?everywhere=1`` and ``auth0_wsgi.end_sessions`` end every
session of the user on every device, in every process and host the store (or the revocation list)
spans; the user's other sessions' cookies are refused from then on. Never started cross-site."""

from __future__ import annotations

import secrets
import time
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import webtest

import auth0_wsgi
from auth0_wsgi import Auth0Middleware, end_sessions
from auth0_wsgi.errors import StoreUnavailable
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET
from tests.support.flows import SECRET, addressed_as, log_in, settings_for
from tests.support.gunicorn import gunicorn
from tests.support.http import JSON
from tests.support.servers import free_port

ALICE, BOB = "auth0|alice", "auth0|bob"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def middleware(fake, session_store) -> Auth0Middleware:
    # A sid of its own for each login, as a real provider gives each browser's session.
    fake.id_token_claims = lambda claims: {**claims, "sid": secrets.token_hex(8)}
    return Auth0Middleware(echo_app, **settings_for(fake, session_store=session_store))


def _browser(middleware: Auth0Middleware, fake, sub: str) -> webtest.TestApp:
    fake.sub = sub
    app = webtest.TestApp(middleware, extra_environ=addressed_as())
    log_in(app)
    return app


def _user(app: webtest.TestApp) -> str | None:
    return app.get("/x", headers=JSON, expect_errors=True).json.get("REMOTE_USER")


@pytest.fixture
def three(middleware, fake) -> SimpleNamespace:
    """Alice on two devices, Bob on a third, all on one middleware (users of their own: Redis is
    shared by the whole run)."""
    alice, bob = f"{ALICE}-{secrets.token_hex(4)}", f"{BOB}-{secrets.token_hex(4)}"
    return SimpleNamespace(laptop=_browser(middleware, fake, alice), phone=_browser(middleware, fake, alice),
                           bob=_browser(middleware, fake, bob), alice=alice, bob_sub=bob)


# -- failure modes first: cross-site, the registry down, hostile input ------------------------------------

@pytest.mark.parametrize("headers", [
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="sec-fetch-cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="sec-fetch-same-site-other-origin"),
    pytest.param({"Origin": "https://evil.test"}, id="origin-other"),
    pytest.param({"Origin": "null"}, id="origin-null"),
    pytest.param({"Origin": "https://app.test"}, id="origin-other-scheme"),
    pytest.param({"Referer": "https://evil.test/app.test"}, id="referer-other"),
    pytest.param({"Referer": "http://app.test.evil.test/"}, id="referer-suffix-host"),
    pytest.param({"Referer": "http://[::1"}, id="referer-garbage"),
])
def test_a_cross_site_request_ends_nothing(three, headers):
    response = three.laptop.get("/logout", {"everywhere": "1"}, headers={"Accept": "text/html", **headers},
                                status=400)
    assert "cross_site_request" in response.text
    assert "Set-Cookie" not in response.headers
    users = (_user(three.laptop), _user(three.phone), _user(three.bob))
    assert users == (three.alice, three.alice, three.bob_sub)


@pytest.mark.parametrize("headers", [
    pytest.param(SAME_ORIGIN, id="sec-fetch-same-origin"),
    pytest.param({"Sec-Fetch-Site": "none"}, id="typed-by-the-user"),
    pytest.param({"Origin": "http://app.test"}, id="origin"),
    pytest.param({"Referer": "http://app.test/account?tab=security"}, id="referer"),
    pytest.param({}, id="no-header-at-all"),
])
def test_a_same_origin_request_ends_every_session_of_the_user(three, headers):
    response = three.laptop.get("/logout", {"everywhere": "1"}, headers=headers)
    assert response.status_int == 302
    assert (_user(three.laptop), _user(three.phone), _user(three.bob)) == (None, None, three.bob_sub)


def test_a_registry_that_is_down_is_a_503_and_ends_nothing(three, middleware, monkeypatch):
    def down(**_: Any) -> int:
        raise StoreUnavailable("the revocation store is unreachable")
    monkeypatch.setattr(middleware.collaborators.logouts, "revoke", down)
    response = three.laptop.get("/logout", {"everywhere": "1"}, headers=JSON, status=503)
    assert response.json["error"] == "session_store_unavailable"
    monkeypatch.undo()
    assert (_user(three.laptop), _user(three.phone)) == (three.alice, three.alice)


@pytest.mark.parametrize("value", ["0", "true", "", "1x", "%00"])
def test_any_other_value_is_a_normal_logout(three, value):
    three.laptop.get("/logout", {"everywhere": value}, headers=SAME_ORIGIN)
    assert (_user(three.laptop), _user(three.phone)) == (None, three.alice)


def test_without_a_session_it_is_a_normal_logout(three, fake):
    stranger = webtest.TestApp(three.laptop.app, extra_environ=addressed_as())
    response = stranger.get("/logout", {"everywhere": "1"}, headers=SAME_ORIGIN)
    assert response.headers["Location"].startswith(fake.issuer + "logout")
    assert (_user(three.laptop), _user(three.phone)) == (three.alice, three.alice)


# -- the route ---------------------------------------------------------------------------------------------

def test_everywhere_revokes_the_refresh_token_and_logs_out_at_the_provider(three, fake):
    tokens_before = set(fake.refresh_tokens)
    response = three.laptop.get("/logout", {"everywhere": "1"}, headers=SAME_ORIGIN)
    assert response.headers["Location"].startswith(fake.issuer + "logout?")
    assert len(fake.revoked) == 1 and fake.revoked[0] in tokens_before
    assert "auth0_session" not in three.laptop.cookies


def test_a_new_login_after_everywhere_works(fake, session_store):
    clock = Clock()
    fake.id_token_claims = lambda claims: {**claims, "sid": secrets.token_hex(8)}
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=session_store), clock=clock)
    laptop, phone = _browser(middleware, fake, ALICE), _browser(middleware, fake, ALICE)
    laptop.get("/logout", {"everywhere": "1"}, headers=SAME_ORIGIN)
    clock.advance(1)  # the cookie store refuses sessions created at or before the logout's second
    log_in(phone)
    assert (_user(laptop), _user(phone)) == (None, ALICE)


# -- end_sessions from the operator's code ---------------------------------------------------------------

def test_end_sessions_from_operator_code(three, middleware, session_store):
    ended = end_sessions(middleware, three.alice)
    if session_store == "cookie":
        assert ended is None  # cookie sessions live in browsers: they cannot be counted
    else:
        assert ended == 2
    assert (_user(three.laptop), _user(three.phone), _user(three.bob)) == (None, None, three.bob_sub)
    assert end_sessions(middleware, "auth0|nobody") in (None, 0)
    assert auth0_wsgi.end_sessions is end_sessions and "end_sessions" in auth0_wsgi.__all__


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda m: SimpleNamespace(wsgi_app=m), id="flask-wsgi_app"),
    pytest.param(lambda m: SimpleNamespace(application=SimpleNamespace(app=m)), id="two-levels"),
    pytest.param(lambda m: SimpleNamespace(app=None, application=m), id="skips-a-None-attribute"),
])
def test_end_sessions_finds_the_middleware_inside_the_app(fake, wrap):
    fake.id_token_claims = lambda claims: {**claims, "sid": secrets.token_hex(8)}
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store="memory"))
    laptop = _browser(middleware, fake, ALICE)
    assert end_sessions(wrap(middleware), ALICE) == 1
    assert _user(laptop) is None


def _deep(middleware: Auth0Middleware, levels: int) -> Any:
    app: Any = middleware
    for _ in range(levels):
        app = SimpleNamespace(app=app)
    return app


@pytest.mark.parametrize(("target", "sub", "error", "match"), [
    pytest.param(echo_app, ALICE, TypeError, "no Auth0Middleware found in function", id="plain-app"),
    pytest.param(None, ALICE, TypeError, "no Auth0Middleware", id="none"),
    pytest.param("self-loop", ALICE, TypeError, "no Auth0Middleware", id="cycle"),
    pytest.param("too-deep", ALICE, TypeError, "5 levels deep", id="too-deep"),
    pytest.param("middleware", None, TypeError, "sub must be", id="sub-none"),
    pytest.param("middleware", b"auth0|alice", TypeError, "sub must be", id="sub-bytes"),
    pytest.param("middleware", "", ValueError, "sub is empty", id="sub-empty"),
])
def test_end_sessions_refuses_what_it_cannot_use(fake, target, sub, error, match):
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store="memory"))
    if target == "self-loop":
        target = SimpleNamespace()
        target.app = target
    elif target == "too-deep":
        target = _deep(middleware, 6)
    elif target == "middleware":
        target = middleware
    with pytest.raises(error, match=match):
        end_sessions(target, sub)
    assert end_sessions(_deep(middleware, 5), ALICE) == 0  # five levels are found


# -- four gunicorn workers, two browsers, each store ---------------------------------------------------------

def _environment(fake, port: int, lock_dir, store: str) -> dict[str, str]:
    return {"AUTH0_ISSUER": fake.issuer, "AUTH0_CLIENT_ID": CLIENT_ID, "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
            "AUTH0_BASE_URL": f"http://127.0.0.1:{port}", "AUTH0_SECRET": SECRET, "AUTH0_AUDIENCE": AUDIENCE,
            "AUTH0_REFRESH_LOCK_DIR": str(lock_dir), "AUTH0_SESSION_STORE": store}


def _refused_by_every_worker(url: str, session: requests.Session, workers: int, seconds: float) -> bool:
    """Whether, within ``seconds``, each of the ``workers`` answered without the user (last seen)."""
    refused: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # real time: other processes catch up by themselves
        body = session.get(url + "/health", headers=JSON, timeout=10).json()
        (refused.discard if "REMOTE_USER" in body else refused.add)(body["pid"])
        if len(refused) == workers:
            return True
    return False


def _logged_in(url: str) -> requests.Session:
    http = requests.Session()
    assert http.get(url + "/login", timeout=10).status_code == 200  # through the provider and back
    assert http.get(url + "/health", headers=JSON, timeout=10).json()["REMOTE_USER"]
    return http


@pytest.mark.slow
@pytest.mark.parametrize("store", ["cookie", "redis"])
def test_everywhere_reaches_every_gunicorn_worker(fake, redis_url, tmp_path, store):
    """Cookie store with the file revocation list (this host's workers, at their next request), and
    Redis (every process, within a second): two browsers of Alice, one of Bob."""
    fake.id_token_claims = lambda claims: {**claims, "sid": secrets.token_hex(8)}
    port = free_port()
    env = _environment(fake, port, tmp_path / "locks", redis_url if store == "redis" else "cookie")
    with gunicorn("tests/testing.ini", port, env, workers=4) as url:
        fake.sub = ALICE
        laptop, phone = _logged_in(url), _logged_in(url)
        fake.sub = BOB
        bob = _logged_in(url)
        response = laptop.get(url + "/logout?everywhere=1", headers=SAME_ORIGIN, allow_redirects=False,
                              timeout=10)
        assert response.status_code == 302
        assert _refused_by_every_worker(url, phone, workers=4, seconds=1.0)
        assert all(bob.get(url + "/health", headers=JSON, timeout=10).json().get("REMOTE_USER") == BOB
                   for _ in range(20))
