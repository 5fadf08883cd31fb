"""The session after login: the hot path, tampering, spoofing, expiry and logout."""

from __future__ import annotations

import secrets

import pytest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import BASE_URL, log_in, settings_for, start_login
from tests.support.http import HTML, JSON, query_of


def _session_cookie_headers(response) -> list[str]:
    return [v for k, v in response.headerlist if k == "Set-Cookie" and v.startswith("auth0_session")]


def test_authenticated_hot_path_makes_no_provider_call_and_sets_no_cookie(app, fake):
    log_in(app)
    before = sum(fake.counts.values())
    for _ in range(5):
        response = app.get("/data", headers=JSON)
        assert response.json["auth0.user"]["sub"] == "auth0|alice"
        assert _session_cookie_headers(response) == []
    assert sum(fake.counts.values()) == before


def test_session_cookie_flags(make_app):
    app = make_app(base_url="https://app.test")
    response = app.get("/login")
    cookie = next(v for k, v in response.headerlist if k == "Set-Cookie")
    for flag in ("httponly", "secure", "samesite=lax", "path=/callback"):
        assert flag in cookie.lower()


def test_login_always_issues_a_new_session_cookie(app):
    """No fixation: whatever cookie the browser had before login does not survive it."""
    app.set_cookie("auth0_session", "planted-by-attacker")
    log_in(app)
    assert app.cookies["auth0_session"] != "planted-by-attacker"
    first = app.cookies["auth0_session"]
    log_in(app)
    assert app.cookies["auth0_session"] != first


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda v: v[:-5], id="truncated"),
    pytest.param(lambda v: v[:20] + ("A" if v[20] != "A" else "B") + v[21:], id="flipped"),
    pytest.param(lambda v: v + "x", id="extended"),
    pytest.param(lambda v: "", id="empty"),
    pytest.param(lambda v: "not.a.jwe.at.all", id="garbage"),
    pytest.param(lambda v: "x" * 5000, id="oversized"),
])
def test_tampered_cookie_means_no_session(app, mangle):
    log_in(app)
    value = app.cookies["auth0_session"]
    app.set_cookie("auth0_session", mangle(value))
    assert app.get("/data", headers=JSON, status=401).json["error"] == "login_required"
    assert app.get("/page", headers=HTML).status_int == 302


def test_cookie_from_another_secret_means_no_session(make_app):
    one, other = make_app(), make_app(secret="t" * 40)
    log_in(one)
    other.set_cookie("auth0_session", one.cookies["auth0_session"])
    other.get("/data", headers=JSON, status=401)


@pytest.mark.parametrize("shared_store", ["cookie", "redis"])
def test_secret_rotation_keeps_sessions(build_app, shared_store, request):
    store = request.getfixturevalue("redis_url") if shared_store == "redis" else "cookie"
    old = build_app(secret="o" * 40, session_store=store)
    log_in(old)
    rotated = build_app(secret=["n" * 40, "o" * 40], session_store=store)
    rotated.set_cookie("auth0_session", old.cookies["auth0_session"])
    assert rotated.get("/data", headers=JSON).json["auth0.user"]["sub"] == "auth0|alice"


def test_login_cookie_is_not_accepted_as_a_session(app):
    response = app.get("/login")
    tx_value = next(v for k, v in app.cookies.items() if k.startswith("a0tx."))
    assert response.status_int == 302
    app.set_cookie("auth0_session", tx_value)
    app.get("/data", headers=JSON, status=401)


@pytest.mark.parametrize("key", ["auth0.user", "auth0.access_token", "REMOTE_USER"])
def test_client_supplied_identity_never_reaches_the_app(make_app, key):
    app = make_app(public_paths="/public")
    seen = app.get("/public", extra_environ={key: "spoofed"}).json
    assert key not in seen


def test_public_paths_match_whole_segments(make_app):
    app = make_app(public_paths="/public")
    assert app.get("/public").status_int == 200
    assert app.get("/public/x").status_int == 200
    assert app.get("/publicity", headers=JSON, status=401)


def test_root_in_public_paths_is_the_home_page_only(make_app):
    app = make_app(public_paths="/")
    assert app.get("/").json["path"] == "/"
    app.get("/private", headers=JSON, status=401)


def test_every_request_the_filter_handled_is_marked(make_app):
    app = make_app(public_paths="/public")
    assert app.get("/public", extra_environ={}).request.environ["auth0.middleware"] is True


def test_require_auth_false_serves_anonymous_and_still_injects_sessions(make_app):
    app = make_app(require_auth=False)
    assert "auth0.user" not in app.get("/anything").json
    log_in(app)
    assert app.get("/anything").json["REMOTE_USER"] == "auth0|alice"


def test_set_remote_user_false(make_app):
    app = make_app(set_remote_user=False)
    log_in(app)
    assert "REMOTE_USER" not in app.get("/x").json


@pytest.mark.parametrize("headers", [
    pytest.param({"Accept": "application/json"}, id="json"),
    pytest.param({}, id="no-accept"),
    pytest.param({"Accept": "*/*"}, id="star"),
    pytest.param({"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, id="xhr"),
])
def test_non_navigation_gets_401(app, headers):
    assert app.get("/page", headers=headers, status=401).json["error"] == "login_required"


def test_post_without_session_gets_401_and_app_is_not_called(app):
    response = app.post("/form", {"a": "b"}, headers=HTML, status=401)
    assert "path" not in response.text


def test_sec_fetch_mode_navigate_counts_as_a_browser(app):
    assert app.get("/page", headers={"Sec-Fetch-Mode": "navigate"}).status_int == 302


def test_rolling_expiry_slides_and_absolute_expiry_ends(fake):
    import webtest
    clock = Clock()
    middleware = Auth0Middleware(echo_app, **settings_for(
        fake, session_rolling_duration=600, session_absolute_duration=1800), clock=clock)
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    clock.advance(30)
    assert _session_cookie_headers(app.get("/x", headers=JSON)) == []  # too soon to re-write
    clock.advance(100)
    assert _session_cookie_headers(app.get("/x", headers=JSON))  # slid
    clock.advance(500)  # 630 s after login, but only 500 s after the slide
    app.get("/x", headers=JSON, status=200)
    clock.advance(1300)  # past the absolute limit
    app.get("/x", headers=JSON, status=401)


def test_logout_clears_cookies_and_ends_the_provider_session(app, fake):
    log_in(app)
    id_token = app.get("/x").json["auth0.id_token"]
    response = app.get("/logout?return_to=/bye")
    location = response.headers["Location"]
    assert location.startswith(fake.issuer + "logout?")
    params = query_of(location)
    assert params["id_token_hint"] == id_token
    assert params["client_id"] == "fake-client"
    assert params["post_logout_redirect_uri"] == BASE_URL + "/bye"
    assert response.headers["Cache-Control"] == "no-store"
    assert "auth0_session" not in app.cookies
    app.get("/x", headers=JSON, status=401)


def test_logout_with_unsafe_return_to_goes_to_post_logout_redirect(app):
    log_in(app)
    params = query_of(app.get("/logout?return_to=//evil.com").headers["Location"])
    assert params["post_logout_redirect_uri"] == BASE_URL + "/"


def test_logout_without_session_still_completes(app):
    response = app.get("/logout")
    assert response.status_int == 302
    assert "id_token_hint" not in query_of(response.headers["Location"])


def test_logout_falls_back_to_auth0_v2_logout(app, fake):
    fake.discovery_overrides["end_session_endpoint"] = None
    location = app.get("/logout").headers["Location"]
    assert location.startswith(fake.issuer + "v2/logout?")
    assert query_of(location) == {"client_id": "fake-client", "returnTo": BASE_URL + "/"}


def test_copied_cookie_after_logout_works_only_where_the_revocation_list_does_not_reach(build_app, tmp_path):
    """Documented limit of the cookie store: logout revokes the session's sid in the revocation list,
    which reaches this host's workers by default (revocation_store = file); another host keeps
    accepting a copied cookie until it expires, unless the list is in Redis (see README)."""
    app = build_app()
    other_host = build_app(refresh_lock_dir=str(tmp_path / "other-host"))
    log_in(app)
    copied = app.cookies["auth0_session"]
    app.get("/logout")
    app.set_cookie("auth0_session", copied)
    assert app.get("/x", headers=JSON, status=401).json["error"] == "login_required"
    other_host.set_cookie("auth0_session", copied)
    assert other_host.get("/x", headers=JSON).status_int == 200


@pytest.mark.parametrize("payload", [
    "//evil.com", "/\\evil.com", "/%09/evil.com", "https:evil.com", "javascript:alert(1)",
    "https://evil.com", "/%2F%2Fevil.com",
])
def test_login_return_to_open_redirect_payloads_end_on_root(app, fake, payload):
    callback, _ = start_login(app, payload)
    assert app.get(callback).headers["Location"] == BASE_URL + "/"


def test_large_session_is_chunked_and_read_back(build_app, fake):
    app = build_app()
    roles = [secrets.token_hex(20) for _ in range(80)]  # random: compression must not make it small
    fake.id_token_claims = lambda c: {**c, "app_metadata": {"roles": roles}}
    log_in(app)
    assert {"auth0_session.0", "auth0_session.1"} <= set(app.cookies)
    assert "auth0_session" not in app.cookies
    assert len(app.get("/x").json["auth0.user"]["app_metadata"]["roles"]) == 80


def test_non_ascii_return_path_survives_login_percent_encoded(app):
    callback, _ = start_login(app, "/caf\u00e9")
    assert app.get(callback).headers["Location"] == BASE_URL + "/caf%C3%A9"


def test_non_ascii_path_is_remembered_for_after_login(app):
    response = app.get("/caf%C3%A9", headers=HTML)  # WSGI hands the app the UTF-8 bytes as Latin-1
    assert response.headers["Location"] == f"{BASE_URL}/login?return_to=/caf%25C3%25A9"


def test_an_app_that_edits_the_user_dict_does_not_change_the_next_request(fake, session_store):
    def meddling(environ, start_response):
        environ["auth0.user"]["sub"] = "auth0|someone-else"
        environ["auth0.user"]["admin"] = True
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    import webtest
    middleware = Auth0Middleware(meddling, **settings_for(fake, session_store=session_store))
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    app.get("/a")
    middleware.app = echo_app
    seen = app.get("/b", headers=JSON).json
    assert seen["auth0.user"]["sub"] == "auth0|alice"
    assert "admin" not in seen["auth0.user"]


def test_an_authenticated_request_leaves_no_reference_cycle(fake, session_store):
    """Freed by reference counting, not left to the garbage collector (~10 µs per request in a worker)."""
    import gc
    import weakref

    import webtest
    middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=session_store))
    app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
    log_in(app)
    cookie = f"auth0_session={app.cookies['auth0_session']}"
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/x", "HTTP_COOKIE": cookie,
               "wsgi.url_scheme": "http", "SERVER_NAME": "app.test", "SERVER_PORT": "80"}
    statuses = []
    gc.disable()
    try:
        body = b"".join(middleware(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        context = weakref.ref(environ["auth0.context"])
        del environ
        assert context() is None
    finally:
        gc.enable()
    assert statuses == ["200 OK"] and b"auth0|alice" in body
