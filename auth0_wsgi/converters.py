"""What a single option accepts, beyond the generic rules of :mod:`parsing`.

Each converter takes an ini string (or a native value) and returns the typed value, or raises
``ValueError`` with a short problem statement; :mod:`options` adds the option's name and its fix.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from . import bearer, client_auth, parsing, redis_urls
from .errorpage import ErrorTemplate
from .proxy import Network, parse_networks
from .redis_urls import redact as redact  # re-exported: it was defined here
from .stepup import StepUpRule, parse_rules

MIN_SECRET_LENGTH = 32
SUPPORTED_AUTH_METHODS = ("client_secret_post", "client_secret_basic", "private_key_jwt")
SUPPORTED_ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "HS256")
# Asymmetric only for access tokens: an API holds no shared secret, and HS* with a public key as the
# secret is the classic algorithm-confusion forgery. "none" is never a choice.
SUPPORTED_ACCESS_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                               "ES512")
# Parameters the middleware owns: letting authorization_params override them would break the flow.
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"client_id", "redirect_uri", "response_type", "state", "nonce", "code_challenge",
     "code_challenge_method", "scope", "audience", "response_mode"}
)
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9!#$&'*+\-.^_`|~]{1,64}$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ORGANIZATION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # Auth0: org_ + 16 characters, names a-z0-9_-


# -- both filters ---------------------------------------------------------------------------------
def path(value: Any) -> str:
    text = parsing.as_text(value)
    if (not text.startswith("/") or text.startswith("//") or any(c in text for c in "?#%\\ \t")
            or not (text.isascii() and text.isprintable())):  # PATH_INFO holds bytes: never matched
        raise ValueError(f"{text!r} is not an absolute path like /login")
    return text.rstrip("/") or "/"


def paths(value: Any) -> tuple[str, ...]:
    return tuple(path(p) for p in parsing.as_words(value))


# -- the login filter -----------------------------------------------------------------------------
def secret_keys(value: Any) -> tuple[str, ...]:
    keys = parsing.as_words(value)
    if not keys:
        raise ValueError("is empty")
    for key in keys:
        if len(key) < MIN_SECRET_LENGTH:  # never echo the key: it may be a real one, only short
            raise ValueError(f"each secret needs at least {MIN_SECRET_LENGTH} characters")
    return keys


def private_key(value: Any) -> str:
    text = parsing.as_text(value)
    client_auth.load_private_key(text)  # refuse at start-up what could not sign later
    return text


def scope(value: Any) -> str:
    return " ".join(dict.fromkeys(parsing.as_words(value)))


def authorization_params(value: Any) -> dict[str, str]:
    params = parsing.as_params(value)
    clash = sorted(RESERVED_AUTHORIZE_PARAMS & set(params))
    if clash:
        raise ValueError(f"{', '.join(clash)} cannot be overridden here")
    return params


def cookie_name(value: Any) -> str:
    text = parsing.as_text(value)
    if not _COOKIE_NAME.match(text):
        raise ValueError(f"{text!r} is not a valid cookie name")
    return text


def key_prefix(value: Any) -> str:
    text = parsing.as_text(value)
    if text and not _KEY_PREFIX.match(text):
        raise ValueError(f"{text!r} is not 1-64 letters, digits, '_', '.' or '-'")
    return text


def directory(value: Any) -> str:
    """An absolute path; whether it is a directory we may use is checked when the store is built."""
    text = parsing.as_text(value)
    if not os.path.isabs(text):
        raise ValueError(f"{text!r} is not an absolute directory path")
    return os.path.normpath(text)


def store_url(*words: str) -> Callable[[Any], str]:
    """A converter to one of ``words`` (lower-cased) or a Redis URL: ``redis://``, ``rediss://``,
    ``unix://``, or a Sentinel set or Cluster (``redis+sentinel://``, ``redis+cluster://``, and their
    ``rediss+`` TLS forms: :mod:`auth0_wsgi.redis_urls`)."""
    def parse(value: Any) -> str:
        text = parsing.as_text(value)
        if text.lower() in words:
            return text.lower()
        if redis_urls.is_multi_node(text):
            redis_urls.parse(text)  # its ValueError names the problem, never the password
            return text
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ValueError(f"{redact(text)!r} is not a valid URL") from None
        if parts.scheme in ("redis", "rediss", "unix") and "://" in text and (parts.hostname or parts.path):
            return text
        raise ValueError(f"{redact(text)!r} is not {', '.join(words)} or a redis://, rediss://, "
                         f"redis+sentinel:// or redis+cluster:// URL")
    return parse


def audiences(value: Any) -> tuple[str, ...]:
    """API identifiers separated by spaces, each once."""
    return tuple(dict.fromkeys(api_audience(word) for word in parsing.as_words(value)))


def organization(value: Any) -> str | None:
    """An Auth0 Organization id (``org_…``) or name; empty means none."""
    text = parsing.as_text(value)
    if text and not _ORGANIZATION.match(text):
        raise ValueError(f"{text!r} is neither an organization id (org_…) nor a name")
    return text or None


def tri_state(value: Any) -> str:
    """``auto``, ``true`` or ``false`` (a Python bool too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = parsing.as_text(value).lower()
    if text in ("auto", "true", "false"):
        return text
    return "true" if parsing.as_bool(text) else "false"  # yes/no/on/off/1/0, as for booleans


def step_up(value: Any) -> tuple[StepUpRule, ...]:
    return parse_rules(value)


def hook(value: Any) -> Callable[..., Any] | None:
    """A callable, or ``package.module:function`` imported now (a typo refuses to start)."""
    if callable(value):
        given: Callable[..., Any] = value
        return given
    text = parsing.as_text(value)
    if not text:
        return None
    module_name, sep, attribute = text.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{text!r} is not of the form package.module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # an ImportError, or whatever the module raised while loading
        raise ValueError(f"cannot import {module_name!r} ({type(exc).__name__}: {exc})") from None
    for name in attribute.split("."):
        target = getattr(target, name, None)
    if not callable(target):
        raise ValueError(f"{module_name!r} has no function {attribute!r}")
    function: Callable[..., Any] = target
    return function


def networks(value: Any) -> tuple[Network, ...]:
    return parse_networks(parsing.as_words(value))


def error_template(value: Any) -> ErrorTemplate:
    """The file read and its placeholders checked now: a bad template refuses to start."""
    return ErrorTemplate.load(parsing.as_text(value) if isinstance(value, str) else value)


# -- the API filter -------------------------------------------------------------------------------
def api_audience(value: Any) -> str:
    text = parsing.as_text(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not an API identifier")
    return text


def required_scopes(value: Any) -> tuple[str, ...]:
    return bearer.check_scope_tokens(parsing.as_words(value))


def access_token_algorithms(value: Any) -> tuple[str, ...]:
    names = parsing.as_words(value)
    if not names:
        raise ValueError("is empty")
    chosen: list[str] = []
    for name in names:
        if name.lower() == "none":
            raise ValueError("'none' would accept unsigned tokens")
        if name.upper().startswith("HS"):
            raise ValueError(f"{name} needs a shared secret; an API verifies with the provider's public keys")
        match = next((alg for alg in SUPPORTED_ACCESS_TOKEN_ALGS if alg.lower() == name.lower()), None)
        if match is None:
            raise ValueError(f"{name!r} is not one of {', '.join(SUPPORTED_ACCESS_TOKEN_ALGS)}")
        chosen.append(match)
    return tuple(dict.fromkeys(chosen))
