"""Reflected input on error pages: escaped in HTML, exact and inert in JSON, never in a header.

tests/test_callback_rejections.py checks one ``<script>`` payload; this is the table of XSS shapes,
checked structurally: the HTML error page holds exactly the elements and attributes it always holds.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from tests.support.flows import middleware
from tests.support.http import HTML, JSON
from tests.support.wsgi import wsgi_call

PAYLOADS = [
    pytest.param("<script>alert(1)</script>", id="script-tag"),
    pytest.param('"><img src=x onerror=alert(1)>', id="attribute-breakout-double-quote"),
    pytest.param("'><svg onload=alert(1)>", id="attribute-breakout-single-quote"),
    pytest.param("</p></body></html><script>alert(1)</script>", id="close-the-page"),
    pytest.param("&lt;script&gt;alert(1)&lt;/script&gt;", id="entity-that-must-stay-literal"),
    pytest.param("javascript:alert(1)", id="javascript-url-text"),
    pytest.param('<a href="https://evil.com">Click to continue</a>', id="anchor"),
    pytest.param("{{7*7}} ${7*7} <%= 7*7 %>", id="template-injection"),
    pytest.param('"}, "error": "none", "x": {"', id="json-breakout"),
    pytest.param("</script><script>alert(1)</script>", id="script-close-in-json"),
    pytest.param("a\u2028b\u2029c", id="line-separators"),
    pytest.param("x\r\nSet-Cookie: evil=1\r\nLocation: https://evil.com", id="crlf-header-injection"),
    pytest.param("a\x00b\x1bc", id="nul-and-controls"),
    pytest.param("é 文 😀", id="non-ascii"),
]
# The page's fixed skeleton: anything else was injected.
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "p", "small", "code", "a"}
PAGE_ATTRIBUTES = {"lang", "charset", "name", "content", "href"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend(attrs)


def _callback_error(fake, description: str, accept: dict[str, str]):
    qs = urlencode({"error": "access_denied", "error_description": description, "state": "s"})
    result = wsgi_call(middleware(fake), "/callback", qs, headers=accept)
    assert result.status == 400, result.escaped or result.text
    return result


@pytest.mark.parametrize("payload", PAYLOADS)
def test_reflected_error_description_is_escaped_in_html(fake, payload):
    result = _callback_error(fake, payload, HTML)
    assert result.header("Content-Type").startswith("text/html")
    assert result.header("X-Content-Type-Options") == "nosniff"
    parser = _Elements()
    parser.feed(result.text)
    assert parser.tags <= PAGE_TAGS, f"injected elements: {parser.tags - PAGE_TAGS}"
    assert {name for name, _ in parser.attributes} <= PAGE_ATTRIBUTES
    assert [value for name, value in parser.attributes if name == "href"] == ["http://app.test/login"]
    # It is shown (escaped), not silently dropped: the user sees what the provider said.
    assert payload in html.unescape(result.text)
    _no_header_carries(result, payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_reflected_error_description_is_exact_and_inert_in_json(fake, payload):
    result = _callback_error(fake, payload, JSON)
    assert result.header("Content-Type").startswith("application/json")
    assert result.header("X-Content-Type-Options") == "nosniff"
    body = result.json  # valid JSON whatever the payload
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "access_denied"
    assert payload in body["error_description"]
    _no_header_carries(result, payload)


@pytest.mark.parametrize("error", [
    pytest.param("<script>alert(1)</script>", id="script-tag"),
    pytest.param("access_denied\r\nX: y", id="header-injection"),
    pytest.param("x" * 500, id="500-characters"),
])
def test_unknown_provider_error_code_is_not_reflected_as_the_code(fake, error):
    qs = urlencode({"error": error, "state": "s"})
    result = wsgi_call(middleware(fake), "/callback", qs, headers=JSON)
    assert result.status == 400
    assert result.json["error"] == "authorization_error"


def _no_header_carries(result, payload: str) -> None:
    needle = payload.strip()[:8]
    for name, value in result.headers:
        assert needle not in value, f"{name} reflects the input"
        assert "evil" not in value.lower()
