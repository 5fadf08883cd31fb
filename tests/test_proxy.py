"""trusted_proxies: X-Forwarded-* only from listed proxies; cookies and redirects under a prefix."""

from __future__ import annotations

import pytest
import requests

from auth0_wsgi import ConfigError
from tests.support.flows import log_in
from tests.support.http import HTML

FORWARDED = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "public.example.com",
             "HTTP_X_FORWARDED_PREFIX": "/shop", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}


def _app_environ(build_app, **overrides):
    captured = {}

    def spy(environ, start_response):
        captured.update(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = build_app(public_paths="/public", **overrides)
    app.app.app = spy
    return app, captured


def test_forwarded_headers_are_ignored_by_default(build_app):
    app, seen = _app_environ(build_app)
    app.get("/public/x", extra_environ={**FORWARDED, "REMOTE_ADDR": "10.0.0.5"})
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["HTTP_HOST"] == "app.test"
    assert seen["SCRIPT_NAME"] == ""
    assert seen["REMOTE_ADDR"] == "10.0.0.5"


def test_a_trusted_proxy_sets_scheme_host_prefix_and_client(build_app):
    app, seen = _app_environ(build_app, trusted_proxies="10.0.0.0/8 ::1")
    app.get("/public/x", extra_environ={**FORWARDED, "REMOTE_ADDR": "10.0.0.5"})
    assert seen["wsgi.url_scheme"] == "https"
    assert seen["HTTP_HOST"] == "public.example.com"
    assert seen["SCRIPT_NAME"] == "/shop"
    assert seen["REMOTE_ADDR"] == "203.0.113.9"  # the rightmost hop not ours, not the client's claim
    assert seen["auth0_wsgi.proxy.orig"]["REMOTE_ADDR"] == "10.0.0.5"


def test_an_untrusted_peer_cannot_use_the_headers(build_app):
    app, seen = _app_environ(build_app, trusted_proxies="10.0.0.0/8")
    app.get("/public/x", extra_environ={**FORWARDED, "REMOTE_ADDR": "198.51.100.7"})
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["REMOTE_ADDR"] == "198.51.100.7"


@pytest.mark.parametrize("value", ["10.0.0.300", "proxy.example.com", "10.0.0.0/99"])
def test_bad_trusted_proxies_refuse_to_start(build_app, value):
    with pytest.raises(ConfigError, match="option 'trusted_proxies'"):
        build_app(trusted_proxies=value)


def test_cookies_and_redirects_stay_under_the_path_prefix(build_app):
    app = build_app(base_url="https://example.com/shop")
    response = app.get("/reports?id=1", headers=HTML)
    assert response.headers["Location"] == "https://example.com/shop/login?return_to=/reports%3Fid%3D1"
    login = app.get("/login?return_to=/reports")
    tx_cookie = next(v for k, v in login.headerlist if k == "Set-Cookie")
    assert "Path=/shop/callback" in tx_cookie
    authorize_url = login.headers["Location"]
    assert "redirect_uri=https%3A%2F%2Fexample.com%2Fshop%2Fcallback" in authorize_url
    callback = requests.get(authorize_url, allow_redirects=False, timeout=5).headers["Location"]
    assert callback.startswith("https://example.com/shop/callback?")
    # behind the proxy the app sees the path without its prefix
    done = app.get("/callback?" + callback.split("?", 1)[1],
                   headers={"Cookie": tx_cookie.split(";", 1)[0]})
    assert done.headers["Location"] == "https://example.com/shop/reports"
    session_cookie = next(v for k, v in done.headerlist
                          if k == "Set-Cookie" and v.startswith("auth0_session"))
    assert "Path=/shop;" in session_cookie or session_cookie.endswith("Path=/shop")
    logout = app.get("/logout?return_to=/bye")
    assert "post_logout_redirect_uri=https%3A%2F%2Fexample.com%2Fshop%2Fbye" in logout.headers["Location"]


def test_log_in_still_works_with_trusted_proxies(build_app):
    app = build_app(trusted_proxies="127.0.0.1")
    assert log_in(app).status_int == 302
