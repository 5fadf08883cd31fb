"""Host mismatch: /login on another host than base_url's first moves there (the login cookie must
land where the callback reads it); a callback without its login cookie says when another address
is the likely cause. Hosts compare case-insensitively, with default ports normalised."""

from __future__ import annotations

import logging

import pytest
import requests

from auth0_wsgi import hosts
from tests.support.flows import browser
from tests.support.http import HTML, query

LOOPBACK = "http://127.0.0.1:8000"


def _on(host: str):
    return {"HTTP_HOST": host}


@pytest.mark.parametrize("host, base_url, differs", [
    pytest.param("127.0.0.1:8000", LOOPBACK, False, id="same"),
    pytest.param("localhost:8000", LOOPBACK, True, id="localhost-for-127.0.0.1"),
    pytest.param("127.0.0.1:8001", LOOPBACK, True, id="other-port"),
    pytest.param("APP.Example.com", "https://app.example.com", False, id="case-insensitive"),
    pytest.param("app.example.com:443", "https://app.example.com", False, id="explicit-default-port"),
    pytest.param("app.example.com", "https://app.example.com:443/shop", False, id="base-url-default-port"),
    pytest.param("app.example.com.", "https://app.example.com", False, id="trailing-dot"),
    pytest.param("app.example.com:80", "https://app.example.com", True, id="http-port-for-https"),
    pytest.param("www.example.com", "https://example.com", True, id="www"),
    pytest.param("[::1]:8000", "http://[::1]:8000", False, id="ipv6"),
    pytest.param("app.example.com:x", "https://app.example.com", True, id="unreadable-port"),
    pytest.param("user@app.example.com", "https://app.example.com", True, id="userinfo"),
])
def test_other_host(host, base_url, differs):
    assert (hosts.other_host({"HTTP_HOST": host}, base_url) is not None) is differs


def test_a_request_without_host_names_none():
    assert hosts.other_host({}, LOOPBACK) is None


@pytest.mark.parametrize("netloc, alias", [
    pytest.param("localhost:8000", True, id="localhost"),
    pytest.param("[::1]:8000", True, id="ipv6-loopback"),
    pytest.param("127.0.0.1:9000", True, id="other-port"),
    pytest.param("127.0.0.1:8000", False, id="the-same"),
    pytest.param("tenant.auth0.com", False, id="the-provider"),
])
def test_is_alias_of(netloc, alias):
    assert hosts.is_alias_of(netloc, LOOPBACK) is alias


def test_the_repeated_query_is_safe_in_a_location_header():
    environ = {"QUERY_STRING": "return_to=/a%20b&x=\r\nSet-Cookie: evil=1&y=\u00c3\u00a9"}  # PEP 3333: é
    assert hosts.query_for_location(environ) == ("?return_to=/a%20b&x=%0D%0ASet-Cookie:%20evil=1&y=%C3%A9")


# -- the flow ----------------------------------------------------------------------------------------------

def test_login_on_localhost_is_moved_to_base_urls_host_with_the_same_query_then_completes(fake):
    app = browser(fake, base_url=LOOPBACK)
    moved = app.get("/login", {"return_to": "/reports?id=7"}, headers=HTML,
                    extra_environ=_on("localhost:8000"))
    assert moved.status_int == 302
    assert moved.headers["Location"] == f"{LOOPBACK}/login?return_to=%2Freports%3Fid%3D7"
    # the browser follows it, on 127.0.0.1, where the provider will send it back
    authorize = app.get(moved.headers["Location"][len(LOOPBACK):]).headers["Location"]
    assert query(authorize)["redirect_uri"] == f"{LOOPBACK}/callback"
    callback = requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"]
    done = app.get(callback[len(LOOPBACK):])
    assert done.headers["Location"] == f"{LOOPBACK}/reports?id=7"
    assert app.get("/reports", headers=HTML).json["REMOTE_USER"] == "auth0|alice"


def test_a_login_begun_on_localhost_anyway_is_explained_at_the_callback(fake):
    """What the user met before the move (the login cookie on localhost, the callback on 127.0.0.1:
    a bare invalid_state), as a login that skips the move still meets it: now with the cause."""
    on_localhost = browser(fake, base_url=LOOPBACK)
    on_localhost.extra_environ["HTTP_HOST"] = "localhost:8000"
    authorize = on_localhost.get("/login", extra_environ={"HTTP_COOKIE": "a0tx.host=1"}).headers["Location"]
    callback = requests.get(authorize, allow_redirects=False, timeout=5).headers["Location"]
    on_127 = browser(fake, base_url=LOOPBACK)  # the other host: none of localhost's cookies
    page = on_127.get(callback[len(LOOPBACK):], headers={**HTML, "Referer": "http://localhost:8000/"},
                      status=400)
    assert "invalid_state" in page.text
    assert "started at another address than http://127.0.0.1:8000" in page.text


def test_a_proxy_that_rewrites_host_gets_one_move_then_the_login_starts_with_a_warning(fake, caplog):
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    app = browser(fake, base_url="https://app.example.com")
    behind_proxy = {"HTTP_HOST": "127.0.0.1:8000"}  # nginx's default: Host is the upstream's
    moved = app.get("/login", extra_environ=behind_proxy)
    assert moved.headers["Location"] == "https://app.example.com/login"
    started = app.get("/login", extra_environ=behind_proxy)  # the marker cookie came back: no loop
    assert started.headers["Location"].startswith(fake.issuer)
    assert any(v.startswith("a0tx.host=;") and "Max-Age=0" in v
               for k, v in started.headerlist if k == "Set-Cookie")
    assert "a proxy in front of the app rewrites Host" in caplog.text


def test_only_a_page_load_is_moved(fake):
    response = browser(fake).post("/login", extra_environ=_on("localhost"), status="*")
    assert not response.headers.get("Location", "").startswith("http://app.test/login")


@pytest.mark.parametrize("headers, environ, hinted", [
    pytest.param({"Referer": "http://localhost:8000/reports"}, {}, True, id="referer-localhost"),
    pytest.param({}, _on("localhost:8000"), True, id="host-localhost"),
    pytest.param({"Referer": "https://tenant.auth0.com/u/login"}, {}, False, id="referer-the-provider"),
    pytest.param({}, {}, False, id="nothing-suggests-it"),
    pytest.param({"Referer": "http://localhost:8000/", "Cookie": "a0tx.AAAAAAAAAAAAAAAA=x"}, {}, False,
                 id="another-login-cookie-is-here"),
])
def test_a_callback_without_its_login_cookie_names_the_likely_cause(fake, caplog, headers, environ, hinted):
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    app = browser(fake, base_url=LOOPBACK)
    page = app.get("/callback", {"code": "c", "state": "s" * 43}, headers={**HTML, **headers},
                   extra_environ=environ, status=400)
    assert "invalid_state" in page.text
    assert ("Open http://127.0.0.1:8000 and sign in again" in page.text) is hinted
    assert ("the login most likely started at another address" in caplog.text) is hinted
    if not hinted:
        assert "This sign-in link has expired or was already used." in page.text
