"""``X-Forwarded-*`` from proxies you trust, and from nobody else (opt-in: ``trusted_proxies``).

A client can send any header it likes; only a request whose immediate peer (``REMOTE_ADDR``) is a
listed proxy may tell the app its scheme, host, prefix and the client's address. The middleware
itself never needs them (every URL it makes starts from ``base_url``); they are applied for the
wrapped app, which builds its own links from ``wsgi.url_scheme``, ``HTTP_HOST`` and ``SCRIPT_NAME``.
The original values stay in ``environ["auth0_wsgi.proxy.orig"]``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .logs import get_logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

log = get_logger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ORIGINAL = "auth0_wsgi.proxy.orig"


def parse_networks(words: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.1 10.1.0.0/16 ::1`` → networks; raises ValueError naming the bad entry."""
    networks = []
    for word in words:
        try:
            networks.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            raise ValueError(f"{word!r} is not an IP address or network") from None
    return tuple(networks)


class ProxyHeaders:
    def __init__(self, trusted: tuple[Network, ...]) -> None:
        self.trusted = trusted

    def apply(self, environ: WSGIEnvironment) -> None:
        if not self._is_trusted(environ.get("REMOTE_ADDR", "")):
            return
        environ[ORIGINAL] = {k: environ.get(k) for k in
                             ("wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME", "REMOTE_ADDR")}
        proto = _last(environ.get("HTTP_X_FORWARDED_PROTO")).lower()
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        host = _last(environ.get("HTTP_X_FORWARDED_HOST"))
        if host and all(c.isalnum() or c in ".-:[]" for c in host):
            environ["HTTP_HOST"] = host
        prefix = _last(environ.get("HTTP_X_FORWARDED_PREFIX")).rstrip("/")
        if prefix.startswith("/") and not prefix.startswith("//") and "\\" not in prefix:
            environ["SCRIPT_NAME"] = prefix + environ.get("SCRIPT_NAME", "")
        client = self._client_address(environ.get("HTTP_X_FORWARDED_FOR", ""))
        if client:
            environ["REMOTE_ADDR"] = client

    def _client_address(self, forwarded_for: str) -> str | None:
        """The rightmost address that is not one of our proxies: the left part is the client's word."""
        for address in reversed([a.strip() for a in forwarded_for.split(",") if a.strip()]):
            if not self._is_trusted(address):
                return address if _is_ip(address) else None
        return None

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)


def _last(value: str | None) -> str:
    """The value the nearest proxy appended (proxies append to lists)."""
    return value.split(",")[-1].strip() if value else ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
