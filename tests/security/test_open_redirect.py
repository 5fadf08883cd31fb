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
from tests.security.conftest import (
    BASE_URL,
    HTML,
    browser,
    login,
    middleware,
    provider_answer,
    query,
    wsgi_call,
)
from tests.support.servers import free_port

EVIL = [
    ("protocol-relative", "//evil.com"),
    ("triple-slash", "///evil.com"),
    ("protocol-relative-path-query", "//evil.com/a?b=c"),
    ("slash-backslash", "/\\evil.com"),
    ("backslash-slash", "\\/evil.com"),
    ("slash-backslash-slash", "/\\/evil.com"),
    ("raw-tab", "/\t/evil.com"),
    ("raw-newline", "/\n/evil.com"),
    ("raw-cr", "/\r/evil.com"),
    ("leading-tab", "\t//evil.com"),
    ("leading-space", " //evil.com"),
    ("encoded-tab", "/%09/evil.com"),
    ("encoded-newline", "/%0a/evil.com"),
    ("encoded-crlf-header-injection", "/%0d%0aLocation:%20https://evil.com"),
    ("encoded-slash", "/%2F/evil.com"),
    ("encoded-slashes-lowercase", "/%2f%2fevil.com"),
    ("encoded-leading-slashes", "%2F%2Fevil.com"),
    ("encoded-backslash", "/%5Cevil.com"),
    ("encoded-backslashes-lowercase", "/%5c%5cevil.com"),
    ("double-encoded-slashes", "/%252F%252Fevil.com"),
    ("double-encoded-backslash", "/%255Cevil.com"),
    ("triple-encoded-slashes", "/%25252F%25252Fevil.com"),
    ("https-no-slashes", "https:evil.com"),
    ("https-one-slash", "https:/evil.com"),
    ("absolute-https", "https://evil.com"),
    ("absolute-uppercase", "HTTPS://EVIL.COM"),
    ("http-backslashes", "http:\\\\evil.com"),
    ("userinfo-without-slash", "@evil.com"),
    ("host-suffix-without-slash", ".evil.com"),
    ("port-userinfo-without-slash", ":80@evil.com"),
    ("javascript", "javascript:alert(1)"),
    ("javascript-mixed-case", "JaVaScRiPt:alert(document.domain)"),
    ("javascript-with-tab", "java\tscript:alert(1)"),
    ("data-url", "data:text/html,<script>alert(1)</script>"),
    ("vbscript", "vbscript:msgbox(1)"),
    ("nul-then-slashes", "/\x00//evil.com"),
    ("c1-next-line", "/\x85//evil.com"),
    ("fragment-slashes", "/#//evil.com"),
    ("over-long", "/" + "a" * (MAX_RETURN_PATH + 1)),
    ("over-long-100k", "/" + "a" * 100_000),
]
# Odd-looking but same-origin: they must be kept as paths on our own host.
TRICKY_BUT_LOCAL = [
    ("userinfo-lookalike", "/a@evil.com"),
    ("at-first", "/@evil.com"),
    ("scheme-lookalike-segment", "/https:evil.com"),
    ("dot-host-lookalike", "/.evil.com"),
    ("absolute-url-in-query", "/next?url=https://evil.com"),
]
# The longest kept: a login keeps its return path in its login cookie, so its bound is smaller.
LOGIN_LOCAL = [*TRICKY_BUT_LOCAL, ("exactly-max-kept-length", "/" + "a" * (MAX_KEPT_RETURN_PATH - 1))]
LOGOUT_LOCAL = [*TRICKY_BUT_LOCAL, ("exactly-max-length", "/" + "a" * (MAX_RETURN_PATH - 1))]
# Non-ASCII paths travel percent-encoded (UTF-8): a Location header is Latin-1 only.
NON_ASCII = [
    ("cjk", "/文書", "/%E6%96%87%E6%9B%B8"),
    ("latin-1", "/café", "/caf%C3%A9"),
    ("emoji-in-query", "/a?q=😀", "/a?q=%F0%9F%98%80"),
]


def _ids(table: list[tuple]) -> list[str]:
    return [row[0] for row in table]


def lands_on_our_origin(location: str) -> bool:
    rest = location[len(BASE_URL):]
    return (location.isascii() and location.startswith(BASE_URL + "/") and not rest.startswith("//")
            and urlsplit(location).netloc == "app.test" and "\\" not in location
            and not any(ord(c) < 0x20 or c == "\x7f" for c in location))


# -- /login?return_to= → the callback's final redirect ------------------------------------------------------

@pytest.mark.parametrize("payload", [row[1] for row in EVIL], ids=_ids(EVIL))
def test_login_return_to_payload_ends_on_root(build_app, fake, payload):
    location = login(build_app(), payload).headers["Location"]
    assert location == BASE_URL + "/"


@pytest.mark.parametrize("payload", [row[1] for row in LOGIN_LOCAL], ids=_ids(LOGIN_LOCAL))
def test_login_return_to_odd_but_local_path_is_kept_on_our_origin(build_app, fake, payload):
    location = login(build_app(), payload).headers["Location"]
    assert location == BASE_URL + payload
    assert lands_on_our_origin(location)


@pytest.mark.parametrize("payload, encoded", [row[1:] for row in NON_ASCII], ids=_ids(NON_ASCII))
def test_login_return_to_non_ascii_travels_percent_encoded(fake, payload, encoded):
    app = webtest.TestApp(middleware(fake), lint=True)
    location = login(app, payload).headers["Location"]
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
@pytest.mark.parametrize("payload", [row[1] for row in EVIL], ids=_ids(EVIL))
def test_logout_return_to_payload_goes_to_post_logout_redirect(fake, way, payload):
    assert _logout_target(fake, way, payload) == BASE_URL + "/"


@pytest.mark.parametrize("way", LOGOUT_WAYS)
@pytest.mark.parametrize("payload", [row[1] for row in LOGOUT_LOCAL], ids=_ids(LOGOUT_LOCAL))
def test_logout_return_to_odd_but_local_path_stays_on_our_origin(fake, way, payload):
    target = _logout_target(fake, way, payload)
    assert target == BASE_URL + payload
    assert lands_on_our_origin(target)


@pytest.mark.parametrize("payload, encoded", [row[1:] for row in NON_ASCII], ids=_ids(NON_ASCII))
def test_logout_to_unreachable_provider_sends_a_latin1_location(fake, payload, encoded):
    assert _logout_target(fake, "provider-unreachable", payload) == BASE_URL + encoded


# -- GET //evil.com on a protected catch-all path ------------------------------------------------------------

# (id, PATH_INFO as a server delivers it: the request's bytes decoded as Latin-1, QUERY_STRING)
CATCH_ALL_EVIL = [
    ("protocol-relative", "//evil.com", ""),
    ("protocol-relative-path-query", "//evil.com/x", "y"),
    ("triple-slash", "///evil.com", ""),
    ("backslash", "/\\evil.com", ""),
    ("slashes-backslash", "//\\evil.com", ""),
    ("tab", "/\t/evil.com", ""),
    ("over-long-path", "/" + "a" * 5000, ""),
    ("over-long-query", "/x", "q=" + "b" * 100_000),
]
CATCH_ALL_PLAIN = [
    ("plain-with-query", "/reports/7", "x=1&y=2", "/reports/7?x=1&y=2"),
    ("utf8-bytes", "/caf\xc3\xa9", "", "/caf%C3%A9"),
    ("colon-segment", "/a:b", "", "/a:b"),
    ("absolute-url-in-query", "/go", "next=https://evil.com", "/go?next=https://evil.com"),
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


@pytest.mark.parametrize("path, query_string", [row[1:] for row in CATCH_ALL_EVIL], ids=_ids(CATCH_ALL_EVIL))
def test_catch_all_login_redirect_stays_on_base_url(fake, path, query_string):
    mw, location = _challenge(fake, path, query_string)
    assert location.isascii()
    assert location == BASE_URL + "/login" or location.startswith(BASE_URL + "/login?")
    assert lands_on_our_origin(_finish_login_from(mw, location))


@pytest.mark.parametrize("path, query_string", [row[1:] for row in CATCH_ALL_EVIL], ids=_ids(CATCH_ALL_EVIL))
def test_catch_all_login_redirect_carries_only_a_safe_return_path(fake, path, query_string):
    """The redirect itself must not carry a return path /login would refuse (defence in depth)."""
    _, location = _challenge(fake, path, query_string)
    return_to = query(location).get("return_to")
    assert return_to is None or safe_return_path(return_to) == return_to, (
        f"the login redirect carries the unsafe return path {return_to[:80]!r}")


@pytest.mark.parametrize("path, query_string, expected", [row[1:] for row in CATCH_ALL_PLAIN],
                         ids=_ids(CATCH_ALL_PLAIN))
def test_catch_all_plain_path_comes_back_after_login(fake, path, query_string, expected):
    mw, location = _challenge(fake, path, query_string)
    assert query(location)["return_to"] == expected
    assert _finish_login_from(mw, location) == BASE_URL + expected


# -- spoofed host headers ------------------------------------------------------------------------------------

SPOOFED_HOSTS = [
    ("host", {"Host": "evil.com"}),
    ("x-forwarded-host", {"X-Forwarded-Host": "evil.com", "X-Forwarded-Proto": "https"}),
    ("forwarded", {"Forwarded": "host=evil.com;proto=https"}),
    ("x-original-url", {"X-Original-URL": "//evil.com/", "X-Rewrite-URL": "//evil.com/"}),
    ("x-forwarded-prefix", {"X-Forwarded-Prefix": "//evil.com"}),
]


@pytest.mark.parametrize("trusted", [False, True], ids=["no-trusted-proxy", "from-a-trusted-proxy"])
@pytest.mark.parametrize("headers", [row[1] for row in SPOOFED_HOSTS], ids=_ids(SPOOFED_HOSTS))
def test_spoofed_host_headers_never_reach_our_urls(fake, headers, trusted):
    """Every URL the middleware makes starts from base_url, whatever the request says its host is."""
    mw = middleware(fake, **({"trusted_proxies": "127.0.0.1"} if trusted else {}))
    sent = {**headers, **HTML}
    host = {"HTTP_HOST": headers["Host"]} if "Host" in headers else {}
    challenge = wsgi_call(mw, "/reports", headers=sent, environ=host).header("Location")
    assert challenge.startswith(BASE_URL + "/login?")
    authorize = wsgi_call(mw, "/login", headers=sent, environ=host).header("Location")
    assert query(authorize)["redirect_uri"] == BASE_URL + "/callback"
    logout = wsgi_call(mw, "/logout", headers=sent, environ=host).header("Location")
    assert query(logout)["post_logout_redirect_uri"] == BASE_URL + "/"
    client = browser(fake)
    plain = {k: v for k, v in sent.items() if k != "Host"}
    response = client.get("/login", {"return_to": "/after"}, headers=plain)
    callback = provider_answer(response.headers["Location"])
    final = client.get(callback[len(BASE_URL):], headers=plain)
    assert final.headers["Location"] == BASE_URL + "/after"
