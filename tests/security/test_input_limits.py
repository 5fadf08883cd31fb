"""Oversized and malformed input at the routes: refused with a 4xx, fast, without a memory blow-up.

Oversized cookies are in test_cookie_tampering.py. The 1 MB ID token's 400 is in
tests/test_callback_rejections.py (test_oversized_id_token_is_refused_unparsed); here it must also be
refused before any key is fetched.
"""

from __future__ import annotations

import io
import json
import random
import socket
import string
from urllib.parse import urlencode

import pytest
import webtest

from tests.support.flows import BASE_URL, log_in, middleware, start_login
from tests.support.http import JSON, cookie_header, query
from tests.support.logout_tokens import logout_token
from tests.support.memory import peak_memory
from tests.support.servers import serve
from tests.support.wsgi import wsgi_call

FORM = "application/x-www-form-urlencoded"


def _linear(peak: int, size: int) -> None:
    assert peak < 8 * size + 1024 * 1024, f"peak {peak} bytes for {size} bytes of input"


def _pending(fake):
    """A middleware, its pending login's callback query and the browser's Cookie header."""
    mw = middleware(fake)
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    callback, _ = start_login(client)
    return mw, query(callback), cookie_header(dict(client.cookies))


OVERSIZED_CALLBACKS = [
    pytest.param(lambda q: urlencode({**q, "pad": "x" * 100_000}), id="100kb-padding-on-a-valid-callback"),
    pytest.param(lambda q: urlencode({"error": "access_denied", "state": q["state"],
                                      "error_description": "d" * 1_000_000}), id="1mb-error-description"),
    pytest.param(lambda q: urlencode({**q, "code": "c" * 1_000_000}), id="1mb-code"),
    pytest.param(lambda q: urlencode({**q, "state": "s" * 100_000}), id="100kb-state"),
    pytest.param(lambda q: urlencode(q) + "&x=1" * 10_000, id="10000-unknown-parameters"),
]


@pytest.mark.parametrize("build", OVERSIZED_CALLBACKS)
def test_oversized_callback_is_refused_before_the_token_request(fake, build):
    mw, params, cookies = _pending(fake)
    qs = build(params)
    result, peak = peak_memory(lambda: wsgi_call(mw, "/callback", qs, headers={**JSON, "Cookie": cookies}),
                               runs=3)  # refused before anything is spent: repeatable
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"
    assert len(result.body) < 2048  # nothing of the input is echoed back
    assert fake.counts["grant:authorization_code"] == 0
    assert not result.opens_session()
    _linear(peak, len(qs))


def test_over_long_login_return_to_is_dropped_not_carried(fake):
    app = webtest.TestApp(middleware(fake), extra_environ={"HTTP_HOST": "app.test"})
    response = app.get("/login", {"return_to": "/" + "a" * 1_000_000})
    assert len(response.headers["Location"]) < 4096
    assert all(len(v) < 4096 for k, v in response.headerlist if k == "Set-Cookie")
    callback = start_login(app)[0]  # a second, ordinary login works; the first left nothing behind
    assert app.get(callback).headers["Location"] == BASE_URL + "/"


def test_over_long_logout_return_to_goes_to_post_logout_redirect(fake):
    result = wsgi_call(middleware(fake), "/logout", urlencode({"return_to": "/" + "a" * 1_000_000}))
    assert result.status == 302
    assert query(result.header("Location"))["post_logout_redirect_uri"] == BASE_URL + "/"
    assert len(result.header("Location")) < 4096


def test_oversized_id_token_is_refused_before_any_key_is_fetched(fake):
    # Over the 16 KB ID-token limit, under the 256 KB cap on a whole provider answer (a larger
    # answer is refused unread: tests/test_provider_faults.py::test_huge_provider_answer_is_refused...).
    fake.id_token_claims = lambda c: {**c, "padding": "x" * 100_000}
    app = webtest.TestApp(middleware(fake), extra_environ={"HTTP_HOST": "app.test"})
    callback, _ = start_login(app)
    response = app.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_token"
    assert fake.counts["/jwks"] == 0
    assert "auth0_session" not in app.cookies


def test_1mb_logout_token_is_refused_before_any_key_is_fetched(fake):
    token = logout_token(fake, padding="x" * 1_000_000)
    result = wsgi_call(middleware(fake), "/backchannel-logout", method="POST",
                       headers={"Content-Type": FORM}, body=urlencode({"logout_token": token}).encode())
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"
    assert fake.counts["/jwks"] == 0


def test_huge_backchannel_body_is_refused_without_reading_it(fake):
    """The only unauthenticated POST: a logout token is < 16 KB, so an 8 MB body is refused unread."""
    body = b"logout_token=" + b"a" * 8_000_000
    mw = middleware(fake)
    result, peak = peak_memory(lambda: wsgi_call(mw, "/backchannel-logout", method="POST",
                                                 headers={"Content-Type": FORM}, body=body))
    assert 400 <= result.status < 500, result.escaped or result.text
    assert peak < 1024 * 1024, f"the middleware buffered the body: peak {peak} bytes for an 8 MB body"


# -- undecodable input: bytes that are not UTF-8 -------------------------------------------------------------

UNDECODABLE = [
    pytest.param("/login", "return_to=%ff", (302, 400), id="login-return-to-ff"),
    pytest.param("/login", "return_to=%C0%AF%C0%AFevil.com", (302, 400), id="login-return-to-overlong-slash"),
    pytest.param("/callback", "code=c&state=%ff&iss=x", (400,), id="callback-state-ff"),
    pytest.param("/callback", "code=c&state=%ed%a0%80", (400,), id="callback-surrogate-state"),
    pytest.param("/callback", "error=access_denied&error_description=%ff", (400,),
                 id="callback-error-description-ff"),
    pytest.param("/callback", "%ff=1&state=s&code=c", (400,), id="callback-parameter-name-ff"),
    pytest.param("/logout", "return_to=%ff", (302,), id="logout-return-to-ff"),
]


@pytest.mark.parametrize("path, qs, statuses", UNDECODABLE)
def test_query_that_is_not_utf8_is_a_4xx_not_a_crash(fake, path, qs, statuses):
    result = wsgi_call(middleware(fake), path, qs, headers=JSON)
    assert result.escaped is None, f"escaped the middleware: {result.escaped}"
    assert result.status in statuses, (result.status, result.text)


def test_logout_token_that_is_not_utf8_is_a_400(fake):
    result = wsgi_call(middleware(fake), "/backchannel-logout", method="POST", headers={"Content-Type": FORM},
                       body=b"logout_token=%ff%fe")
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"


def test_login_still_works_after_the_limits_were_probed(fake):
    """The refusals above leave no state behind that breaks the next honest login."""
    mw, params, cookies = _pending(fake)
    wsgi_call(mw, "/callback", urlencode({**params, "pad": "x" * 100_000}), headers={"Cookie": cookies})
    app = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    assert log_in(app, "/ok").headers["Location"] == BASE_URL + "/ok"


# -- the login cookie: its size whatever the return path -----------------------------------------------

# A 512-byte return path, the state, nonce and verifier, sealing and the attributes: about 1 KB.
LOGIN_COOKIE_BOUND = 1100
def _noise(alphabet: str, length: int) -> str:
    """Deterministic but incompressible: the login cookie is compressed before it is sealed."""
    return "".join(random.Random(length).choices(alphabet, k=length))  # noqa: S311 - test data


B64URL = string.ascii_letters + string.digits + "-_"
HOSTILE_RETURN_TO = [
    pytest.param("/" + _noise(B64URL, 2047), id="2kb-random-path"),
    pytest.param("/r?q=" + _noise(B64URL, 2043), id="2kb-random-query"),
    pytest.param("/" + _noise("".join(map(chr, range(0x4E00, 0x6000))), 2000), id="2000-random-cjk"),
    pytest.param("/" + _noise("".join(map(chr, range(0xA0, 0x100))), 2047), id="2kb-random-latin-1"),
]


@pytest.mark.parametrize("return_to", HOSTILE_RETURN_TO)
def test_login_cookie_stays_near_1kb_whatever_the_return_to(fake, return_to):
    result = wsgi_call(middleware(fake), "/login", urlencode({"return_to": return_to}))
    assert result.status == 302, result.escaped or result.text
    (login_cookie,) = [v for v in result.all("Set-Cookie") if v.startswith("a0tx.")]
    assert len(login_cookie) <= LOGIN_COOKIE_BOUND, f"{len(login_cookie)} bytes"


LONG_RETURN_TO = [
    pytest.param("/" + "a" * 511, "/" + "a" * 511, id="512-bytes-kept-whole"),
    pytest.param("/reports/7?q=" + "x" * 600, "/reports/7", id="long-query-dropped"),
    pytest.param("/" + "a" * 600, "/", id="long-path-becomes-root"),
    pytest.param("/" + "a" * 600 + "?q=1", "/", id="long-path-with-query-becomes-root"),
    pytest.param("/" + "\u6587" * 60, "/", id="non-ascii-counted-encoded"),
]


@pytest.mark.parametrize("return_to, lands_on", LONG_RETURN_TO)
def test_long_return_to_is_shortened_before_it_rides_in_the_login_cookie(fake, return_to, lands_on):
    app = webtest.TestApp(middleware(fake), extra_environ={"HTTP_HOST": "app.test"})
    assert log_in(app, return_to).headers["Location"] == BASE_URL + lands_on


# -- back-channel logout: a Content-Length that is not a plain number ---------------------------------------

class _CountingInput(io.BytesIO):
    """A request body that counts the bytes the middleware read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def _padded_valid_logout_body(fake) -> bytes:
    """A valid logout token, padded past the 64 KB limit: accepted only if the limit is bypassed."""
    return urlencode({"logout_token": logout_token(fake), "pad": "x" * 100_000}).encode()


BAD_CONTENT_LENGTHS = [
    pytest.param("-1", id="negative"),
    pytest.param("-100000", id="large-negative"),
    pytest.param("abc", id="not-a-number"),
    pytest.param("1e3", id="exponent"),
    pytest.param(" 5", id="leading-space"),
    pytest.param("5 ", id="trailing-space"),
    pytest.param("+5", id="plus-sign"),
    pytest.param("0x10", id="hexadecimal"),
    pytest.param("1_000", id="underscore"),
    pytest.param("\u0665", id="arabic-indic-digit"),
    pytest.param("9" * 40, id="huge"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("length", BAD_CONTENT_LENGTHS)
def test_backchannel_content_length_that_is_not_a_plain_number_is_refused_unread(fake, length):
    body = _CountingInput(_padded_valid_logout_body(fake))
    result = wsgi_call(middleware(fake), "/backchannel-logout", method="POST", headers={"Content-Type": FORM},
                       environ={"CONTENT_LENGTH": length, "wsgi.input": body})
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_request"
    assert body.bytes_read == 0


def test_backchannel_negative_content_length_under_wsgiref_is_refused(fake):
    """wsgiref hands "-1" over as it came; read(-1) would read the whole body past the 64 KB limit."""
    body = _padded_valid_logout_body(fake)
    with serve(middleware(fake)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /backchannel-logout HTTP/1.0\r\nHost: app.test\r\n"
                         b"Content-Type: " + FORM.encode() + b"\r\nContent-Length: -1\r\n\r\n" + body)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", status_line
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"] == "invalid_request"
