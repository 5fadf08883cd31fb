"""The frozen configuration of the login filter, its defaults and its consistency checks.

Built once at start-up by :meth:`Config.from_settings` from kwargs, ini strings and the environment
(``AUTH0_<OPTION>``; an explicit value wins) through the option pipeline of :mod:`options`. All
validation happens before the first request, and each error names the option and the fix. Nothing
here touches the network: gunicorn forks after loading the app.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import options
from .errorpage import ErrorTemplate
from .errors import ConfigError
from .logs import get_logger
from .paths import path_is_under
from .proxy import Network
from .sealing import b64encode
from .stepup import StepUpRule
from .transaction import TRANSACTION_COOKIE_PREFIX

Hook = Callable[..., Any]  # on_login, on_logout, on_refresh: see hooks.py

log = get_logger(__name__)

DEFAULT_SCOPE = "openid profile email offline_access"
COOKIE_APIS = 2  # other APIs' Auth0-sized tokens that fit one session cookie (README, "Several APIs")


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
    additional_audiences: tuple[str, ...] = ()
    scope: str = DEFAULT_SCOPE
    authorization_params: Mapping[str, str] = field(default_factory=dict)
    login_path: str = "/login"
    callback_path: str = "/callback"
    logout_path: str = "/logout"
    post_logout_redirect: str = ""
    require_auth: bool = True
    public_paths: tuple[str, ...] = ()
    step_up: tuple[StepUpRule, ...] = ()
    organization: str | None = None
    on_login: Hook | None = None
    on_logout: Hook | None = None
    on_refresh: Hook | None = None
    session_claims: tuple[str, ...] = ()  # empty: every claim of the ID token is kept
    fetch_userinfo: bool = False
    attempt_silent_login: bool = False
    pushed_authorization_requests: str = "auto"
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
    session_cache_seconds: int = 0  # deprecated: session_cache = tracking serves the same need
    session_cache: str = "tracking"
    key_prefix: str = ""
    allow_insecure_base_url: bool = False
    debug: bool = False
    error_template: ErrorTemplate | None = None

    @property
    def namespace(self) -> str:
        """The prefix of every key this app writes to a shared store (Redis, the lock directory).

        Derived from the client id, so that two apps sharing one Redis never touch each other's
        sessions, locks or revocations; ``key_prefix`` separates apps that share a client id too.
        """
        return namespace_of(self.client_id, self.key_prefix)

    @property
    def routes(self) -> dict[str, str]:
        """The paths the middleware answers itself, by route name (each ``<name>_path`` option).

        Declared here once: the middleware maps each name to its handler, and :func:`_check_consistency`
        refuses two routes on one path.
        """
        return {"login": self.login_path, "callback": self.callback_path, "logout": self.logout_path,
                "backchannel_logout": self.backchannel_logout_path}

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
    values = options.read(options.LOGIN, settings, environ)
    values["base_url"] = _base_url(values["base_url"], values.get("allow_insecure_base_url", False))
    values.setdefault("cookie_secure", values["base_url"].startswith("https://"))
    values.setdefault("post_logout_redirect", values["base_url"] + "/")
    values["post_logout_redirect"] = _absolute(values["post_logout_redirect"], values["base_url"])
    values["organization"] = _organization(values)
    config = Config(**values)
    _check_consistency(config)
    _warn_about_silent_limits(config, audience_given="audience" in values)
    return config


def _organization(values: dict[str, Any]) -> str | None:
    """``organization``, or the one ``authorization_params`` names (how it was set before the option)."""
    option, param = values.get("organization"), values.get("authorization_params", {}).get("organization")
    if option and param and option != param:
        raise ConfigError("organization", f"is {option!r} while authorization_params names {param!r}",
                          "set it in one place: organization = <id or name>")
    return option or param or None


def _base_url(url: str, allow_insecure: bool) -> str:
    parts = options.split_url("base_url", url)
    if parts.scheme not in ("https", "http") or not parts.hostname or "?" in url or "#" in url:
        raise ConfigError("base_url", f"{url!r} is not an absolute http(s) URL without query",
                          "write the app's external URL, e.g. https://app.example.com")
    if parts.scheme == "http" and not options.is_loopback(parts.hostname):
        if not allow_insecure:
            raise ConfigError(
                "base_url", f"{url!r} is plain http on a host that is not loopback: session cookies would "
                "travel unencrypted", "write the https URL users open (https also when TLS ends at a proxy "
                "in front of the app), or set allow_insecure_base_url = true on a network you trust")
        log.warning("base_url %s is plain http (allow_insecure_base_url = true): session cookies are "
                    "not marked Secure and travel unencrypted", url)
    return url.rstrip("/")


def _warn_about_silent_limits(config: Config, audience_given: bool) -> None:
    """What works at the first login and fails later, said at start-up. An ``audience`` left empty
    on purpose (``audience =``) says the app calls no API: no warning then."""
    if config.audience is None and not audience_given:
        log.warning("audience is not set: Auth0 then issues an access token for its /userinfo endpoint "
                    "only, which your API cannot verify (its calls get 401). Set audience = <your API's "
                    "identifier> (Auth0 dashboard: Applications > APIs); if this app calls no API, set "
                    "audience to nothing (audience =) to say so")
    if config.session_store == "cookie" and len(config.additional_audiences) > COOKIE_APIS:
        log.warning("additional_audiences lists %d APIs with the cookie store: each API's token rides in "
                    "the session cookie, and more than %d split it over several cookies (past 7, the "
                    "Cookie header outgrows gunicorn's default limit). Use session_store = redis://…",
                    len(config.additional_audiences), COOKIE_APIS)
    if config.attempt_silent_login and config.require_auth and not config.public_paths:
        log.warning("attempt_silent_login = true has no effect: it signs in quietly on public pages, and "
                    "every page needs a login here (require_auth = true, no public_paths), where the "
                    "normal login is already silent while the user's Auth0 session lasts")
    if "offline_access" not in config.scope.split():
        log.warning("scope %r has no offline_access: Auth0 issues no refresh token, so sessions cannot "
                    "refresh. When the access token expires, page loads go through Auth0 again "
                    "(silently while its own session lasts) and XHR and POST requests get 401. Add "
                    "offline_access to scope", config.scope)


def _absolute(target: str, base_url: str) -> str:
    if target.startswith("/"):
        return base_url + target
    parts = options.split_url("post_logout_redirect", target)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("post_logout_redirect", f"{target!r} is neither a path nor an absolute URL",
                          "use a path like / or an absolute https URL")
    return target


def _check_consistency(config: Config) -> None:
    routes = config.routes
    if len(set(routes.values())) != len(routes):
        *first, last = (f"{name}_path" for name in routes)
        raise ConfigError(first[0], f"{', '.join(first)} and {last} must differ",
                          "give each route its own path")
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
    _check_audiences(config)
    _check_step_up(config)
    _check_hooks(config)
    if config.id_token_signing_alg == "HS256" and len(config.client_secret) < 32:
        raise ConfigError("id_token_signing_alg", "HS256 needs a client secret of 32+ characters",
                          "use RS256 (Auth0's default) or a longer client secret")


def _check_audiences(config: Config) -> None:
    """Other APIs are reached with the login's refresh token (MRRT): it needs a primary audience
    to log in with, and ``offline_access`` for the refresh token."""
    if not config.additional_audiences:
        return
    if not config.audience:
        raise ConfigError("additional_audiences", "needs 'audience' (the API the login is for)",
                          "set audience = <your main API's identifier>")
    if "offline_access" not in config.scope.split():
        raise ConfigError("additional_audiences", "needs a refresh token: scope lacks offline_access",
                          "add offline_access to scope")
    if config.audience in config.additional_audiences:
        raise ConfigError("additional_audiences", f"repeats audience {config.audience!r}",
                          "list only the other APIs here")


def _check_step_up(config: Config) -> None:
    """A public page is served without a login, so it cannot demand a stronger one: a rule there
    would do nothing, silently."""
    for rule in config.step_up:
        if path_is_under(rule.prefix, config.public_paths):
            raise ConfigError("step_up", f"{rule.prefix} is under public_paths, which are served without a "
                              "login: its rule would never apply", f"remove {rule.prefix} from public_paths, "
                              "or drop its step_up rule")


# What each hook is called with (hooks.py): a function that cannot take them would fail at the first
# login, logout or refresh instead of at start-up.
HOOK_ARGUMENTS = {"on_login": ("environ", "claims", "tokens"), "on_logout": ("environ", "claims"),
                  "on_refresh": ("environ", "claims", "tokens")}


def _check_hooks(config: Config) -> None:
    for option, arguments in HOOK_ARGUMENTS.items():
        hook = getattr(config, option)
        try:
            signature = inspect.signature(hook) if hook is not None else None
        except (TypeError, ValueError):  # a builtin without a signature: it will tell at its call
            continue
        try:
            if signature is not None:
                signature.bind(*arguments)
        except TypeError:
            listed = ", ".join(arguments)
            name = getattr(hook, "__qualname__", type(hook).__name__)
            raise ConfigError(option, f"{name}{signature} cannot be called with ({listed})",
                              f"define it as def {option}({listed}): …") from None


def _check_client_authentication(config: Config) -> None:
    how = "in the ini file, as a keyword argument, or in the environment as AUTH0_"
    if config.token_endpoint_auth_method == "private_key_jwt":
        if not config.client_private_key:
            raise ConfigError("client_private_key", "is required with private_key_jwt",
                              f"give the PEM (or its file's absolute path) {how}CLIENT_PRIVATE_KEY")
    elif not config.client_secret:
        raise ConfigError("client_secret", "is required", f"set it {how}CLIENT_SECRET")


def _default_lock_dir() -> str:
    """Per user, so that two users' apps on one host never share it. In the shared temp directory
    another user may create it first (or plant a symlink there): the store refuses to start on a
    directory that is not ours alone (``lockdir``), and the operator sets another."""
    return os.path.join(tempfile.gettempdir(), f"auth0-wsgi-{os.geteuid()}")


def namespace_of(client_id: str, key_prefix: str = "") -> str:
    """:attr:`Config.namespace` of an app with this ``client_id`` and ``key_prefix``."""
    digest = b64encode(hashlib.sha256(f"{client_id}\0{key_prefix}".encode()).digest()[:9])
    return f"auth0wsgi:{key_prefix}:{digest}:" if key_prefix else f"auth0wsgi:{digest}:"
