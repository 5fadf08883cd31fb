"""Step-up rules, pure: which paths need a stronger or more recent login, whether claims meet one,
and the RFC 9470 challenge that says so.

Both filters read the same ``step_up`` option, one rule a line::

    /admin    acr_values=http://schemas.openid.net/pape/policies/2007/06/multi-factor
    /billing  max_age=300
    /payouts  acr_values=http://schemas.openid.net/pape/policies/2007/06/multi-factor max_age=600

``acr_values`` lists acceptable values separated by commas (spaces separate the parts of a rule).
The longest matching prefix wins, by whole segments, as ``public_paths`` match. The login filter
checks the ID token's claims, the API filter the access token's: ``acr`` one of ``acr_values`` (or,
for Auth0's multi-factor policy, ``amr`` containing ``mfa``: Auth0 sets ``amr`` and, unless asked
for exactly that policy, not always ``acr``), and ``auth_time`` no older than ``max_age``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from .paths import may_resolve_elsewhere, path_is_under

MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
MAX_MAX_AGE = 10 * 365 * 86400
# An acr value is a URI or a short name: no spaces, no quotes, no commas (RFC 9470 challenges quote it).
_ACR_VALUE = re.compile(r"^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,256}$")
# Werkzeug's router and Pyramid's traversal serve /admin's view for //admin: empty segments count
# for nothing when a rule is looked up (public_paths need no such care: there a miss is stricter).
_EMPTY_SEGMENTS = re.compile(r"/{2,}")


@dataclass(frozen=True)
class StepUpRule:
    """What a login must have achieved: one of ``acr_values`` (empty: any), and ``auth_time`` no
    older than ``max_age`` seconds (None: any age). ``prefix`` is the path it guards ('' when the
    rule comes from a view or an API challenge rather than the option)."""

    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    prefix: str = ""

    def authorize_params(self) -> dict[str, str]:
        """The ``/authorize`` parameters that ask the provider for this rule."""
        params: dict[str, str] = {}
        if self.acr_values:
            params["acr_values"] = " ".join(self.acr_values)
        if self.max_age is not None:
            params["max_age"] = str(self.max_age)
        return params


def parse_rules(value: Any) -> tuple[StepUpRule, ...]:
    """The ``step_up`` option: one rule a line (or a list of lines), as the module docstring says.

    :raises ValueError: naming the line that is wrong.
    """
    if isinstance(value, str):
        lines = value.splitlines()
    elif isinstance(value, (list, tuple)):
        lines = list(value)
    else:
        raise ValueError(f"a {type(value).__name__} is not rules, one a line")
    rules: dict[str, StepUpRule] = {}
    for raw in lines:
        if not isinstance(raw, str):
            raise ValueError(f"{raw!r} is not a line of text")
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rule = _parse_rule(line)
        if rule.prefix in rules:
            raise ValueError(f"{rule.prefix!r} has two rules")
        rules[rule.prefix] = rule
    return tuple(rules.values())


def _parse_rule(line: str) -> StepUpRule:
    prefix, *parts = line.split()
    if (not prefix.startswith("/") or any(c in prefix for c in "?#%")
            or not (prefix.isascii() and prefix.isprintable())):  # PATH_INFO holds bytes: never matched
        raise ValueError(f"{line!r} does not start with an absolute path")
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    for part in parts:
        name, sep, text = part.partition("=")
        if name == "acr_values" and sep and not acr_values:
            acr_values = tuple(v for v in text.split(",") if v)
            if not acr_values or not all(_ACR_VALUE.match(v) for v in acr_values):
                raise ValueError(f"{line!r}: acr_values must be values separated by commas")
        elif name == "max_age" and sep and max_age is None:
            if not (text.isascii() and text.isdigit() and int(text) <= MAX_MAX_AGE):
                raise ValueError(f"{line!r}: max_age must be a whole number of seconds")
            max_age = int(text)
        else:
            raise ValueError(f"{line!r}: {part!r} is not acr_values=… or max_age=… (each at most once)")
    if not acr_values and max_age is None:
        raise ValueError(f"{line!r} names neither acr_values nor max_age")
    return StepUpRule(acr_values, max_age, prefix.rstrip("/") or "/")


def rule_for(path: str, rules: tuple[StepUpRule, ...]) -> StepUpRule | None:
    """The rule of the longest prefix that covers ``path`` (whole segments), or None.

    Empty segments are ignored (``//admin`` is ``/admin``). A path that another layer could resolve
    elsewhere (``/public/..;/admin``: :mod:`paths`) could land under any prefix: it gets every rule
    at once (an ``acr`` each accepts, the shortest ``max_age``). No honest link looks like that, so
    meeting a rule that may be impossible is fine.
    """
    if rules and may_resolve_elsewhere(path):
        return _strictest(rules, path)
    path = _EMPTY_SEGMENTS.sub("/", path)
    best: StepUpRule | None = None
    for rule in rules:
        if path_is_under(path, (rule.prefix,)) and (best is None or len(rule.prefix) > len(best.prefix)):
            best = rule
    return best


def _strictest(rules: tuple[StepUpRule, ...], path: str) -> StepUpRule:
    acr_sets = [set(rule.acr_values) for rule in rules if rule.acr_values]
    acr_values = tuple(sorted(set.intersection(*acr_sets))) if acr_sets else ()
    if acr_sets and not acr_values:
        acr_values = ("-",)  # no value meets every rule: nothing can
    ages = [rule.max_age for rule in rules if rule.max_age is not None]
    return StepUpRule(acr_values, min(ages) if ages else None, path)


def unmet(claims: Mapping[str, Any], rule: StepUpRule, *, now: int, leeway: int = 0) -> str | None:
    """Why ``claims`` fall short of ``rule`` (a short reason for the log), or None when they meet it."""
    if rule.acr_values and not _acr_met(claims, rule.acr_values):
        return "acr"
    if rule.max_age is not None:
        auth_time = claims.get("auth_time")
        if not _is_time(auth_time):
            return "auth_time missing"
        if auth_time > now + leeway:
            return "auth_time in the future"  # a login that has not happened yet meets no max_age
        if now - auth_time > rule.max_age + leeway:
            return "auth_time too old"
    return None


def _is_time(value: object) -> TypeGuard[float]:
    """A number of seconds; NaN and the infinities compare false both ways, so they never pass."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _acr_met(claims: Mapping[str, Any], acr_values: tuple[str, ...]) -> bool:
    acr = claims.get("acr")
    if isinstance(acr, str) and acr in acr_values:
        return True
    amr = claims.get("amr")
    return MFA_POLICY in acr_values and isinstance(amr, list) and "mfa" in amr


def requested(acr_values: str | None, max_age: str | int | None) -> StepUpRule | None:
    """The rule a login asks for with these ``/authorize`` values (a transaction's params, or what a
    view raised), or None when they ask for nothing. Malformed acr values and ages are dropped: they
    would end up in a challenge header and a URL."""
    values = tuple(v for v in (acr_values or "").split() if _ACR_VALUE.match(v))
    age = str(max_age) if max_age is not None else ""
    valid_age = age.isascii() and age.isdigit() and len(age) <= 10 and int(age) <= MAX_MAX_AGE
    seconds = int(age) if valid_age else None
    return StepUpRule(values, seconds) if values or seconds is not None else None


# RFC 6750 §3: error_description allows %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")
# A parameter name only where a name can start: matching inside a run of letters made hostile
# headers quadratic (4 KiB of letters took 0.4 s).
_CHALLENGE_PARAM = re.compile(r'(?<![a-z_])([a-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', re.IGNORECASE)
MAX_CHALLENGE_LENGTH = 4096  # a longer WWW-Authenticate is read up to here only


def challenge(rule: StepUpRule, description: str = "A stronger or more recent login is required.") -> str:
    """The RFC 9470 ``WWW-Authenticate`` value asking for ``rule``: exactly what :func:`from_challenge`
    reads back. The description loses any character a quoted RFC 6750 value cannot hold.

    :raises ValueError: for an acr value or max_age that cannot stand in the challenge (a quote, a
        comma, a space; a negative or huge age): a programming error, not a client's.
    """
    if not all(isinstance(v, str) and _ACR_VALUE.match(v) for v in rule.acr_values):
        raise ValueError(f"{rule.acr_values!r}: acr values must be URIs or names without spaces, "
                         "quotes, commas or backslashes")
    age = rule.max_age
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_MAX_AGE):
        raise ValueError(f"{age!r}: max_age must be a whole number of seconds")
    params = ['error="insufficient_user_authentication"',
              f'error_description="{_NOT_DESCRIPTION_CHARS.sub("?", description)}"']
    if rule.acr_values:
        params.append(f'acr_values="{" ".join(rule.acr_values)}"')
    if age is not None:
        params.append(f'max_age="{age}"')
    return "Bearer " + ", ".join(params)


def from_challenge(header: str) -> StepUpRule | None:
    """The rule an RFC 9470 challenge asks for (``WWW-Authenticate`` of a 401), or None when the
    header is not an ``insufficient_user_authentication`` Bearer challenge. Untrusted input: values
    that are not well-formed acr values or ages are dropped; only the first 4 KiB is read."""
    if not isinstance(header, str):
        return None
    header = header.lstrip()
    if header[:7].lower() != "bearer ":
        return None
    found = _CHALLENGE_PARAM.finditer(header[:MAX_CHALLENGE_LENGTH])
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in found}
    if params.get("error") != "insufficient_user_authentication":
        return None
    acr_values = tuple(v for v in params.get("acr_values", "").split() if _ACR_VALUE.match(v))
    age = params.get("max_age", "")
    valid_age = age.isascii() and age.isdigit() and len(age) <= 10 and int(age) <= MAX_MAX_AGE
    return StepUpRule(acr_values, int(age) if valid_age else None)
