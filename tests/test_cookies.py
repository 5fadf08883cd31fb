"""read_cookies / read_matching / chunk / join_chunks / CookieOptions against real Set-Cookie headers."""

from __future__ import annotations

import string

import pytest

from auth0_wsgi.cookies import (
    MAX_CHUNKS,
    MAX_SET_COOKIE,
    CookieOptions,
    chunk,
    join_chunks,
    read_cookies,
    read_matching,
)
from auth0_wsgi.transaction import LOGIN_COOKIE_NAME

NAME = "auth0_session"
B64URL = string.ascii_letters + string.digits + "-_."
OTHERS = "; ".join(f"other{i}=value{i}" for i in range(100))


def token_like(length: int) -> str:
    """A cookie-safe value like a sealed JWE (base64url and dots), with no repetition to hide bugs."""
    return "".join(B64URL[(i * 7 + i // 64) % len(B64URL)] for i in range(length))


# -- read_cookies ---------------------------------------------------------------------------------

READ = [
    pytest.param(f"{NAME}=abc", {NAME: "abc"}, id="alone"),
    pytest.param(f"a=1; {NAME}=abc; b=2", {NAME: "abc"}, id="among-others"),
    pytest.param(f"{OTHERS}; {NAME}=abc; {OTHERS}", {NAME: "abc"}, id="among-many-others"),
    pytest.param(f"x=1; {NAME}.0=AA; y=2; {NAME}.1=BB; z=3", {f"{NAME}.0": "AA", f"{NAME}.1": "BB"},
                 id="chunks-among-others"),
    pytest.param(f"{NAME}=W; {NAME}.0=AA", {NAME: "W", f"{NAME}.0": "AA"}, id="whole-and-chunks"),
    pytest.param(f"x{NAME}=1; {NAME}_other=2; {NAME}x=3; {NAME}0=4", {}, id="lookalikes-ignored"),
    pytest.param(f"x{NAME}=1; {NAME}_other=2; {NAME}=real", {NAME: "real"}, id="lookalikes-and-real"),
    pytest.param(f"{NAME}=first; {NAME}=second", {NAME: "first"}, id="first-duplicate-wins"),
    pytest.param(f"{NAME}.0=first; {NAME}.0=second", {f"{NAME}.0": "first"}, id="first-duplicate-chunk-wins"),
    pytest.param(f"  {NAME} =  abc  ;other=1", {NAME: "abc"}, id="whitespace-stripped"),
    pytest.param(f"a=1;{NAME}=abc;b=2", {NAME: "abc"}, id="no-space-after-semicolon"),
    pytest.param(f'{NAME}="abc"', {NAME: "abc"}, id="quoted-value"),
    pytest.param(f"{NAME}=a=b", {NAME: "a=b"}, id="value-with-equals"),
    pytest.param(f"{NAME}=", {NAME: ""}, id="empty-value"),
    pytest.param(f"{NAME}; other=1", {}, id="name-without-equals-ignored"),
    pytest.param(f"other={NAME}", {}, id="name-only-in-a-value"),
    pytest.param("", {}, id="empty-header"),
    pytest.param(OTHERS, {}, id="absent"),
    pytest.param(f"{NAME.upper()}=abc", {}, id="case-sensitive"),
]


@pytest.mark.parametrize(("header", "expected"), READ)
def test_read_cookies(header, expected):
    assert read_cookies(header, NAME) == expected


# Names a browser may send us that we never set: each must be ignored, never echoed into a Set-Cookie
# (WebOb's make_cookie raises on most of them, and a 500 on /logout is the least of the harm).
STRAY_NAMES = [
    pytest.param(f"{NAME}.(", id="parenthesis"),
    pytest.param(f"{NAME}.\xe9", id="latin-1-letter"),
    pytest.param(f"{NAME}. 1", id="space-inside"),
    pytest.param(f"{NAME}.1 x", id="space-then-more"),
    pytest.param(f"{NAME}.99", id="beyond-max-chunks"),
    pytest.param(f"{NAME}.{MAX_CHUNKS}", id="max-chunks-itself"),
    pytest.param(f"{NAME}.x", id="letter"),
    pytest.param(f"{NAME}.01", id="leading-zero"),
    pytest.param(f"{NAME}.-1", id="negative"),
    pytest.param(f"{NAME}.+1", id="plus-sign"),
    pytest.param(f"{NAME}.\uff11", id="fullwidth-digit"),
    pytest.param(f"{NAME}.", id="dot-only"),
    pytest.param(f"{NAME}.0.1", id="two-indexes"),
]


@pytest.mark.parametrize("stray", STRAY_NAMES)
def test_read_cookies_ignores_names_we_never_set(stray):
    assert read_cookies(f"{stray}=v", NAME) == {}
    expected = {f"{NAME}.0": "AA", f"{NAME}.1": "BB"}
    assert read_cookies(f"{stray}=v; {NAME}.0=AA; {NAME}.1=BB", NAME) == expected


def test_read_cookies_accepts_every_chunk_name_we_write():
    header = "; ".join(f"{NAME}.{i}=v{i}" for i in range(MAX_CHUNKS))
    assert read_cookies(header, NAME) == {f"{NAME}.{i}": f"v{i}" for i in range(MAX_CHUNKS)}


LOGIN = "a0tx.AbCdEfGhIjKl-_09"  # the shape of a real login cookie's name: a0tx.<16 base64url>
LOGIN_2 = "a0tx.ZyXwVuTsRqPo_-98"
STRAY_LOGIN_NAMES = [
    pytest.param("a0tx.(", id="parenthesis"),
    pytest.param("a0tx.\xe9", id="latin-1-letter"),
    pytest.param("a0tx. AbCdEfGhIjKl-_0", id="space-inside"),
    pytest.param("a0tx.abc", id="too-short"),
    pytest.param(LOGIN + "9", id="too-long"),
    pytest.param("a0tx.AbCdEfGhIjKl-_0=", id="padding"),
    pytest.param("a0tx.AbCdEfGhIjKl+/09", id="standard-base64"),
    pytest.param("a0tx.", id="prefix-only"),
    pytest.param("a0tx", id="no-dot"),
    pytest.param("xa0tx.AbCdEfGhIjKl-_09", id="lookalike-before"),
]


@pytest.mark.parametrize("stray", STRAY_LOGIN_NAMES)
def test_login_cookie_reader_ignores_names_we_never_set(stray):
    assert read_matching(f"{stray}=v; {LOGIN}=ours", LOGIN_COOKIE_NAME) == {LOGIN: "ours"}


def test_login_cookie_reader_finds_every_pending_login():
    header = f"{LOGIN}=1; other=2; {LOGIN_2}=3"
    assert read_matching(header, LOGIN_COOKIE_NAME) == {LOGIN: "1", LOGIN_2: "3"}


# One parser for both readers: the same header rules whatever the name. "{n}" is our cookie's name.
SAME_RULES = [
    pytest.param("{n}=abc", {"{n}": "abc"}, id="alone"),
    pytest.param("a=1; {n}=abc; b=2", {"{n}": "abc"}, id="among-others"),
    pytest.param("{n}=first; {n}=second", {"{n}": "first"}, id="first-duplicate-wins"),
    pytest.param("  {n} =  abc  ;other=1", {"{n}": "abc"}, id="whitespace-stripped"),
    pytest.param("a=1;{n}=abc;b=2", {"{n}": "abc"}, id="no-space-after-semicolon"),
    pytest.param('{n}="abc"', {"{n}": "abc"}, id="quoted-value"),
    pytest.param('{n}= "abc" ', {"{n}": "abc"}, id="quoted-value-with-whitespace"),
    pytest.param("{n}=a=b", {"{n}": "a=b"}, id="value-with-equals"),
    pytest.param("{n}=", {"{n}": ""}, id="empty-value"),
    pytest.param("{n}; other=1", {}, id="name-without-equals-ignored"),
    pytest.param("other={n}", {}, id="name-only-in-a-value"),
    pytest.param("utm=a {n}=ATTACKER; {n}=REAL", {"{n}": "REAL"}, id="inside-a-value-after-a-space"),
    pytest.param("utm=a\t{n}=ATTACKER;{n}=REAL", {"{n}": "REAL"}, id="inside-a-value-after-a-tab"),
    pytest.param("\x85{n}=ATTACKER; {n}=REAL", {"{n}": "REAL"}, id="after-a-c1-control"),
    pytest.param("\xa0{n}=ATTACKER; {n}=REAL", {"{n}": "REAL"}, id="after-a-no-break-space"),
    pytest.param("", {}, id="empty-header"),
]
READERS = [
    pytest.param(NAME, lambda header: read_cookies(header, NAME), id="session-reader"),
    pytest.param(LOGIN, lambda header: read_matching(header, LOGIN_COOKIE_NAME), id="login-reader"),
]


@pytest.mark.parametrize(("name", "read"), READERS)
@pytest.mark.parametrize(("header", "expected"), SAME_RULES)
def test_both_readers_follow_the_same_rules(name, read, header, expected):
    assert read(header.format(n=name)) == {k.format(n=name): v for k, v in expected.items()}


# -- Set-Cookie ---------------------------------------------------------------------------------------

def _attributes(header_value: str) -> tuple[str, dict[str, str]]:
    first, *rest = header_value.split("; ")
    attrs = {}
    for item in rest:
        key, _, value = item.partition("=")
        attrs[key.strip().lower()] = value
    return first, attrs


OPTIONS = [
    pytest.param(CookieOptions(path="/", secure=True, samesite="Lax"), id="root-secure-lax"),
    pytest.param(CookieOptions(path="/app", secure=True, samesite="Strict"), id="prefix-secure-strict"),
    pytest.param(CookieOptions(path="/", secure=False, samesite="Lax"), id="root-insecure-lax"),
    pytest.param(CookieOptions(path="/", secure=True, samesite="None"), id="secure-none"),
    pytest.param(CookieOptions(path="/" + "/".join(["segment"] * 30), secure=True, samesite="Lax"),
                 id="long-path"),
]


@pytest.mark.parametrize("options", OPTIONS)
def test_set_cookie_flags(options):
    name, value = options.set_cookie(NAME, "abc", 3600)
    assert name == "Set-Cookie"
    first, attrs = _attributes(value)
    assert first == f"{NAME}=abc"
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == options.samesite.lower()
    assert ("secure" in attrs) is options.secure
    assert attrs["path"] == options.path
    assert attrs["max-age"] == "3600"


def test_delete_cookie_expires_now():
    options = CookieOptions(path="/app", secure=True, samesite="Lax")
    name, value = options.delete_cookie(NAME)
    first, attrs = _attributes(value)
    assert name == "Set-Cookie"
    assert first == f"{NAME}="
    assert attrs["max-age"] == "0"
    assert attrs["path"] == "/app"
    assert "httponly" in attrs and "secure" in attrs


# -- chunk / join_chunks --------------------------------------------------------------------------

LAX = CookieOptions(path="/", secure=True, samesite="Lax")


def _single_limit(name: str, options: CookieOptions, max_age: int) -> int:
    """The longest value whose one Set-Cookie header fits in MAX_SET_COOKIE bytes."""
    return MAX_SET_COOKIE - len(options.set_cookie(name, "", max_age)[1].encode("latin-1"))


def _headers(name: str, value: str, options: CookieOptions, max_age: int) -> list[tuple[str, str]]:
    pairs = chunk(name, value, options, max_age)
    assert pairs is not None
    return [options.set_cookie(n, v, max_age) for n, v in pairs]


def test_small_value_is_one_cookie():
    assert chunk(NAME, "abc", LAX, 3600) == [(NAME, "abc")]


def test_value_filling_one_header_exactly_is_not_split():
    limit = _single_limit(NAME, LAX, 86400)
    value = token_like(limit)
    assert chunk(NAME, value, LAX, 86400) == [(NAME, value)]
    (_, header), = _headers(NAME, value, LAX, 86400)
    assert len(header.encode("latin-1")) == MAX_SET_COOKIE


def test_one_byte_over_is_split():
    value = token_like(_single_limit(NAME, LAX, 86400) + 1)
    pairs = chunk(NAME, value, LAX, 86400)
    assert pairs is not None
    assert [n for n, _ in pairs] == [f"{NAME}.0", f"{NAME}.1"]


SIZES = [
    pytest.param(1, id="one-over"),
    pytest.param(MAX_SET_COOKIE, id="two-headers"),
    pytest.param(3 * MAX_SET_COOKIE, id="three-headers"),
    pytest.param(15_000, id="about-15k"),
]
NAMES = [
    pytest.param(NAME, id="default-name"),
    pytest.param("s", id="short-name"),
    pytest.param("n" * 64, id="long-name"),
]
AGES = [
    pytest.param(86400, id="session-age"),
    pytest.param(0, id="zero-age"),
    pytest.param(10 * 365 * 86400, id="ten-years"),
]


@pytest.mark.parametrize("extra", SIZES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("max_age", AGES)
def test_chunks_fit_and_join_back(extra, name, options, max_age):
    length = extra if extra > 1 else _single_limit(name, options, max_age) + 1
    value = token_like(length)
    pairs = chunk(name, value, options, max_age)
    if pairs is None:  # allowed only when it would need more than MAX_CHUNKS headers
        assert length > MAX_CHUNKS * (MAX_SET_COOKIE - len(options.set_cookie(name + ".0", "", max_age)[1]))
        return
    assert len(pairs) <= MAX_CHUNKS
    names = [n for n, _ in pairs]
    assert names == [f"{name}.{i}" for i in range(len(pairs))] or names == [name]
    for _, header in (options.set_cookie(n, v, max_age) for n, v in pairs):
        assert len(header.encode("latin-1")) <= MAX_SET_COOKIE
    assert "".join(v for _, v in pairs) == value
    cookie_header = "; ".join([OTHERS, *(f"{n}={v}" for n, v in reversed(pairs)), f"x{name}=nope"])
    assert join_chunks(name, read_cookies(cookie_header, name)) == value


def test_largest_chunked_value_fits_and_one_more_byte_is_refused():
    overhead = len(LAX.set_cookie(NAME + ".0", "", 86400)[1]) + 2
    largest = MAX_CHUNKS * (MAX_SET_COOKIE - overhead)
    pairs = chunk(NAME, token_like(largest), LAX, 86400)
    assert pairs is not None and len(pairs) == MAX_CHUNKS
    assert all(len(LAX.set_cookie(n, v, 86400)[1]) <= MAX_SET_COOKIE for n, v in pairs)
    assert chunk(NAME, token_like(largest + 1), LAX, 86400) is None


@pytest.mark.parametrize("length", [
    pytest.param(6 * MAX_SET_COOKIE, id="six-headers"),
    pytest.param(100_000, id="100k"),
])
def test_too_many_chunks_gives_none(length):
    assert chunk(NAME, token_like(length), LAX, 86400) is None


JOIN = [
    pytest.param({NAME: "whole"}, "whole", id="whole"),
    pytest.param({NAME: "whole", f"{NAME}.0": "x"}, "whole", id="whole-wins-over-chunks"),
    pytest.param({f"{NAME}.0": "a", f"{NAME}.1": "b", f"{NAME}.2": "c"}, "abc", id="contiguous-chunks"),
    pytest.param({f"{NAME}.1": "b", f"{NAME}.0": "a"}, "ab", id="chunks-out-of-order-in-dict"),
    pytest.param({f"{NAME}.0": "a", f"{NAME}.2": "c"}, "a", id="stops-at-gap"),
    pytest.param({f"{NAME}.1": "b", f"{NAME}.2": "c"}, None, id="no-chunk-zero"),
    pytest.param({}, None, id="empty"),
    pytest.param({f"{NAME}.0": ""}, None, id="empty-chunk-zero"),
    pytest.param({f"{NAME}.{i}": str(i) for i in range(MAX_CHUNKS + 2)},
                 "".join(str(i) for i in range(MAX_CHUNKS)), id="stops-at-max-chunks"),
    pytest.param({f"{NAME}.x": "x"}, None, id="non-numeric-chunk-ignored"),
]


@pytest.mark.parametrize(("found", "expected"), JOIN)
def test_join_chunks(found, expected):
    assert join_chunks(NAME, found) == expected


@pytest.mark.parametrize("header", [
    pytest.param("utm=a auth0_session=ATTACKER; auth0_session=REAL", id="after-a-space"),
    pytest.param("utm=a\tauth0_session=ATTACKER;auth0_session=REAL", id="after-a-tab"),
    pytest.param('pref="x auth0_session=ATTACKER"; auth0_session=REAL', id="inside-quotes"),
])
def test_our_name_inside_another_cookies_value_is_not_our_cookie(header):
    """A site that copies request data into a cookie value must not let an attacker plant a session."""
    assert read_cookies(header, "auth0_session") == {"auth0_session": "REAL"}
