"""Reflected input on error pages: escaped in HTML, exact and inert in JSON, never in a header.

tests/test_callback_rejections.py checks one ``<script>`` payload; this is the table of XSS shapes,
checked structurally: the HTML error page holds exactly the elements and attributes it always holds.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from tests.security.conftest import HTML, JSON, middleware, wsgi_call

PAYLOADS = [
    ("script-tag", "<script>alert(1)</script>"),
    ("attribute-breakout-double-quote", '"><img src=x onerror=alert(1)>'),
    ("attribute-breakout-single-quote", "'><svg onload=alert(1)>"),
    ("close-the-page", "</p></body></html><script>alert(1)</script>"),
    ("entity-that-must-stay-literal", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("javascript-url-text", "javascript:alert(1)"),
    ("anchor", '<a href="https://evil.com">Click to continue</a>'),
    ("template-injection", "{{7*7}} ${7*7} <%= 7*7 %>"),
    ("json-breakout", '"}, "error": "none", "x": {"'),
    ("script-close-in-json", "</script><script>alert(1)</script>"),
    ("line-separators", "a\u2028b\u2029c"),
    ("crlf-header-injection", "x\r\nSet-Cookie: evil=1\r\nLocation: https://evil.com"),
    ("nul-and-controls", "a\x00b\x1bc"),
    ("non-ascii", "é 文 😀"),
]
# The page's fixed skeleton: anything else was injected.
PAGE_TAGS = {"html", "head", "meta", "title", "body", "h1", "p", "small", "code", "a"}
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


def _ids(table):
    return [row[0] for row in table]


@pytest.mark.parametrize("payload", [row[1] for row in PAYLOADS], ids=_ids(PAYLOADS))
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


@pytest.mark.parametrize("payload", [row[1] for row in PAYLOADS], ids=_ids(PAYLOADS))
def test_reflected_error_description_is_exact_and_inert_in_json(fake, payload):
    result = _callback_error(fake, payload, JSON)
    assert result.header("Content-Type").startswith("application/json")
    assert result.header("X-Content-Type-Options") == "nosniff"
    body = result.json  # valid JSON whatever the payload
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "access_denied"
    assert payload in body["error_description"]
    _no_header_carries(result, payload)


@pytest.mark.parametrize("error", ["<script>alert(1)</script>", "access_denied\r\nX: y", "x" * 500])
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
