"""Property-based tests (Hypothesis) through the real middleware: what no input may ever do.

- the cookie decoder: no Cookie header raises out of the middleware, answers 500 or yields a session
  (and a chunked session is read back exactly when its chunks are intact);
- return paths: whatever ``return_to`` /login gets, or whatever path a protected request had, the
  stored return path is ``/`` or a path on our own origin (and plain paths are kept);
- the config parser: any string for any option gives a Config or a ConfigError naming an option;
- the callback: no query string answers 500, escapes, or opens a session.

``safe_return_path`` alone has its properties in tests/test_returnpath.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import string
from urllib.parse import unquote, urlencode, urlsplit

import pytest
import webtest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from auth0_wsgi.config import Config
from auth0_wsgi.errors import ConfigError
from auth0_wsgi.sealing import Sealer
from tests.support.flows import BASE_URL, SECRET, log_in, middleware
from tests.support.http import HTML, JSON, query
from tests.support.wsgi import wsgi_call

NAME = "auth0_session"
LATIN1 = st.characters(max_codepoint=0xFF)
B64URL = string.ascii_letters + string.digits + "-_"
SEPARATORS = st.sampled_from(["; ", ";", " ; ", ","])
TEXT = st.characters(blacklist_categories=("Cs",))  # anything a browser can percent-encode as UTF-8
URLISH = st.text(alphabet=string.ascii_letters + "/\\:%.?#&=@;+ \t\r\n0123456789" + "2F5C09\u3002\uff0f",
                 max_size=40)


def fast(n: int):
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# -- the cookie decoder --------------------------------------------------------------------------------------

def _sealed_prefix() -> str:
    return Sealer([SECRET], "session").seal(b"x").split(".")[0]  # a real JWE header: decryption is tried


COOKIE_NAMES = st.one_of(
    st.sampled_from([NAME, f"{NAME}.0", f"{NAME}.1", f"{NAME}.4", f"{NAME}.5", f"{NAME}.x", f"{NAME}.",
                     f" {NAME} ", "a0tx.x", "other", ""]),
    st.text(LATIN1, max_size=12),
)
COOKIE_VALUES = st.one_of(
    st.text(LATIN1, max_size=60),
    st.sampled_from(['"', '""', ".", "....", "a..b.c.d", "x.y"]),
    st.builds(lambda rest: _sealed_prefix() + ".." + rest, st.text(B64URL + ".", max_size=80)),
    st.builds(lambda a, b: f"{a}.{b}", st.text(string.ascii_letters + "-_", max_size=43),
              st.text(LATIN1, max_size=24)),
)
COOKIE_HEADERS = st.one_of(
    st.text(LATIN1, max_size=300),
    st.lists(st.tuples(COOKIE_NAMES, COOKIE_VALUES, SEPARATORS), max_size=8).map(
        lambda items: "".join(f"{n}={v}{sep}" for n, v, sep in items)),
)


@pytest.fixture
def middlewares(fake):
    """One middleware per test and store, reused by every example (Hypothesis runs the body many times)."""
    made: dict[str, object] = {}

    def get(store: str = "cookie"):
        if store not in made:
            made[store] = middleware(fake, session_store=store, public_paths="/public")
        return made[store]
    return get


@pytest.mark.parametrize("store", ["cookie", "memory"])
@fast(200)
@given(header=COOKIE_HEADERS)
@example(header=f"{NAME}=abc.\xe9")
@example(header=f"{NAME}.0=\xff; {NAME}.1=\xfe")
def test_no_cookie_header_crashes_or_yields_a_session(middlewares, store, header):
    mw = middlewares(store)
    api = wsgi_call(mw, "/x", headers={**JSON, "Cookie": header})
    assert api.escaped is None, f"escaped the middleware: {api.escaped}"
    assert api.status == 401 and not api.app_called
    public = wsgi_call(mw, "/public/x", headers={**HTML, "Cookie": header})
    assert public.status == 200 and "auth0.user" not in public.json


@pytest.fixture
def three_chunks(fake):
    roles = [secrets.token_hex(20) for _ in range(160)]
    fake.id_token_claims = lambda c: {**c, "app_metadata": {"roles": roles}}
    mw = middleware(fake)
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    log_in(client)
    chunks = [client.cookies[f"{NAME}.{i}"] for i in range(3)]
    assert f"{NAME}.3" not in client.cookies and NAME not in client.cookies
    return mw, chunks


PIECES = st.one_of(
    st.tuples(st.sampled_from(["chunk", "flipped", "cut"]), st.integers(0, 2)),
    st.tuples(st.just("junk"), st.text(B64URL + ".", min_size=1, max_size=30)),
)
ARRANGEMENTS = st.lists(st.tuples(st.sampled_from(["", ".0", ".1", ".2", ".3", ".4"]), PIECES), max_size=7)
INTACT = [(".0", ("chunk", 0)), (".1", ("chunk", 1)), (".2", ("chunk", 2))]


def _piece(chunks: list[str], piece: tuple) -> str:
    kind, arg = piece
    if kind == "junk":
        return arg
    value = chunks[arg]
    if kind == "flipped":
        return value[:50] + ("A" if value[50] != "A" else "B") + value[51:]
    return value[:-1] if kind == "cut" else value


@fast(200)
@given(arrangement=ARRANGEMENTS)
@example(arrangement=INTACT)
@example(arrangement=list(reversed(INTACT)))
@example(arrangement=[*INTACT, (".4", ("junk", "x"))])
@example(arrangement=[*INTACT, (".3", ("chunk", 2))])
@example(arrangement=[(".1", ("chunk", 0)), *INTACT])
def test_a_chunked_session_is_read_back_exactly_when_its_chunks_are_intact(three_chunks, arrangement):
    mw, chunks = three_chunks
    cookies = [(NAME + suffix, _piece(chunks, piece)) for suffix, piece in arrangement]
    first: dict[str, str] = {}
    for name, value in cookies:  # the browser's first cookie of a name is the one that counts
        first.setdefault(name, value)
    intact = (NAME not in first and f"{NAME}.3" not in first
              and [first.get(f"{NAME}.{i}") for i in range(3)] == chunks)
    result = wsgi_call(mw, "/x", headers={**JSON, "Cookie": "; ".join(f"{n}={v}" for n, v in cookies)})
    assert result.escaped is None
    assert result.status == (200 if intact else 401), (intact, [n for n, _ in cookies])


# -- return paths --------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PLAIN = re.compile(r"/[A-Za-z0-9_\-/]*")


def _same_origin_path(path: str) -> bool:
    """Independent of safe_return_path: could a browser read BASE_URL + path as another origin?"""
    for decoded in (path, unquote(path), unquote(unquote(path)), unquote(unquote(unquote(path)))):
        if not decoded.startswith("/") or decoded.startswith("//") or "\\" in decoded or "#" in decoded:
            return False
        if _CONTROL.search(decoded):
            return False
    return path.isascii() and urlsplit(BASE_URL + path).netloc == "app.test"


def _stored_return_path(login_result) -> str:
    """The return path /login sealed into its login cookie (what the callback will redirect to)."""
    (cookie,) = [v for v in login_result.all("Set-Cookie") if v.startswith("a0tx.")]
    value = cookie.split(";")[0].split("=", 1)[1]
    return json.loads(Sealer([SECRET], "transaction").unseal(value))["return_to"]


@fast(300)
@given(value=st.one_of(st.text(TEXT, max_size=60), URLISH, st.builds(lambda s: "/" + s, URLISH),
                       st.builds(lambda s: "/" + s, st.text(TEXT, max_size=40))))
@example(value="/%252F%252Fevil.com")
@example(value="/\u3002evil.com")
@example(value="/reports/7")
def test_login_stores_root_or_a_same_origin_path_and_keeps_plain_ones(middlewares, value):
    result = wsgi_call(middlewares(), "/login", urlencode({"return_to": value}))
    assert result.status == 302, result.escaped
    stored = _stored_return_path(result)
    assert stored == "/" or _same_origin_path(stored), stored
    if PLAIN.fullmatch(value) and not value.startswith("//") and len(value) < 2048:
        assert stored == value


@fast(200)
@given(path=st.builds(lambda s: "/" + s, st.text(LATIN1, max_size=40)),
       query_string=st.text(st.characters(max_codepoint=0xFF, blacklist_characters="#"), max_size=40))
@example(path="//evil.com/x", query_string="y")
@example(path="/\\evil.com", query_string="")
def test_protected_request_comes_back_only_to_our_origin(middlewares, path, query_string):
    mw = middlewares()
    assume(path not in mw.config.routes.values())  # /logout, /login… are routes, not protected pages
    challenge = wsgi_call(mw, path, query_string, headers=HTML)
    assert challenge.escaped is None and challenge.status == 302
    location = challenge.header("Location")
    assert location.isascii() and location.startswith(BASE_URL + "/login")
    login_result = wsgi_call(mw, "/login", urlsplit(location).query)
    assert login_result.status == 302, login_result.escaped
    stored = _stored_return_path(login_result)
    assert stored == "/" or _same_origin_path(stored), stored


# -- the config parser ---------------------------------------------------------------------------------------

OPTIONS = sorted({f.name for f in dataclasses.fields(Config)} | {"domain"})
BASE = {"domain": "tenant.us.auth0.com", "client_id": "my-client", "client_secret": "c" * 40,
        "base_url": "https://app.example.com", "secret": "s" * 40}


def _build(option: str, value: str, where: str) -> None:
    settings_ = dict(BASE)
    environ: dict[str, str] = {}
    # the value under test must be the one that counts: an explicit setting would win over the environment
    settings_.pop("domain" if option in ("issuer", "domain") else option, None)
    if where == "setting":
        settings_[option] = value
    else:
        environ[f"AUTH0_{option.upper()}"] = value
    Config.from_settings(settings_, environ=environ)


@pytest.mark.parametrize("where", ["setting", "environment"])
@pytest.mark.parametrize("option", OPTIONS)
@fast(30)
@given(value=st.one_of(st.text(max_size=40), URLISH, st.builds(lambda s: "http://" + s, st.text(max_size=20)),
                       st.builds(lambda s: "redis://" + s, st.text(max_size=20))))
@example(value="http://[")
@example(value="https://tenant\u2100.example/")
@example(value="redis://:pw@[::1")
def test_any_string_for_any_option_gives_a_config_or_a_config_error_naming_an_option(option, where, value):
    try:
        _build(option, value, where)
    except ConfigError as error:
        assert error.option in OPTIONS, error.option
        assert str(error).startswith(f"auth0-wsgi: option '{error.option}'")
    except Exception as error:
        pytest.fail(f"{option}={value!r} ({where}) raised {type(error).__name__}: {error}")


# -- the callback handler ------------------------------------------------------------------------------------

KEYS = st.one_of(st.sampled_from(["code", "state", "iss", "error", "error_description", "x", "state[]"]),
                 st.text(TEXT, max_size=8))
VALUES = st.one_of(st.sampled_from(["<STATE>", "<ISS>", "", "access_denied"]), st.text(TEXT, max_size=30))
QUERIES = st.one_of(
    st.lists(st.tuples(KEYS, VALUES), max_size=7).map(lambda pairs: ("encoded", pairs)),
    st.lists(st.tuples(KEYS, VALUES), max_size=7).map(lambda pairs: ("raw", pairs)),
    st.text(LATIN1, max_size=120).map(lambda text: ("text", text)),
)


def _render(shape: tuple, state: str, issuer: str) -> str:
    kind, content = shape
    if kind == "text":
        return content
    pairs = [(k, v.replace("<STATE>", state).replace("<ISS>", issuer)) for k, v in content]
    if kind == "encoded":
        return urlencode(pairs)
    return "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "replace").decode("latin-1")


@fast(200)
@given(shape=QUERIES)
@example(shape=("text", "state=%ff&code=x"))
@example(shape=("encoded", [("code", "x"), ("state", "<STATE>"), ("iss", "<ISS>")]))
@example(shape=("encoded", [("state", "<STATE>"), ("iss", "<ISS>"), ("code", "x"), ("code", "y")]))
def test_no_callback_query_crashes_or_opens_a_session(fake, middlewares, shape):
    mw = middlewares()
    pending = wsgi_call(mw, "/login", headers=HTML)  # a real pending login: its state may be reused
    state = query(pending.header("Location"))["state"]
    cookie = pending.header("Set-Cookie").split(";")[0]
    qs = _render(shape, state, fake.issuer)
    result = wsgi_call(mw, "/callback", qs, headers={**JSON, "Cookie": cookie})
    assert result.escaped is None, f"escaped the middleware: {result.escaped}"
    assert 400 <= result.status < 500, (result.status, result.text)
    assert not result.opens_session()
    assert not result.app_called
