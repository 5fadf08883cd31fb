"""The keyword options of both filters as ``TypedDict``\\ s, so that IDEs and type checkers see them.

``Auth0Middleware(app, **settings: Unpack[Auth0Settings])`` completes ``client_id=``, ``domain=``…
and flags a misspelt option before the app starts (where :mod:`options` would refuse it). Each
option takes its ini string or a native value; ``None`` means unset (the ``AUTH0_<OPTION>``
variable, then the default, applies). What each one means: README's "Configuration reference" and
docs/resource-server.md. A test keeps these keys equal to the options the parser accepts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

__all__ = ["Auth0Settings", "ResourceServerSettings"]


class Auth0Settings(TypedDict, total=False):
    """The options of the login filter (``egg:auth0-wsgi``)."""

    domain: str | None
    issuer: str | None
    client_id: str | None
    client_secret: str | None
    client_private_key: str | None
    client_private_key_id: str | None
    base_url: str | None
    secret: str | Sequence[str] | None
    audience: str | None
    additional_audiences: str | Sequence[str] | None
    scope: str | Sequence[str] | None
    authorization_params: str | Mapping[str, str | int] | Sequence[str] | None
    login_path: str | None
    callback_path: str | None
    logout_path: str | None
    post_logout_redirect: str | None
    require_auth: bool | str | None
    public_paths: str | Sequence[str] | None
    step_up: str | Sequence[str] | None
    organization: str | None
    on_login: str | Callable[..., Any] | None
    on_logout: str | Callable[..., Any] | None
    on_refresh: str | Callable[..., Any] | None
    session_claims: str | Sequence[str] | None
    fetch_userinfo: bool | str | None
    attempt_silent_login: bool | str | None
    pushed_authorization_requests: str | bool | None
    session_cookie_name: str | None
    session_rolling_duration: int | str | None
    session_absolute_duration: int | str | None
    cookie_secure: bool | str | None
    cookie_samesite: str | None
    clock_skew: int | str | None
    http_timeout: float | str | None
    token_endpoint_auth_method: str | None
    id_token_signing_alg: str | None
    set_remote_user: bool | str | None
    refresh_leeway: int | str | None
    refresh_lock_dir: str | None
    session_store: str | None
    backchannel_logout_path: str | None
    revocation_store: str | None
    trusted_proxies: str | Sequence[str] | None
    session_cache_seconds: int | str | None
    session_cache: str | None
    key_prefix: str | None
    allow_insecure_base_url: bool | str | None
    debug: bool | str | None
    error_template: str | os.PathLike[str] | None


class ResourceServerSettings(TypedDict, total=False):
    """The options of the resource-server filter (``egg:auth0-wsgi#api``)."""

    domain: str | None
    issuer: str | None
    audience: str | None
    required_scopes: str | Sequence[str] | None
    public_paths: str | Sequence[str] | None
    step_up: str | Sequence[str] | None
    clock_skew: int | str | None
    http_timeout: float | str | None
    algorithms: str | Sequence[str] | None
