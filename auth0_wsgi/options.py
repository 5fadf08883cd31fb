"""How both filters read their options, and which options each one accepts.

One pipeline, run once at start-up: refuse an unknown option (naming the closest known one), complete
the settings from ``AUTH0_<OPTION>`` in the environment (an explicit value wins), turn ``domain`` or
``issuer`` into the issuer, then parse each option through its converter. Every error names the
option and the fix. :class:`~auth0_wsgi.config.Config` (``egg:auth0-wsgi``) and
:class:`~auth0_wsgi.resource_server.ResourceServerConfig` (``egg:auth0-wsgi#api``) are built from
what :func:`read` returns; each filter's options are the tables :data:`LOGIN` and :data:`API`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from . import converters, parsing
from .errors import ConfigError

ISSUER_OPTIONS = ("domain", "issuer")  # every filter takes one of them, turned into ``issuer``
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_REFERENCE = "see the configuration reference"


@dataclass(frozen=True)
class OptionTable:
    """One filter's options: each one's converter, the fix shown when its value is wrong, and the
    required ones with the fix shown when they are missing. ``domain``/``issuer`` are implied."""

    parsers: Mapping[str, Callable[[Any], Any]]
    fixes: Mapping[str, str]
    required: Mapping[str, str]
    what: str = "an auth0-wsgi option"  # "'xyz' is not <what>"
    reference: str = _REFERENCE  # the hint when no known name is close

    @property
    def names(self) -> frozenset[str]:
        """Every option name this filter accepts."""
        return frozenset({*self.parsers, *ISSUER_OPTIONS})


def read(table: OptionTable, settings: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The parsed options (``issuer`` first, then those given or in the environment), by name.

    :param table: the filter's options.
    :param settings: keyword arguments or ini values; ``None`` means unset.
    :param environ: where ``AUTH0_<OPTION>`` is looked up (normally ``os.environ``).
    :raises ConfigError: for the first unknown, wrong or missing option, naming it and the fix.
    """
    refuse_unknown(table, settings)
    merged = merge_environment(settings, environ, table.parsers)
    values: dict[str, Any] = {"issuer": issuer_from_settings(merged)}
    for name, parse in table.parsers.items():
        if name in merged:
            values[name] = parse_option(name, merged[name], parse, table.fixes)
        elif name in table.required:
            raise ConfigError(name, "is required", table.required[name])
    return values


def refuse_unknown(table: OptionTable, settings: Iterable[str]) -> None:
    """An unknown option refuses to start, with the closest known name as the hint."""
    known = sorted(table.names)
    for name in settings:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else table.reference
            raise ConfigError(name, f"is not {table.what}", hint)


def merge_environment(settings: Mapping[str, Any], environ: Mapping[str, str],
                      names: Iterable[str]) -> dict[str, Any]:
    """Settings, completed from ``AUTH0_<NAME>``; an explicit domain or issuer beats both variables."""
    merged = {k: v for k, v in settings.items() if v is not None}
    explicit_issuer = any(name in merged for name in ISSUER_OPTIONS)
    for name in [*names, *ISSUER_OPTIONS]:
        if name in ISSUER_OPTIONS and explicit_issuer:
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
        raise ConfigError(name, str(exc), fixes.get(name, _REFERENCE)) from None


def issuer_from_settings(merged: Mapping[str, Any]) -> str:
    """``https://<domain>/`` or the issuer exactly as given: one of them is required, not both."""
    domain, issuer = merged.get("domain"), merged.get("issuer")
    if domain and issuer:
        raise ConfigError("domain", "is set together with 'issuer'", "set only one of them")
    if domain:
        host = parse_option("domain", domain, parsing.as_text, {})
        if "://" in host or "/" in host or not _HOSTNAME.match(host.split(":")[0]):
            raise ConfigError("domain", f"{host!r} is not a bare host name",
                              "write it like tenant.us.auth0.com (no https://, no path), or use 'issuer'")
        split_url("domain", f"https://{host}/")  # a port that is not a number (tenant:abc)
        return f"https://{host}/"
    if issuer:
        url: str = parse_option("issuer", issuer, parsing.as_text, {})
        parts = split_url("issuer", url)
        if parts.scheme not in ("https", "http") or not parts.hostname or "?" in url or "#" in url:
            raise ConfigError("issuer", f"{url!r} is not an absolute http(s) URL",
                              "write the provider's issuer exactly, e.g. https://tenant.us.auth0.com/")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError("issuer", "plain http is allowed only on loopback", "use https")
        return url
    raise ConfigError("domain", "is required (or 'issuer')",
                      "set domain = <tenant>.auth0.com, or issuer = <full issuer URL>, or AUTH0_DOMAIN")


def split_url(option: str, url: str) -> SplitResult:
    """urlsplit, whose ValueError (``http://[``, NFKC tricks) becomes an error naming the option."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
        return parts
    except ValueError as exc:
        raise ConfigError(option, f"{url!r} is not a valid URL ({exc})", "check the URL") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _set_it(name: str) -> str:
    return f"set it in the ini file, as a keyword argument, or in the environment as AUTH0_{name.upper()}"


_BOOLEAN_FIX = "use true or false"
_HOOK_FIX = ("name a function as package.module:function, importable by the app (gunicorn --paste puts "
             "only the working directory on sys.path: add --pythonpath)")
_STEP_UP_FIX = ("write one rule a line: PATH_PREFIX acr_values=VALUE[,VALUE…] max_age=SECONDS (either part "
                "optional), e.g. /admin acr_values=http://schemas.openid.net/pape/policies/2007/06/multi-factor")

# egg:auth0-wsgi. The order is the order of the checks; Config adds the computed defaults.
LOGIN = OptionTable(
    parsers={
        "client_id": parsing.as_required_text,
        "client_secret": parsing.as_required_text,
        "client_private_key": converters.private_key,
        "client_private_key_id": parsing.as_optional_text,
        "base_url": parsing.as_required_text,
        "secret": converters.secret_keys,
        "audience": parsing.as_optional_text,
        "additional_audiences": converters.audiences,
        "scope": converters.scope,
        "authorization_params": converters.authorization_params,
        "login_path": converters.path,
        "callback_path": converters.path,
        "logout_path": converters.path,
        "post_logout_redirect": parsing.as_text,
        "require_auth": parsing.as_bool,
        "public_paths": converters.paths,
        "step_up": converters.step_up,
        "organization": converters.organization,
        "on_login": converters.hook,
        "on_logout": converters.hook,
        "on_refresh": converters.hook,
        "session_claims": parsing.as_words,
        "fetch_userinfo": parsing.as_bool,
        "attempt_silent_login": parsing.as_bool,
        "pushed_authorization_requests": converters.tri_state,
        "session_cookie_name": converters.cookie_name,
        "session_rolling_duration": parsing.whole_number(60, 10 * 365 * 86400),
        "session_absolute_duration": parsing.whole_number(60, 10 * 365 * 86400),
        "cookie_secure": parsing.as_bool,
        "cookie_samesite": parsing.choice("Lax", "Strict", "None"),
        "clock_skew": parsing.whole_number(0, 600),
        "http_timeout": parsing.number(0.1, 120),
        "token_endpoint_auth_method": parsing.choice(*converters.SUPPORTED_AUTH_METHODS),
        "id_token_signing_alg": parsing.choice(*converters.SUPPORTED_ID_TOKEN_ALGS),
        "set_remote_user": parsing.as_bool,
        "refresh_leeway": parsing.whole_number(0, 3600),
        "refresh_lock_dir": converters.directory,
        "session_store": converters.store_url("cookie", "memory"),
        "backchannel_logout_path": converters.path,
        "revocation_store": converters.store_url("file", "memory"),
        "trusted_proxies": converters.networks,
        "session_cache_seconds": parsing.whole_number(0, 60),
        "session_cache": parsing.choice("tracking", "off"),
        "key_prefix": converters.key_prefix,
        "allow_insecure_base_url": parsing.as_bool,
        "debug": parsing.as_bool,
        "error_template": converters.error_template,
    },
    fixes={
        "require_auth": _BOOLEAN_FIX,
        "cookie_secure": _BOOLEAN_FIX,
        "set_remote_user": _BOOLEAN_FIX,
        "allow_insecure_base_url": _BOOLEAN_FIX,
        "debug": _BOOLEAN_FIX,
        "fetch_userinfo": _BOOLEAN_FIX,
        "attempt_silent_login": _BOOLEAN_FIX,
        "pushed_authorization_requests": "use auto (when discovery requires it), true or false",
        "additional_audiences": "list other APIs' identifiers separated by spaces, exactly as in the "
                                "Auth0 dashboard (Applications > APIs)",
        "step_up": _STEP_UP_FIX,
        "organization": "use the organization's id (org_…) or its name from the Auth0 dashboard",
        "on_login": _HOOK_FIX,
        "on_logout": _HOOK_FIX,
        "on_refresh": _HOOK_FIX,
        "error_template": "give the path of a UTF-8 HTML file whose placeholders are {title}, {message}, "
                          "{code}, {retry_url} or {details} (in an ini file: %(here)s/error.html)",
        "secret": "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        "client_private_key": "give an RSA or EC private key in PEM, or the absolute path of its file",
        "authorization_params": "write key=value pairs separated by spaces, e.g. prompt=login",
        "public_paths": "write absolute paths separated by spaces, e.g. /static /health",
        "session_store": "use cookie, memory, or redis://host:6379/0 (one Redis or a primary endpoint), "
                         "redis+sentinel://host:26379,host:26379/mymaster (Sentinel) or "
                         "redis+cluster://host:6379,host:6379 (Cluster)",
        "revocation_store": "use file (every worker of this host), memory (this process only) or a Redis "
                            "URL for several hosts: redis://host:6379/0, "
                            "redis+sentinel://host:26379/mymaster or redis+cluster://host:6379",
        "refresh_lock_dir": "give the absolute path of a directory only this user can write to, "
                            "e.g. /var/lib/myapp/auth0",
        "key_prefix": "use a short name for this app, e.g. billing",
        "session_cache": "use tracking (records kept in each process while Redis reports every change) "
                         "or off (every request reads Redis)",
        "trusted_proxies": "list your proxies' addresses or networks, e.g. 10.0.0.0/8 127.0.0.1",
    },
    required={name: _set_it(name) for name in ("client_id", "base_url", "secret")},
)

# egg:auth0-wsgi#api (docs/resource-server.md).
API = OptionTable(
    parsers={
        "audience": converters.api_audience,
        "required_scopes": converters.required_scopes,
        "public_paths": converters.paths,
        "step_up": converters.step_up,
        "clock_skew": parsing.whole_number(0, 600),
        "http_timeout": parsing.number(0.1, 120),
        "algorithms": converters.access_token_algorithms,
    },
    fixes={
        "audience": "use the API identifier exactly as in the Auth0 dashboard, e.g. https://api.example.com",
        "required_scopes": "write scope names separated by spaces, e.g. read:messages write:messages",
        "public_paths": "write absolute paths separated by spaces, e.g. /health /docs",
        "step_up": _STEP_UP_FIX,
        "clock_skew": "use a number of seconds from 0 to 600",
        "http_timeout": "use a number of seconds from 0.1 to 120",
        "algorithms": "use the API's signing algorithm from the Auth0 dashboard, normally RS256",
    },
    required={"audience": "set it to your API's identifier (Auth0 dashboard, Applications > APIs), "
                          "or AUTH0_AUDIENCE"},
    what="an option of the auth0-wsgi API filter",
    reference="see docs/resource-server.md",
)
