"""safe_return_path: same-origin relative paths survive, every open-redirect trick becomes the default."""

from __future__ import annotations

import string
from urllib.parse import unquote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from auth0_wsgi.returnpath import MAX_RETURN_PATH, safe_return_path

SAFE = [
    ("root", "/"),
    ("nested-with-query", "/a/b?x=1&y=%20"),
    ("colon-in-first-segment", "/a:b"),
    ("plain-path", "/reports/7"),
    ("encoded-slash-inside-path", "/a%2Fb"),
    ("trailing-slash", "/a/"),
    ("query-only", "/?next=1"),
    ("exactly-max-length", "/" + "a" * (MAX_RETURN_PATH - 1)),
]


@pytest.mark.parametrize("path", [s[1] for s in SAFE], ids=[s[0] for s in SAFE])
def test_safe_path_is_kept(path):
    assert safe_return_path(path) == path
    assert safe_return_path(path, default="/home") == path


UNSAFE = [
    ("protocol-relative", "//evil.com"),
    ("protocol-relative-with-path", "//evil.com/a"),
    ("slash-backslash", "/\\evil.com"),
    ("double-backslash", "\\\\evil.com"),
    ("encoded-tab", "/%09/evil.com"),
    ("raw-tab", "/\t/evil.com"),
    ("encoded-slash", "/%2F/evil.com"),
    ("encoded-slash-lowercase", "/%2f/evil.com"),
    ("encoded-backslash", "/%5Cevil.com"),
    ("double-encoded-slashes", "/%252F%252Fevil.com"),
    ("triple-encoded-slashes", "/%25252F%25252Fevil.com"),
    ("scheme-without-slashes", "https:evil.com"),
    ("absolute-url", "https://evil.com"),
    ("javascript", "javascript:alert(1)"),
    ("bare-host", "evil.com"),
    ("empty", ""),
    ("None", None),
    ("int", 42),
    ("bytes", b"/a"),
    ("newline", "/a\nb"),
    ("header-injection", "/a\r\nSet-Cookie:x"),
    ("encoded-crlf", "/a%0d%0aSet-Cookie:x"),
    ("nul", "/a\x00"),
    ("del", "/a\x7f"),
    ("too-long", "/" + "a" * MAX_RETURN_PATH),
    ("fragment", "/#frag"),
    ("encoded-fragment", "/a%23frag"),
    ("relative-dot", "./a"),
    ("leading-space", " /a"),
]


@pytest.mark.parametrize("value", [u[1] for u in UNSAFE], ids=[u[0] for u in UNSAFE])
def test_unsafe_value_becomes_default(value):
    assert safe_return_path(value) == "/"
    assert safe_return_path(value, default="/home") == "/home"


_CONTROL = {chr(c) for c in range(0x20)} | {"\x7f"}


def _local(path: str) -> bool:
    return (path.startswith("/") and not path.startswith("//") and "\\" not in path and "#" not in path
            and not any(ch in _CONTROL for ch in path))


def _acceptable(result: str) -> bool:
    """Safe as given and after each of the decodings a proxy might do."""
    decoded = [result]
    for _ in range(3):
        decoded.append(unquote(decoded[-1]))
    return len(result) <= MAX_RETURN_PATH and all(_local(d) for d in decoded)


_URLISH = st.text(alphabet=string.ascii_letters + "/\\:%.?#&=@\t\r\n 0123456789" + "2F5C09", max_size=40)


@given(st.one_of(st.text(), _URLISH, st.builds(lambda s: "/" + s, st.text()),
                 st.builds(lambda s: "/" + s, _URLISH)))
@example("/%252F%252Fevil.com")
@example("/\x00")
def test_result_is_default_or_a_safe_path(value):
    default = "DEFAULT"
    result = safe_return_path(value, default=default)
    assert result == default or (unquote(result) == unquote(value) and _acceptable(result))
    assert result.isascii()  # it goes into a Location header, which is Latin-1 only


def test_non_ascii_is_kept_percent_encoded_as_utf8():
    assert safe_return_path("/caf\u00e9?q=\u4e2d") == "/caf%C3%A9?q=%E4%B8%AD"
    assert safe_return_path("/already%20encoded") == "/already%20encoded"


@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_non_text_gives_default(value):
    assert safe_return_path(value) == "/"
