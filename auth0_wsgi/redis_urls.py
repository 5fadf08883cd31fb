"""Redis URLs: one node, a Sentinel set or a Cluster, parsed once at start-up (no redis-py here).

| URL | meaning |
|---|---|
| ``redis://[:password@]host:port/db``, ``rediss://…``, ``unix://…`` | one node (redis-py's own URL) |
| ``redis+sentinel://[:password@]host:port[,host:port…]/service_name[/db]`` | the master of
  ``service_name``, found (and re-found after a failover) through the listed sentinels |
| ``redis+cluster://[:password@]host:port[,host:port…]`` | a Redis Cluster; the nodes are seeds |
| ``rediss+sentinel://…``, ``rediss+cluster://…`` | the same over TLS |

The password is the data nodes' (the master's, the cluster's): sentinels are asked without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

SINGLE_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
DEFAULT_PORTS = {"sentinel": 26379, "cluster": 6379}


@dataclass(frozen=True)
class RedisTarget:
    """What a ``redis+sentinel://`` or ``redis+cluster://`` URL names."""

    kind: str  # "sentinel" or "cluster"
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    service: str = ""  # sentinel only: the monitored master's name
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """For the operator's log: kind, hosts and service, never the password."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        if self.kind == "sentinel":
            return f"sentinel {self.service} via {hosts}/{self.db}"
        return f"cluster {hosts}"


def is_multi_node(url: str) -> bool:
    return url.partition("://")[0].lower() in SENTINEL_SCHEMES + CLUSTER_SCHEMES


def parse(url: str) -> RedisTarget:
    """A Sentinel or Cluster URL, checked; ``ValueError`` says what is wrong (never the password)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        raise ValueError(f"{redact(url)!r} is not a redis+sentinel:// or redis+cluster:// URL")
    kind = "sentinel" if scheme in SENTINEL_SCHEMES else "cluster"
    userinfo, at, after = rest.rpartition("@")
    if "?" in after or "#" in after:  # not a service name nor a host: a password there would be logged
        raise ValueError(f"{redact(url)!r}: a Sentinel or Cluster URL takes no ?query; write the password "
                         "before the hosts (:password@host:port)")
    netloc, _, path = after.partition("/")
    username, password = _credentials(userinfo) if at else (None, None)
    hosts = tuple(_host(part, DEFAULT_PORTS[kind], url) for part in netloc.split(",") if part.strip())
    if not hosts:
        raise ValueError(f"{redact(url)!r} names no host:port")
    segments = [s for s in path.split("/") if s]
    if kind == "cluster":
        if segments:  # a cluster has database 0 only
            raise ValueError(f"{redact(url)!r}: a Cluster URL has no path (a cluster has database 0 only)")
        return RedisTarget(kind, scheme.startswith("rediss"), hosts, username=username, password=password)
    if not segments:
        raise ValueError(f"{redact(url)!r} names no service (the master's name after the hosts: /mymaster)")
    if len(segments) > 2 or (len(segments) == 2 and not segments[1].isdigit()):
        raise ValueError(f"{redact(url)!r}: after the service name only a database number may follow")
    db = int(segments[1]) if len(segments) == 2 else 0
    return RedisTarget(kind, scheme.startswith("rediss"), hosts, unquote(segments[0]), db, username, password)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    if not colon:  # as redis-py reads redis://name@host: a user name without a password
        return unquote(user) or None, None
    return unquote(user) or None, unquote(password) or None


def _host(part: str, default_port: int, url: str) -> tuple[str, int]:
    part = part.strip()
    if part.startswith("["):  # [IPv6]:port
        host, _, tail = part[1:].partition("]")
        port_text = tail.removeprefix(":")
    else:
        host, _, port_text = part.partition(":")
    if not host:
        raise ValueError(f"{redact(url)!r}: {part!r} has no host name")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{redact(url)!r}: {port_text!r} is not a port number (1-65535)")
    return host, int(port_text)


def redact(url: str) -> str:
    """A Redis URL may carry a password (in any of its forms): never echo it. Before the ``@``,
    and in the query, where redis-py also reads ``?password=`` (and ``?ssl_password=``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:  # redis:password@host, the slashes forgotten
        scheme, sep, rest = url.partition(":")
    userinfo, at, after = rest.rpartition("@")
    if sep and at:  # first: an unencoded "?" in the password must not look like a query
        user, colon, _ = userinfo.partition(":")
        # redis://word@host: a user name, but people put passwords there
        rest = f"{user}:***@{after}" if colon else f"***@{after}"
    path, question, query = rest.partition("?")
    if question:
        rest = path + "?" + "&".join(
            f"{name}=***" if is_password_argument(name) else f"{name}{equals}{value}"
            for name, equals, value in (argument.partition("=") for argument in query.split("&")))
    return f"{scheme}{sep}{rest}"


def is_password_argument(name: str) -> bool:
    """``password``, ``ssl_password``, however written (``Pass%77ord``)."""
    return "password" in unquote(name).lower()


def query_passwords(url: str) -> list[str]:
    """The values of a Redis URL's password arguments, decoded (what redis-py would use)."""
    _, _, query = url.partition("?")
    return [unquote(value) for name, _, value in (argument.partition("=") for argument in query.split("&"))
            if value and is_password_argument(name)]
