"""What the tests send as a browser or an API client, and how they read URLs and cookies back."""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl, urlsplit

# The two kinds of client the middleware tells apart by ``Accept``: a browser gets pages and is
# sent to /login; an API client gets JSON errors and a 401.
HTML = {"Accept": "text/html"}
JSON = {"Accept": "application/json"}


def query(url: str) -> dict[str, str]:
    """Every parameter of ``url``'s query, blank ones included (a repeated name: the last wins)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def query_of(url: str) -> dict[str, str]:
    """The parameters of ``url``'s query with a value (a repeated name: the first wins)."""
    return {k: v[0] for k, v in parse_qs(url.split("?", 1)[1]).items()} if "?" in url else {}


def cookie_header(cookies: dict[str, str] | list[tuple[str, str]]) -> str:
    """A ``Cookie`` request header holding ``cookies`` in order."""
    items = cookies.items() if isinstance(cookies, dict) else cookies
    return "; ".join(f"{name}={value}" for name, value in items)
