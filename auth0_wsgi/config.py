"""The frozen configuration, built once at start-up from kwargs, ini strings and the environment.

Every option may come from the environment as ``AUTH0_<OPTION>``; an explicit value wins. All
validation happens here, before the first request, and each error names the option and the fix.
Nothing here touches the network: gunicorn forks after loading the app.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from . import client_auth, parsing
from .errors import ConfigError
from .logs import get_logger
from .paths import path_is_under as path_is_under  # re-exported: the filters import it from here
from .proxy import Network, parse_networks
from .sealing import b64encode

log = get_logger(__name__)

DEFAULT_SCOPE = "openid profile email offline_access"
MIN_SECRET_LENGTH = 32
SUPPORTED_AUTH_METHODS = ("client_secret_post", "client_secret_basic", "private_key_jwt")
SUPPORTED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "HS256")
# Parameters the middleware owns: letting authorization_params override them would break the flow.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"client_id", "redirect_uri", "response_type", "state", "nonce", "code_challenge",
     "code_challenge_method", "scope", "audience", "response_mode"}
)
TRANSACTION_COOKIE_PREFIX = "a0tx."
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9!#$&'*+\-.^_`|~]{1,64}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_SECRET_FIX = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class Config:
    """Every option, parsed and checked. Build it with :meth:`from_settings`."""

    issuer: str
    client_id: str
    base_url: str
    secret: tuple[str, ...] = field(repr=False)
    client_secret: str = field(default="", repr=False)
    client_private_key: str = field(default="", repr=False)
    client_private_key_id: str | None = None
    audience: str | None = None
    scope: str = DEFAULT_SCOPE
    authorization_params: Mapping[str, str] = field(default_factory=dict)
    login_path: str = "/login"
    callback_path: str = "/callback"
    logout_path: str = "/logout"
    post_logout_redirect: str = ""
    require_auth: bool = True
    public_paths: tuple[str, ...] = ()
    session_cookie_name: str = "auth0_session"
    session_rolling_duration: int = 86400
    session_absolute_duration: int = 604800
    cookie_secure: bool = True
    cookie_samesite: str = "Lax"
    clock_skew: int = 60
    http_timeout: float = 5.0
    token_endpoint_auth_method: str = "client_secret_post"
    id_token_signing_alg: str = "RS256"
    set_remote_user: bool = True
    refresh_leeway: int = 60
    refresh_lock_dir: str = field(default_factory=lambda: _default_lock_dir())
    session_store: str = field(default="cookie", repr=False)  # a Redis URL may hold a password
    backchannel_logout_path: str = "/backchannel-logout"
    revocation_store: str = field(default="file", repr=False)
    trusted_proxies: tuple[Network, ...] = ()
    session_cache_seconds: int = 0
    key_prefix: str = ""

    @property
    def namespace(self) -> str:
        """The prefix of every key this app writes to a shared store (Redis, the lock directory).

        Derived from the client id, so that two apps sharing one Redis never touch each other's
        sessions, locks or revocations; ``key_prefix`` separates apps that share a client id too.
        """
        digest = b64encode(hashlib.sha256(f"{self.client_id}\0{self.key_prefix}".encode()).digest()[:9])
        return f"auth0wsgi:{self.key_prefix}:{digest}:" if self.key_prefix else f"auth0wsgi:{digest}:"

    @property
    def redirect_uri(self) -> str:
        return self.base_url + self.callback_path

    @property
    def base_path(self) -> str:
        """The external path prefix of the app ('' at the root), for cookie paths and redirects."""
        return urlsplit(self.base_url).path

    @property
    def cookie_path(self) -> str:
        return self.base_path or "/"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None) -> Config:
        """Build from kwargs or ini values; missing options fall back to ``AUTH0_<OPTION>``."""
        return _build(dict(settings or {}), os.environ if environ is None else environ)


def _build(settings: dict[str, Any], environ: Mapping[str, str]) -> Config:
    refuse_unknown(settings, _PARSERS)
    merged = merge_environment(settings, environ, _PARSERS)
    values: dict[str, Any] = {"issuer": issuer_from_settings(merged)}
    for name, parse in _PARSERS.items():
        if name in merged:
            values[name] = parse_option(name, merged[name], parse, _FIXES)
        elif name in _REQUIRED:
            raise ConfigError(name, "is required", f"set it in the ini file, as a keyword argument, "
                              f"or in the environment as AUTH0_{name.upper()}")
    values["base_url"] = _base_url(values["base_url"])
    values.setdefault("cookie_secure", values["base_url"].startswith("https://"))
    values.setdefault("post_logout_redirect", values["base_url"] + "/")
    values["post_logout_redirect"] = _absolute(values["post_logout_redirect"], values["base_url"])
    config = Config(**values)
    _check_consistency(config)
    return config


def refuse_unknown(settings: Mapping[str, Any], options: Iterable[str], *, what: str = "an auth0-wsgi option",
                   reference: str = "see the configuration reference") -> None:
    """An unknown option refuses to start, with the closest known name as the hint."""
    known = sorted({*options, "domain", "issuer"})
    for name in settings:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else reference
            raise ConfigError(name, f"is not {what}", hint)


def merge_environment(settings: Mapping[str, Any], environ: Mapping[str, str],
                      names: Iterable[str]) -> dict[str, Any]:
    """Settings, completed from ``AUTH0_<NAME>``; an explicit domain or issuer beats both variables."""
    merged = {k: v for k, v in settings.items() if v is not None}
    explicit_issuer = "domain" in merged or "issuer" in merged
    for name in [*names, "domain", "issuer"]:
        if name in ("domain", "issuer") and explicit_issuer:
            continue  # an explicit domain or issuer beats both environment variables
        env_value = environ.get(f"AUTH0_{name.upper()}")
        if name not in merged and env_value not in (None, ""):
            merged[name] = env_value
    return merged


def parse_option(name: str, raw: Any, parse: Callable[[Any], Any], fixes: Mapping[str, str]) -> Any:
    """One option through its converter; a ValueError becomes an error naming the option and the fix."""
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(name, str(exc), fixes.get(name, "see the configuration reference")) from None


def issuer_from_settings(merged: Mapping[str, Any]) -> str:
    domain, issuer = merged.get("domain"), merged.get("issuer")
    if domain and issuer:
        raise ConfigError("domain", "is set together with 'issuer'", "set only one of them")
    if domain:
        host = parse_option("domain", domain, parsing.as_text, _FIXES)
        if "://" in host or "/" in host or not _HOSTNAME.match(host.split(":")[0]):
            raise ConfigError("domain", f"{host!r} is not a bare host name",
                              "write it like tenant.us.auth0.com (no https://, no path), or use 'issuer'")
        return f"https://{host}/"
    if issuer:
        url: str = parse_option("issuer", issuer, parsing.as_text, _FIXES)
        parts = _split("issuer", url)
        if parts.scheme not in ("https", "http") or not parts.hostname or "?" in url or "#" in url:
            raise ConfigError("issuer", f"{url!r} is not an absolute http(s) URL",
                              "write the provider's issuer exactly, e.g. https://tenant.us.auth0.com/")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ConfigError("issuer", "plain http is allowed only on loopback", "use https")
        return url
    raise ConfigError("domain", "is required (or 'issuer')",
                      "set domain = <tenant>.auth0.com, or issuer = <full issuer URL>, or AUTH0_DOMAIN")


def _base_url(url: str) -> str:
    parts = _split("base_url", url)
    if parts.scheme not in ("https", "http") or not parts.hostname or "?" in url or "#" in url:
        raise ConfigError("base_url", f"{url!r} is not an absolute http(s) URL without query",
                          "write the app's external URL, e.g. https://app.example.com")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        log.warning("base_url %s is plain http: session cookies are not marked Secure", url)
    return url.rstrip("/")


def _absolute(target: str, base_url: str) -> str:
    if target.startswith("/"):
        return base_url + target
    parts = _split("post_logout_redirect", target)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("post_logout_redirect", f"{target!r} is neither a path nor an absolute URL",
                          "use a path like / or an absolute https URL")
    return target


def _split(option: str, url: str) -> SplitResult:
    """urlsplit, whose ValueError (``http://[``, NFKC tricks) becomes an error naming the option."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
        return parts
    except ValueError as exc:
        raise ConfigError(option, f"{url!r} is not a valid URL ({exc})", "check the URL") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_consistency(config: Config) -> None:
    paths = {"login_path": config.login_path, "callback_path": config.callback_path,
             "logout_path": config.logout_path, "backchannel_logout_path": config.backchannel_logout_path}
    if len(set(paths.values())) != len(paths):
        raise ConfigError("login_path", "login_path, callback_path, logout_path and "
                          "backchannel_logout_path must differ", "give each route its own path")
    if "openid" not in config.scope.split():
        raise ConfigError("scope", "must contain 'openid'", f"for example: {DEFAULT_SCOPE}")
    if config.cookie_samesite == "None" and not config.cookie_secure:
        raise ConfigError("cookie_samesite", "None needs cookie_secure = true",
                          "use Lax, or serve the app over https")
    name = config.session_cookie_name
    if TRANSACTION_COOKIE_PREFIX.startswith(name) or name.startswith(TRANSACTION_COOKIE_PREFIX):
        raise ConfigError("session_cookie_name", f"{name!r} collides with the login cookies "
                          f"({TRANSACTION_COOKIE_PREFIX}*)", "choose another name, e.g. auth0_session")
    _check_client_authentication(config)
    if config.id_token_signing_alg == "HS256" and len(config.client_secret) < 32:
        raise ConfigError("id_token_signing_alg", "HS256 needs a client secret of 32+ characters",
                          "use RS256 (Auth0's default) or a longer client secret")


def _default_lock_dir() -> str:
    """Per user, so that two users' apps on one host never share it. In the shared temp directory
    another user may create it first (or plant a symlink there): the store refuses to start on a
    directory that is not ours alone (``lockdir``), and the operator sets another."""
    return os.path.join(tempfile.gettempdir(), f"auth0-wsgi-{os.geteuid()}")


def _directory(value: Any) -> str:
    """An absolute path; whether it is a directory we may use is checked when the store is built."""
    text = parsing.as_text(value)
    if not os.path.isabs(text):
        raise ValueError(f"{text!r} is not an absolute directory path")
    return os.path.normpath(text)


def _check_client_authentication(config: Config) -> None:
    how = "in the ini file, as a keyword argument, or in the environment as AUTH0_"
    if config.token_endpoint_auth_method == "private_key_jwt":
        if not config.client_private_key:
            raise ConfigError("client_private_key", "is required with private_key_jwt",
                              f"give the PEM (or its file's absolute path) {how}CLIENT_PRIVATE_KEY")
    elif not config.client_secret:
        raise ConfigError("client_secret", "is required", f"set it {how}CLIENT_SECRET")


def _private_key(value: Any) -> str:
    text = parsing.as_text(value)
    client_auth.load_private_key(text)  # refuse at start-up what could not sign later
    return text


def _store_url(value: Any, words: tuple[str, ...]) -> str:
    text = parsing.as_text(value)
    if text.lower() in words:
        return text.lower()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise ValueError(f"{_redact(text)!r} is not a valid URL") from None
    if parts.scheme in ("redis", "rediss", "unix") and (parts.hostname or parts.path):
        return text
    raise ValueError(f"{_redact(text)!r} is not {', '.join(words)} or a redis:// / rediss:// URL")


def _redact(url: str) -> str:
    """A Redis URL may carry a password: never echo it in an error."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def _path(value: Any) -> str:
    text = parsing.as_text(value)
    if not text.startswith("/") or text.startswith("//") or any(c in text for c in "?#\\ \t"):
        raise ValueError(f"{text!r} is not an absolute path like /login")
    return text.rstrip("/") or "/"


def parse_paths(value: Any) -> tuple[str, ...]:
    return tuple(_path(p) for p in parsing.as_words(value))


def _secrets(value: Any) -> tuple[str, ...]:
    keys = parsing.as_words(value)
    if not keys:
        raise ValueError("is empty")
    for key in keys:
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"each secret needs at least {MIN_SECRET_LENGTH} characters")
    return keys


def _required_text(value: Any) -> str:
    text = parsing.as_text(value)
    if not text:
        raise ValueError("is empty")
    return text


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = parsing.as_text(value)
        for choice in choices:
            if text.lower() == choice.lower():
                return choice
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return parse


def _scope(value: Any) -> str:
    return " ".join(dict.fromkeys(parsing.as_words(value)))


def _authorize_params(value: Any) -> dict[str, str]:
    params = parsing.as_params(value)
    clash = sorted(RESERVED_AUTHORIZE_PARAMS & set(params))
    if clash:
        raise ValueError(f"{', '.join(clash)} cannot be overridden here")
    return params


def _cookie_name(value: Any) -> str:
    text = parsing.as_text(value)
    if not _COOKIE_NAME.match(text):
        raise ValueError(f"{text!r} is not a valid cookie name")
    return text


def _key_prefix(value: Any) -> str:
    text = parsing.as_text(value)
    if text and not _KEY_PREFIX.match(text):
        raise ValueError(f"{text!r} is not 1-64 letters, digits, '_', '.' or '-'")
    return text


def _seconds(minimum: int, maximum: int) -> Callable[[Any], int]:
    return lambda value: parsing.as_int(value, minimum=minimum, maximum=maximum)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "client_id": _required_text,
    "client_secret": _required_text,
    "client_private_key": _private_key,
    "client_private_key_id": lambda v: parsing.as_text(v) or None,
    "base_url": _required_text,
    "secret": _secrets,
    "audience": lambda v: parsing.as_text(v) or None,
    "scope": _scope,
    "authorization_params": _authorize_params,
    "login_path": _path,
    "callback_path": _path,
    "logout_path": _path,
    "post_logout_redirect": parsing.as_text,
    "require_auth": parsing.as_bool,
    "public_paths": parse_paths,
    "session_cookie_name": _cookie_name,
    "session_rolling_duration": _seconds(60, 10 * 365 * 86400),
    "session_absolute_duration": _seconds(60, 10 * 365 * 86400),
    "cookie_secure": parsing.as_bool,
    "cookie_samesite": _choice("Lax", "Strict", "None"),
    "clock_skew": _seconds(0, 600),
    "http_timeout": lambda v: parsing.as_float(v, minimum=0.1, maximum=120),
    "token_endpoint_auth_method": _choice(*SUPPORTED_AUTH_METHODS),
    "id_token_signing_alg": _choice(*SUPPORTED_ID_TOKEN_ALGS),
    "set_remote_user": parsing.as_bool,
    "refresh_leeway": _seconds(0, 3600),
    "refresh_lock_dir": _directory,
    "session_store": lambda v: _store_url(v, ("cookie", "memory")),
    "backchannel_logout_path": _path,
    "revocation_store": lambda v: _store_url(v, ("file", "memory")),
    "trusted_proxies": lambda v: parse_networks(parsing.as_words(v)),
    "session_cache_seconds": _seconds(0, 60),
    "key_prefix": _key_prefix,
}
_REQUIRED = ("client_id", "base_url", "secret")
_FIXES = {
    "require_auth": "use true or false",
    "cookie_secure": "use true or false",
    "set_remote_user": "use true or false",
    "secret": _SECRET_FIX,
    "client_private_key": "give an RSA or EC private key in PEM, or the absolute path of its file",
    "authorization_params": "write key=value pairs separated by spaces, e.g. prompt=login",
    "public_paths": "write absolute paths separated by spaces, e.g. /static /health",
    "session_store": "use cookie, memory, or redis://host:6379/0",
    "revocation_store": "use file (every worker of this host), memory (this process only) or "
                        "redis://host:6379/0 (several hosts)",
    "refresh_lock_dir": "give the absolute path of a directory only this user can write to, "
                        "e.g. /var/lib/myapp/auth0",
    "key_prefix": "use a short name for this app, e.g. billing",
    "trusted_proxies": "list your proxies' addresses or networks, e.g. 10.0.0.0/8 127.0.0.1",
}
