"""Tampered, truncated, re-ordered, missing, excess, oversized and non-ASCII session cookies.

Single-cookie tampering is in tests/test_session_flow.py (test_tampered_cookie_means_no_session); this
works on a *chunked* session (``auth0_session.0..2``), on the limits, and on every store. Every bad
cookie means "no session" (401 for an API call, a login redirect for a page), never an error.
"""

from __future__ import annotations

import secrets
import time

import pytest
import webtest

from auth0_wsgi.cookies import MAX_CHUNKS
from tests.support.flows import log_in, middleware, start_login
from tests.support.http import HTML, JSON, cookie_header
from tests.support.memory import peak_memory
from tests.support.wsgi import wsgi_call

NAME = "auth0_session"


def _big_claims(fake) -> None:
    roles = [secrets.token_hex(20) for _ in range(160)]  # random: compression must not make it small
    fake.id_token_claims = lambda c: {**c, "app_metadata": {"roles": roles}}


def _chunked_login(mw) -> list[str]:
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    log_in(client)
    names = sorted(n for n in client.cookies if n.startswith(NAME))
    assert names == [f"{NAME}.0", f"{NAME}.1", f"{NAME}.2"], names
    return [client.cookies[n] for n in names]


@pytest.fixture
def chunked(fake):
    """A middleware and the three chunks of one session, plus the chunks of another session."""
    _big_claims(fake)
    mw = middleware(fake)
    return mw, _chunked_login(mw), _chunked_login(mw)


def _named(values: list[str], start: int = 0) -> list[tuple[str, str]]:
    return [(f"{NAME}.{i + start}", v) for i, v in enumerate(values)]


def _flip(value: str, at: int) -> str:
    return value[:at] + ("A" if value[at] != "A" else "B") + value[at + 1:]


OTHERS = [(f"pref{i}", f"value{i}") for i in range(50)]

INTACT = [
    pytest.param(lambda c, o: _named(c), id="intact"),
    pytest.param(lambda c, o: list(reversed(_named(c))), id="intact-reversed-header-order"),
    pytest.param(lambda c, o: OTHERS[:25] + _named(c) + OTHERS[25:], id="intact-among-50-other-cookies"),
]
TAMPERED = [
    pytest.param(lambda c, o: _named([c[1], c[0], c[2]]), id="swap-0-1"),
    pytest.param(lambda c, o: _named(list(reversed(c))), id="reverse"),
    pytest.param(lambda c, o: _named([c[1], c[2], c[0]]), id="rotate"),
    pytest.param(lambda c, o: _named(c)[1:], id="drop-first"),
    pytest.param(lambda c, o: [_named(c)[0], _named(c)[2]], id="drop-middle"),
    pytest.param(lambda c, o: _named(c)[:2], id="drop-last"),
    pytest.param(lambda c, o: _named([c[0], c[1], c[2][:-1]]), id="truncate-last-by-one"),
    pytest.param(lambda c, o: _named([c[0][:-1], c[1], c[2]]), id="truncate-first-by-one"),
    pytest.param(lambda c, o: _named([c[0], c[1][: len(c[1]) // 2], c[2]]), id="truncate-middle-by-half"),
    pytest.param(lambda c, o: _named([c[0], _flip(c[1], 100), c[2]]), id="flip-char-in-middle-chunk"),
    pytest.param(lambda c, o: _named([_flip(c[0], 5), c[1], c[2]]), id="flip-char-in-header"),
    pytest.param(lambda c, o: _named([c[0], "", c[2]]), id="empty-middle-chunk"),
    pytest.param(lambda c, o: _named([*c, "junk"]), id="excess-junk-chunk"),
    pytest.param(lambda c, o: _named([*c, c[2]]), id="excess-copy-of-last-chunk"),
    pytest.param(lambda c, o: _named(c, start=1), id="renumbered-from-1"),
    pytest.param(lambda c, o: _named([c[0], o[1], c[2]]), id="chunk-from-another-session"),
    pytest.param(lambda c, o: _named([o[0], c[1], c[2]]), id="first-chunk-from-another-session"),
    pytest.param(lambda c, o: [(f"{NAME}.0", "forged"), *_named(c)],
                 id="forged-duplicate-before-the-real-one"),
    pytest.param(lambda c, o: [(NAME, "garbage"), *_named(c)], id="garbage-unchunked-cookie-shadows-chunks"),
    pytest.param(lambda c, o: [(NAME, ".".join(c))], id="chunks-as-one-cookie-with-dots"),
]


@pytest.mark.parametrize("arrange", INTACT)
def test_intact_chunks_are_read_back(chunked, arrange):
    """The control: without it the tampering table below could pass for a broken reader."""
    mw, chunks, other = chunked
    result = wsgi_call(mw, "/x", headers={**JSON, "Cookie": cookie_header(arrange(chunks, other))})
    assert result.status == 200, result.escaped or result.text
    assert len(result.json["auth0.user"]["app_metadata"]["roles"]) == 160


@pytest.mark.parametrize("arrange", TAMPERED)
def test_tampered_chunks_mean_no_session(chunked, arrange):
    mw, chunks, other = chunked
    cookie = cookie_header(arrange(chunks, other))
    api = wsgi_call(mw, "/x", headers={**JSON, "Cookie": cookie})
    assert api.status == 401, api.escaped or api.text
    assert api.json["error"] == "login_required"
    assert not api.app_called
    page = wsgi_call(mw, "/x", headers={**HTML, "Cookie": cookie})
    assert page.status == 302 and page.header("Location").startswith("http://app.test/login?")


# -- oversized -----------------------------------------------------------------------------------------------

def _fast_and_small(call, input_size: int):
    started = time.monotonic()
    result, peak = peak_memory(call)
    assert time.monotonic() - started < 2
    assert peak < 4 * input_size + 512 * 1024, f"peak {peak} bytes for {input_size} bytes of input"
    return result


OVERSIZED = [
    pytest.param(lambda c: [(f"{NAME}.{i}", "A" * 4000) for i in range(50)], id="50-junk-chunks-of-4kb"),
    pytest.param(lambda c: _named(c) + [(f"{NAME}.{i}", "B" * 4000) for i in range(3, 50)],
                 id="real-chunks-then-47-junk-chunks"),
    pytest.param(lambda c: [(NAME, "A" * 1_000_000)], id="one-1mb-cookie"),
    pytest.param(lambda c: [(f"{NAME}.0", "A" * 1_000_000)], id="one-1mb-chunk"),
    pytest.param(lambda c: [(f"{NAME}.x{i}", "v") for i in range(2000)], id="2000-lookalike-cookies"),
    pytest.param(lambda c: [(f"{NAME}.0", f"v{i}") for i in range(2000)], id="2000-duplicate-chunk-0"),
]


@pytest.mark.parametrize("arrange", OVERSIZED)
def test_oversized_cookies_are_refused_fast_and_without_memory_blow_up(chunked, arrange):
    mw, chunks, _ = chunked
    cookie = cookie_header(arrange(chunks))
    result = _fast_and_small(lambda: wsgi_call(mw, "/x", headers={**JSON, "Cookie": cookie}), len(cookie))
    assert result.status == 401, result.escaped or result.text
    assert not result.app_called


def test_1mb_server_side_id_cookie_is_refused(fake):
    mw = middleware(fake, session_store="memory")
    cookie = f"{NAME}=" + "A" * 1_000_000
    result = _fast_and_small(lambda: wsgi_call(mw, "/x", headers={**JSON, "Cookie": cookie}), len(cookie))
    assert result.status == 401, result.escaped or result.text


def test_1mb_login_cookie_under_the_pending_states_name_is_refused(fake):
    mw = middleware(fake)
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    callback, _ = start_login(client)
    name = next(n for n in client.cookies if n.startswith("a0tx."))
    cookie = f"{name}=" + "A" * 1_000_000
    path, _, qs = callback.partition("?")
    result = _fast_and_small(lambda: wsgi_call(mw, path, qs, headers={**JSON, "Cookie": cookie}), len(cookie))
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_state"
    assert fake.counts["grant:authorization_code"] == 0


def test_logout_deletes_every_chunk_the_browser_sent(chunked):
    """Stale or planted chunks do not outlive a logout (they would shadow the next session); names
    beyond the chunks we could have written are never read, so never echoed (see the stray-name tests)."""
    mw, chunks, _ = chunked
    readable = _named(chunks) + [(f"{NAME}.{i}", "junk") for i in range(3, MAX_CHUNKS)]
    beyond = [(f"{NAME}.{i}", "junk") for i in range(MAX_CHUNKS, 50)]
    result = wsgi_call(mw, "/logout", headers={"Cookie": cookie_header(readable + beyond)})
    assert result.status == 302
    deleted = {v.split("=", 1)[0] for v in result.all("Set-Cookie") if "Max-Age=0" in v}
    assert {name for name, _ in readable} <= deleted
    assert not deleted & {name for name, _ in beyond}


# -- non-ASCII bytes in our cookies, on every store ----------------------------------------------------------

NON_ASCII = [
    pytest.param(f"{NAME}=abc.\xe9", id="latin-1-signature"),
    pytest.param(f"{NAME}=\xff\xfe", id="high-bytes-without-dot"),
    pytest.param(f"{NAME}.0=\xe9\xe9", id="latin-1-chunk"),
]
WHERE = [
    pytest.param("/x", JSON, 401, id="protected-api"),
    pytest.param("/public/x", HTML, 200, id="public-page"),
    pytest.param("/logout", HTML, 302, id="logout"),
]


@pytest.mark.parametrize("path, headers, status", WHERE)
@pytest.mark.parametrize("cookie", NON_ASCII)
def test_non_ascii_cookie_values_mean_no_session_on_every_store(make_app, cookie, path, headers, status):
    """A server hands the Cookie header over as Latin-1 text: any byte may be in it."""
    app = make_app(public_paths="/public")
    result = wsgi_call(app, path, headers={**headers, "Cookie": cookie})
    assert result.escaped is None, f"escaped the middleware: {result.escaped}"
    assert result.status == status, result.text
    if result.status == 200:
        assert "auth0.user" not in result.json


# -- cookies with names we never set, on every store ---------------------------------------------------

STRAY = [
    pytest.param(f"{NAME}.(", id="session-parenthesis"),
    pytest.param(f"{NAME}.\xe9", id="session-latin-1-letter"),
    pytest.param(f"{NAME}. x", id="session-space"),
    pytest.param(f"{NAME}.99", id="session-beyond-max-chunks"),
    pytest.param(f"{NAME}.x", id="session-letter"),
    pytest.param("a0tx.(", id="login-parenthesis"),
    pytest.param("a0tx.\xe9", id="login-latin-1-letter"),
    pytest.param("a0tx. x", id="login-space"),
    pytest.param("a0tx.x", id="login-short"),
]
STRAY_WHERE = [
    pytest.param("/callback", "code=c&state=s", JSON, 400, id="callback"),
    pytest.param("/logout", "", HTML, 302, id="logout"),
    pytest.param("/x", "", JSON, 401, id="protected-api"),
    pytest.param("/x", "", HTML, 302, id="protected-page"),
]


def _set_cookie_names(result) -> list[str]:
    return [v.split("=", 1)[0] for v in result.all("Set-Cookie")]


@pytest.mark.parametrize("path, qs, headers, status", STRAY_WHERE)
@pytest.mark.parametrize("stray", STRAY)
def test_cookie_named_oddly_means_no_session_and_is_never_echoed(make_app, stray, path, qs, headers, status):
    """A cookie we never set (another app's, or planted) is ignored: no 500, never in a Set-Cookie."""
    result = wsgi_call(make_app(), path, qs, headers={**headers, "Cookie": f"{stray}=junk"})
    assert result.escaped is None, f"escaped the middleware: {result.escaped}"
    assert result.status == status, result.text
    assert stray not in _set_cookie_names(result)
    if result.status >= 400 and headers is JSON:
        assert result.json["error"] in ("invalid_state", "login_required")


@pytest.mark.parametrize("stray", STRAY)
def test_cookie_named_oddly_beside_a_real_session_changes_nothing(make_app, stray):
    app = make_app()
    log_in(app)
    cookie = cookie_header([(stray, "junk"), *app.cookies.items()])
    api = wsgi_call(app, "/x", headers={**JSON, "Cookie": cookie})
    assert api.status == 200, api.escaped or api.text
    assert api.json["auth0.user"]["sub"] == "auth0|alice"
    logout = wsgi_call(app, "/logout", headers={"Cookie": cookie})
    assert logout.status == 302, logout.escaped or logout.text
    assert NAME in _set_cookie_names(logout)
    assert stray not in _set_cookie_names(logout)


@pytest.mark.parametrize("stray", STRAY)
def test_cookie_named_oddly_does_not_stop_a_login(make_app, stray):
    app = make_app()
    callback, _ = start_login(app)
    path, _, qs = callback.partition("?")
    cookie = cookie_header([(stray, "junk"), *app.cookies.items()])
    result = wsgi_call(app, path, qs, headers={"Cookie": cookie})
    assert result.status == 302, result.escaped or result.text
    assert result.opens_session()
    assert stray not in _set_cookie_names(result)
