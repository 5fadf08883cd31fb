"""safe_return_path: same-origin relative paths survive, every open-redirect trick becomes the default."""

from __future__ import annotations

import string
from urllib.parse import unquote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from auth0_wsgi.returnpath import MAX_RETURN_PATH, safe_return_path

SAFE = [
    pytest.param("/", id="root"),
    pytest.param("/a/b?x=1&y=%20", id="nested-with-query"),
    pytest.param("/a:b", id="colon-in-first-segment"),
    pytest.param("/reports/7", id="plain-path"),
    pytest.param("/a%2Fb", id="encoded-slash-inside-path"),
    pytest.param("/a/", id="trailing-slash"),
    pytest.param("/?next=1", id="query-only"),
    pytest.param("/" + "a" * (MAX_RETURN_PATH - 1), id="exactly-max-length"),
]


@pytest.mark.parametrize("path", SAFE)
def test_safe_path_is_kept(path):
    assert safe_return_path(path) == path
    assert safe_return_path(path, default="/home") == path


UNSAFE = [
    pytest.param("//evil.com", id="protocol-relative"),
    pytest.param("//evil.com/a", id="protocol-relative-with-path"),
    pytest.param("/\\evil.com", id="slash-backslash"),
    pytest.param("\\\\evil.com", id="double-backslash"),
    pytest.param("/%09/evil.com", id="encoded-tab"),
    pytest.param("/\t/evil.com", id="raw-tab"),
    pytest.param("/%2F/evil.com", id="encoded-slash"),
    pytest.param("/%2f/evil.com", id="encoded-slash-lowercase"),
    pytest.param("/%5Cevil.com", id="encoded-backslash"),
    pytest.param("/%252F%252Fevil.com", id="double-encoded-slashes"),
    pytest.param("/%25252F%25252Fevil.com", id="triple-encoded-slashes"),
    pytest.param("https:evil.com", id="scheme-without-slashes"),
    pytest.param("https://evil.com", id="absolute-url"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("evil.com", id="bare-host"),
    pytest.param("", id="empty"),
    pytest.param(None, id="None"),
    pytest.param(42, id="int"),
    pytest.param(b"/a", id="bytes"),
    pytest.param("/a\nb", id="newline"),
    pytest.param("/a\r\nSet-Cookie:x", id="header-injection"),
    pytest.param("/a%0d%0aSet-Cookie:x", id="encoded-crlf"),
    pytest.param("/a\x00", id="nul"),
    pytest.param("/a\x7f", id="del"),
    pytest.param("/" + "a" * MAX_RETURN_PATH, id="too-long"),
    pytest.param("/#frag", id="fragment"),
    pytest.param("/a%23frag", id="encoded-fragment"),
    pytest.param("./a", id="relative-dot"),
    pytest.param(" /a", id="leading-space"),
]


@pytest.mark.parametrize("value", UNSAFE)
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
