"""Open redirects: every place a return path or a host could leak into a Location header.

Unit tables for ``safe_return_path`` live in tests/test_returnpath.py; these run the payloads through
the real routes: /login's ``return_to`` → the callback's final redirect, /logout's ``return_to`` (three
ways the logout URL is built), the login redirect of a protected catch-all path, and spoofed host
headers.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
import webtest

from auth0_wsgi.returnpath import MAX_KEPT_RETURN_PATH, MAX_RETURN_PATH, safe_return_path
from tests.support.flows import BASE_URL, browser, log_in, middleware, provider_answer
from tests.support.http import HTML, query
from tests.support.servers import free_port
from tests.support.wsgi import wsgi_call

EVIL = [
    pytest.param("//evil.com", id="protocol-relative"),
    pytest.param("///evil.com", id="triple-slash"),
    pytest.param("//evil.com/a?b=c", id="protocol-relative-path-query"),
    pytest.param("/\\evil.com", id="slash-backslash"),
    pytest.param("\\/evil.com", id="backslash-slash"),
    pytest.param("/\\/evil.com", id="slash-backslash-slash"),
    pytest.param("/\t/evil.com", id="raw-tab"),
    pytest.param("/\n/evil.com", id="raw-newline"),
    pytest.param("/\r/evil.com", id="raw-cr"),
    pytest.param("\t//evil.com", id="leading-tab"),
    pytest.param(" //evil.com", id="leading-space"),
    pytest.param("/%09/evil.com", id="encoded-tab"),
    pytest.param("/%0a/evil.com", id="encoded-newline"),
    pytest.param("/%0d%0aLocation:%20https://evil.com", id="encoded-crlf-header-injection"),
    pytest.param("/%2F/evil.com", id="encoded-slash"),
    pytest.param("/%2f%2fevil.com", id="encoded-slashes-lowercase"),
    pytest.param("%2F%2Fevil.com", id="encoded-leading-slashes"),
    pytest.param("/%5Cevil.com", id="encoded-backslash"),
    pytest.param("/%5c%5cevil.com", id="encoded-backslashes-lowercase"),
    pytest.param("/%252F%252Fevil.com", id="double-encoded-slashes"),
    pytest.param("/%255Cevil.com", id="double-encoded-backslash"),
    pytest.param("/%25252F%25252Fevil.com", id="triple-encoded-slashes"),
    pytest.param("https:evil.com", id="https-no-slashes"),
    pytest.param("https:/evil.com", id="https-one-slash"),
    pytest.param("https://evil.com", id="absolute-https"),
    pytest.param("HTTPS://EVIL.COM", id="absolute-uppercase"),
    pytest.param("http:\\\\evil.com", id="http-backslashes"),
    pytest.param("@evil.com", id="userinfo-without-slash"),
    pytest.param(".evil.com", id="host-suffix-without-slash"),
    pytest.param(":80@evil.com", id="port-userinfo-without-slash"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("JaVaScRiPt:alert(document.domain)", id="javascript-mixed-case"),
    pytest.param("java\tscript:alert(1)", id="javascript-with-tab"),
    pytest.param("data:text/html,<script>alert(1)</script>", id="data-url"),
    pytest.param("vbscript:msgbox(1)", id="vbscript"),
    pytest.param("/\x00//evil.com", id="nul-then-slashes"),
    pytest.param("/\x85//evil.com", id="c1-next-line"),
    pytest.param("/#//evil.com", id="fragment-slashes"),
    pytest.param("/" + "a" * (MAX_RETURN_PATH + 1), id="over-long"),
    pytest.param("/" + "a" * 100_000, id="over-long-100k"),
]
# Odd-looking but same-origin: they must be kept as paths on our own host.
TRICKY_BUT_LOCAL = [
    pytest.param("/a@evil.com", id="userinfo-lookalike"),
    pytest.param("/@evil.com", id="at-first"),
    pytest.param("/https:evil.com", id="scheme-lookalike-segment"),
    pytest.param("/.evil.com", id="dot-host-lookalike"),
    pytest.param("/next?url=https://evil.com", id="absolute-url-in-query"),
]
# The longest kept: a login keeps its return path in its login cookie, so its bound is smaller.
LOGIN_LOCAL = [*TRICKY_BUT_LOCAL,
               pytest.param("/" + "a" * (MAX_KEPT_RETURN_PATH - 1), id="exactly-max-kept-length")]
LOGOUT_LOCAL = [*TRICKY_BUT_LOCAL, pytest.param("/" + "a" * (MAX_RETURN_PATH - 1), id="exactly-max-length")]
# Non-ASCII paths travel percent-encoded (UTF-8): a Location header is Latin-1 only.
NON_ASCII = [
    pytest.param("/文書", "/%E6%96%87%E6%9B%B8", id="cjk"),
    pytest.param("/café", "/caf%C3%A9", id="latin-1"),
    pytest.param("/a?q=😀", "/a?q=%F0%9F%98%80", id="emoji-in-query"),
]


def lands_on_our_origin(location: str) -> bool:
    rest = location[len(BASE_URL):]
    return (location.isascii() and location.startswith(BASE_URL + "/") and not rest.startswith("//")
            and urlsplit(location).netloc == "app.test" and "\\" not in location
            and not any(ord(c) < 0x20 or c == "\x7f" for c in location))


# -- /login?return_to= → the callback's final redirect ------------------------------------------------------

@pytest.mark.parametrize("payload", EVIL)
def test_login_return_to_payload_ends_on_root(build_app, fake, payload):
    location = log_in(build_app(), payload).headers["Location"]
    assert location == BASE_URL + "/"


@pytest.mark.parametrize("payload", LOGIN_LOCAL)
def test_login_return_to_odd_but_local_path_is_kept_on_our_origin(build_app, fake, payload):
    location = log_in(build_app(), payload).headers["Location"]
    assert location == BASE_URL + payload
    assert lands_on_our_origin(location)


@pytest.mark.parametrize("payload, encoded", NON_ASCII)
def test_login_return_to_non_ascii_travels_percent_encoded(fake, payload, encoded):
    app = webtest.TestApp(middleware(fake), lint=True, extra_environ={"HTTP_HOST": "app.test"})
    location = log_in(app, payload).headers["Location"]
    assert location == BASE_URL + encoded
    assert lands_on_our_origin(location)


# -- /logout?return_to= --------------------------------------------------------------------------------------

LOGOUT_WAYS = ["end-session-endpoint", "auth0-v2-logout", "provider-unreachable"]


def _logout_target(fake, way: str, return_to: str) -> str:
    """Where the provider is asked to send the browser after logout (or where we send it ourselves)."""
    overrides = {}
    if way == "auth0-v2-logout":
        fake.discovery_overrides["end_session_endpoint"] = None
    if way == "provider-unreachable":
        overrides = {"issuer": f"http://127.0.0.1:{free_port()}/", "http_timeout": 0.5}
    result = wsgi_call(middleware(fake, **overrides), "/logout", _qs(return_to=return_to))
    assert result.status == 302, result.escaped or result.text
    location = result.header("Location")
    if way == "end-session-endpoint":
        return query(location)["post_logout_redirect_uri"]
    if way == "auth0-v2-logout":
        return query(location)["returnTo"]
    return location


def _qs(**params: str) -> str:
    return urlencode(params)


@pytest.mark.parametrize("way", LOGOUT_WAYS)
@pytest.mark.parametrize("payload", EVIL)
def test_logout_return_to_payload_goes_to_post_logout_redirect(fake, way, payload):
    assert _logout_target(fake, way, payload) == BASE_URL + "/"


@pytest.mark.parametrize("way", LOGOUT_WAYS)
@pytest.mark.parametrize("payload", LOGOUT_LOCAL)
def test_logout_return_to_odd_but_local_path_stays_on_our_origin(fake, way, payload):
    target = _logout_target(fake, way, payload)
    assert target == BASE_URL + payload
    assert lands_on_our_origin(target)


@pytest.mark.parametrize("payload, encoded", NON_ASCII)
def test_logout_to_unreachable_provider_sends_a_latin1_location(fake, payload, encoded):
    assert _logout_target(fake, "provider-unreachable", payload) == BASE_URL + encoded


# -- GET //evil.com on a protected catch-all path ------------------------------------------------------------

# (PATH_INFO as a server delivers it: the request's bytes decoded as Latin-1, QUERY_STRING)
CATCH_ALL_EVIL = [
    pytest.param("//evil.com", "", id="protocol-relative"),
    pytest.param("//evil.com/x", "y", id="protocol-relative-path-query"),
    pytest.param("///evil.com", "", id="triple-slash"),
    pytest.param("/\\evil.com", "", id="backslash"),
    pytest.param("//\\evil.com", "", id="slashes-backslash"),
    pytest.param("/\t/evil.com", "", id="tab"),
    pytest.param("/" + "a" * 5000, "", id="over-long-path"),
    pytest.param("/x", "q=" + "b" * 100_000, id="over-long-query"),
]
CATCH_ALL_PLAIN = [
    pytest.param("/reports/7", "x=1&y=2", "/reports/7?x=1&y=2", id="plain-with-query"),
    pytest.param("/caf\xc3\xa9", "", "/caf%C3%A9", id="utf8-bytes"),
    pytest.param("/a:b", "", "/a:b", id="colon-segment"),
    pytest.param("/go", "next=https://evil.com", "/go?next=https://evil.com", id="absolute-url-in-query"),
]


def _challenge(fake, path: str, query_string: str):
    mw = middleware(fake)
    result = wsgi_call(mw, path, query_string, headers=HTML)
    assert result.status == 302, result.escaped or result.status
    return mw, result.header("Location")


def _finish_login_from(mw, login_location: str) -> str:
    """Follow the challenge's Location through /login, the provider and the callback: the final Location."""
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    response = client.get(login_location[len(BASE_URL):])
    callback = provider_answer(response.headers["Location"])
    return client.get(callback[len(BASE_URL):]).headers["Location"]


@pytest.mark.parametrize("path, query_string", CATCH_ALL_EVIL)
def test_catch_all_login_redirect_stays_on_base_url(fake, path, query_string):
    mw, location = _challenge(fake, path, query_string)
    assert location.isascii()
    assert location == BASE_URL + "/login" or location.startswith(BASE_URL + "/login?")
    assert lands_on_our_origin(_finish_login_from(mw, location))


@pytest.mark.parametrize("path, query_string", CATCH_ALL_EVIL)
def test_catch_all_login_redirect_carries_only_a_safe_return_path(fake, path, query_string):
    """The redirect itself must not carry a return path /login would refuse (defence in depth)."""
    _, location = _challenge(fake, path, query_string)
    return_to = query(location).get("return_to")
    assert return_to is None or safe_return_path(return_to) == return_to, (
        f"the login redirect carries the unsafe return path {return_to[:80]!r}")


@pytest.mark.parametrize("path, query_string, expected", CATCH_ALL_PLAIN)
def test_catch_all_plain_path_comes_back_after_login(fake, path, query_string, expected):
    mw, location = _challenge(fake, path, query_string)
    assert query(location)["return_to"] == expected
    assert _finish_login_from(mw, location) == BASE_URL + expected


# -- spoofed host headers ------------------------------------------------------------------------------------

SPOOFED_HOSTS = [
    pytest.param({"Host": "evil.com"}, id="host"),
    pytest.param({"X-Forwarded-Host": "evil.com", "X-Forwarded-Proto": "https"}, id="x-forwarded-host"),
    pytest.param({"Forwarded": "host=evil.com;proto=https"}, id="forwarded"),
    pytest.param({"X-Original-URL": "//evil.com/", "X-Rewrite-URL": "//evil.com/"}, id="x-original-url"),
    pytest.param({"X-Forwarded-Prefix": "//evil.com"}, id="x-forwarded-prefix"),
]


@pytest.mark.parametrize("trusted", [
    pytest.param(False, id="no-trusted-proxy"),
    pytest.param(True, id="from-a-trusted-proxy"),
])
@pytest.mark.parametrize("headers", SPOOFED_HOSTS)
def test_spoofed_host_headers_never_reach_our_urls(fake, headers, trusted):
    """Every URL the middleware makes starts from base_url, whatever the request says its host is."""
    mw = middleware(fake, **({"trusted_proxies": "127.0.0.1"} if trusted else {}))
    sent = {**headers, **HTML}
    host = {"HTTP_HOST": headers["Host"]} if "Host" in headers else {}
    challenge = wsgi_call(mw, "/reports", headers=sent, environ=host).header("Location")
    assert challenge.startswith(BASE_URL + "/login?")
    login = wsgi_call(mw, "/login", headers=sent, environ=host).header("Location")
    # a Host that is not base_url's is first moved to base_url's host; else on to the provider
    assert login == BASE_URL + "/login" or query(login)["redirect_uri"] == BASE_URL + "/callback"
    logout = wsgi_call(mw, "/logout", headers=sent, environ=host).header("Location")
    assert query(logout)["post_logout_redirect_uri"] == BASE_URL + "/"
    client = browser(fake)
    plain = {k: v for k, v in sent.items() if k != "Host"}
    response = client.get("/login", {"return_to": "/after"}, headers=plain)
    callback = provider_answer(response.headers["Location"])
    final = client.get(callback[len(BASE_URL):], headers=plain)
    assert final.headers["Location"] == BASE_URL + "/after"
