"""The I/O of ``auth0-wsgi check``: ask the provider and the stores, hand what they said to :mod:`checks`.

Every request to the provider goes through the same code as the middleware's (``OIDCClient``: its
discovery and key caches, its client authentication) with ``http_timeout``; a Redis store is asked
with the middleware's own timeout. Nothing is left behind: the probe key expires in a minute and is
deleted at once, the probe file is removed, and the made-up authorization code spends nothing.
"""

from __future__ import annotations

import email.utils
import os
import secrets
import time
from collections.abc import Callable, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from . import checks, discovery, lockdir, stores
from .checks import AuthorizeAnswer, Result
from .config import Config
from .errors import Auth0WSGIError, ConfigError, ProviderError
from .logs import escape_controls
from .oidc import OIDCClient
from .transaction import LoginTransaction

PROBE_TTL = 60  # seconds a Redis probe key lives if its DEL never arrives
UNKNOWN_AUDIENCE = "https://auth0-wsgi-check.invalid/"  # .invalid: no provider can know it (RFC 6761)
_ERROR_PAGE_BYTES = 16 * 1024
_PROVIDER_CHECKS = ("jwks", "client_credentials", "callback_url", "audience")


def run(settings: Mapping[str, Any], environ: Mapping[str, str], *, where: str,
        clock: Callable[[], float] = time.time) -> list[Result]:
    """Every check, in order, for the login filter's ``settings`` (ini strings) found at ``where``."""
    try:
        config = Config.from_settings(settings, environ)
    except ConfigError as error:
        return [checks.configuration_error(error, where)]
    witness = DateWitness(clock)
    return [checks.configuration(config), *provider_checks(config, _http(witness), clock),
            checks.offline_access(config.scope), *store_checks(config),
            checks.clock(witness.offset, config.clock_skew)]


class DateWitness:
    """Our clock minus the provider's ``Date``, from the first response that carries one."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.offset: float | None = None

    def see(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        date = response.headers.get("Date")
        if self.offset is not None or not date:
            return
        try:
            sent = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, OverflowError):  # a provider's garbage: no offset
            return
        self.offset = self._clock() - (sent + 0.5)  # the Date was anywhere in its second


def _http(witness: DateWitness) -> requests.Session:
    http = requests.Session()
    http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # no session at the provider
    http.hooks["response"].append(witness.see)
    return http


# -- the provider ----------------------------------------------------------------------------------
def provider_checks(config: Config, http: requests.Session, clock: Callable[[], float]) -> list[Result]:
    client = OIDCClient(config, http)
    try:
        document = client.metadata.get()
    except ProviderError as error:
        return [checks.discovery(client.metadata.url, error, config.issuer),
                *(checks.skipped(name, "discovery failed") for name in _PROVIDER_CHECKS)]
    results = [checks.discovery(client.metadata.url, None, config.issuer),
               _signing_keys(client, config, str(document["jwks_uri"])),
               checks.client_credentials(_exchange_error(client), config.token_endpoint_auth_method)]
    now = int(clock())
    without = authorize(http, client, now, audience=None)
    results.append(checks.callback_url(without, config.redirect_uri, config.client_id))
    ours = unknown = None
    if config.audience and without.to_callback:
        ours = authorize(http, client, now, audience=config.audience)
        unknown = authorize(http, client, now, audience=UNKNOWN_AUDIENCE + secrets.token_hex(4))
    results.append(checks.audience(config.audience, without, ours, unknown))
    return results


def _signing_keys(client: OIDCClient, config: Config, jwks_uri: str) -> Result:
    alg = config.id_token_signing_alg
    if alg == "HS256":
        return checks.signing_keys(None, None, alg, jwks_uri)
    try:
        keys = client.keys.get(None)
    except ProviderError as error:
        return checks.signing_keys(None, error, alg, jwks_uri)
    kinds = [(key.key_type, str(getattr(key, "curve_name", "")), _text(key.get("use"))) for key in keys.keys]
    return checks.signing_keys(kinds, None, alg, jwks_uri)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _exchange_error(client: OIDCClient) -> Exception | None:
    """The refusal of a made-up code: a real provider cannot have issued it."""
    try:
        client.exchange_code("auth0-wsgi-check." + secrets.token_urlsafe(24), secrets.token_urlsafe(48))
    except Auth0WSGIError as error:
        return error
    return None


def authorize(http: requests.Session, client: OIDCClient, now: int, *,
              audience: str | None) -> AuthorizeAnswer:
    """The login's authorization request, with ``prompt=none`` and ``audience`` (or none), unfollowed."""
    config = client.config
    url = with_params(client.authorization_url(LoginTransaction.start("/", now), push=False),
                      prompt="none", audience=audience)
    try:
        url = client.pushed(url)  # with PAR: a failure names the PAR endpoint in the report
    except Auth0WSGIError as error:
        return AuthorizeAnswer(0, False, error.message)
    try:
        response = http.get(url, allow_redirects=False, timeout=config.http_timeout, stream=True,
                            headers={"Accept": "text/html"})  # as a browser asks
    except requests.RequestException as error:
        return AuthorizeAnswer(0, False, type(error).__name__)
    return answer_of(response, config.redirect_uri, config.http_timeout)


def with_params(url: str, **params: str | None) -> str:
    """``url`` with each of ``params`` set (or removed, for None)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def answer_of(response: requests.Response, redirect_uri: str, timeout: float) -> AuthorizeAnswer:
    location = response.headers.get("Location")
    if response.is_redirect and location:
        response.close()
        parts = urlsplit(urljoin(response.url, location))
        query = dict(parse_qsl(parts.query))
        target = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        to_callback = target == redirect_uri
        return AuthorizeAnswer(response.status_code, to_callback, _said(query.get("error")),
                               _said(query.get("error_description")), "" if to_callback else target)
    said: dict[str, Any] = {}
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = discovery.read_body(response, "the authorization endpoint", timeout, _ERROR_PAGE_BYTES)
            said = discovery.json_object(body, "the authorization endpoint")
        except ProviderError:
            said = {}
    response.close()
    return AuthorizeAnswer(response.status_code, False, _said(said.get("error")),
                           _said(said.get("error_description")))


def _said(value: object) -> str:
    """A provider's words, shown to the operator: one line, bounded."""
    return escape_controls(value)[:200] if isinstance(value, str) else ""


# -- this host -------------------------------------------------------------------------------------
def store_checks(config: Config) -> list[Result]:
    timeout = min(config.http_timeout, stores.REDIS_TIMEOUT)
    session, revocation = config.session_store, config.revocation_store
    session_problem = redis_problem(session, config.namespace, timeout) if _is_redis(session) else None
    lock_problem = lock_directory_problem(config) if session == "cookie" else None
    revocation_problem = None
    if session == "cookie" and revocation == "file":
        revocation_problem = lock_problem
    elif session == "cookie" and _is_redis(revocation):
        revocation_problem = redis_problem(revocation, config.namespace, timeout)
    return [checks.session_store(session, session_problem),
            checks.revocation_store(session, revocation, revocation_problem),
            checks.lock_directory(config.refresh_lock_dir, lock_problem, session)]


def _is_redis(url: str) -> bool:
    return url not in ("cookie", "memory", "file")


def redis_problem(url: str, namespace: str, timeout: float) -> str | None:
    """None when Redis answers a PING and takes and gives back a probe key; else what went wrong."""
    try:
        from .stores.redis_connect import ERRORS, connect
    except ImportError:
        return "redis-py is not installed (pip install 'auth0-wsgi[redis]')"
    key = f"{namespace}check:{secrets.token_hex(8)}"
    try:
        client = connect(url, timeout)
    except ValueError as error:
        return f"not a usable Redis URL ({error})"
    try:
        client.ping()
        client.set(key, b"1", ex=PROBE_TTL)
        client.delete(key)
    except ERRORS as error:
        return escape_controls(f"{type(error).__name__}: {error}")
    finally:
        client.close()
    return None


def lock_directory_problem(config: Config) -> str | None:
    """None when ``refresh_lock_dir`` opens as the middleware opens it and takes a file; else why not."""
    path = config.refresh_lock_dir
    try:
        directory = lockdir.LockDirectory(path, config.namespace)
    except ConfigError as error:
        return (error.message.removeprefix(f"auth0-wsgi: option '{lockdir.OPTION}': {path} ")
                .removesuffix(f"; {lockdir.FIX}"))
    name = f"{directory.prefix}check-{secrets.token_hex(8)}"
    try:
        fd = directory.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            os.write(fd, b"auth0-wsgi check\n")
        finally:
            os.close(fd)
        directory.unlink(name)
    except OSError as error:
        return f"cannot write a file in it ({error.strerror or type(error).__name__})"
    return None
