"""What ``auth0-wsgi check`` concludes: one :class:`Result` per check, from what :mod:`probes` saw.

Pure functions of observations (a caught error, a provider's answer, a measured offset), so each
mapping is tested by table. A result's ``ok`` is True (passes), False (fails: ``fix`` says what to
do) or None (not checkable, or not used by this configuration: neither passes nor fails).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote, urlsplit

from . import converters, lockdir, redis_urls
from .config import Config
from .errors import ConfigError, GrantRejected, ProviderError, ProviderUnavailable
from .logs import escape_controls

TITLES = {
    "configuration": "configuration",
    "discovery": "discovery",
    "jwks": "signing keys",
    "client_credentials": "client credentials",
    "callback_url": "callback URL",
    "audience": "audience",
    "offline_access": "offline_access",
    "session_store": "session store",
    "revocation_store": "revocation store",
    "lock_directory": "lock directory",
    "clock": "clock",
}
# What a provider answers an authorization request with prompt=none when all is well: no user.
NEEDS_A_USER = frozenset({"login_required", "interaction_required", "consent_required",
                          "account_selection_required"})
_RSA_FAMILIES = ("RS", "PS")
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MIN_SECRET = 3  # shorter values are not redacted: "a" would blank out every a of the report


@dataclass(frozen=True)
class Result:
    name: str  # a key of TITLES, stable for --json
    ok: bool | None
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class AuthorizeAnswer:
    """What the authorization endpoint answered one request, redirects not followed."""

    status: int  # 0: no answer at all
    to_callback: bool  # a redirect to our redirect_uri
    error: str = ""  # from the redirect's query, or the error page's JSON
    description: str = ""
    location: str = ""  # a redirect elsewhere: where to (without its query)

    def describe(self) -> str:
        said = f"{self.error}: {self.description}" if self.description else self.error
        if self.status == 0:
            return said
        where = f" to {self.location}" if self.location else ""
        return f"HTTP {self.status}{where}" + (f" ({said})" if said else "")


def skipped(name: str, why: str) -> Result:
    return Result(name, None, f"not checked: {why}")


# -- 1. configuration ------------------------------------------------------------------------------
def configuration(config: Config) -> Result:
    stores = f"session_store {converters.redact(config.session_store)}"
    if config.session_store == "cookie":
        stores += f", revocation_store {converters.redact(config.revocation_store)}"
    return Result("configuration", True, f"client_id {config.client_id}, issuer {config.issuer}, "
                  f"callback {config.redirect_uri}, {stores}")


def configuration_error(error: ConfigError, where: str) -> Result:
    return Result("configuration", False, error.message.removeprefix("auth0-wsgi: "),
                  f"set '{error.option}' in {where}, or as AUTH0_{error.option.upper()} in the environment")


# -- 2.-6. the provider ---------------------------------------------------------------------------
def discovery(url: str, error: ProviderError | None, issuer: str) -> Result:
    if error is None:
        return Result("discovery", True, f"{url} names issuer {issuer}")
    if error.code == "issuer_mismatch":
        fix = "set issuer to the exact issuer of the discovery document (or domain = <host> for Auth0)"
    elif isinstance(error, ProviderUnavailable):
        fix = ("check domain (or issuer): is the host name spelled right? Can this host reach it "
               "(DNS, firewall, HTTPS_PROXY)?")
    else:
        fix = "check domain (or issuer): it must be the provider's, e.g. tenant.eu.auth0.com"
    return Result("discovery", False, error.message, fix)


def signing_keys(kinds: Sequence[tuple[str, str, str | None]] | None, error: ProviderError | None,
                 alg: str, jwks_uri: str) -> Result:
    """``kinds``: each key's (key type, EC curve or "", use), or None when the fetch failed."""
    if alg == "HS256":
        return Result("jwks", None, "not used: HS256 ID tokens are checked with the client secret")
    if kinds is None:
        problem = error.message if error else "no keys"
        return Result("jwks", False, problem, f"the provider must publish its signing keys at {jwks_uri}; "
                      "check domain (or issuer)")
    usable = [kind for kind in kinds if kind[2] in (None, "sig") and _signs(kind, alg)]
    if not usable:
        return Result("jwks", False, f"{jwks_uri} holds {len(kinds)} key(s), none for {alg}",
                      "set id_token_signing_alg to the algorithm of the provider's keys (Auth0: RS256)")
    return Result("jwks", True, f"{len(usable)} key(s) for {alg} at {jwks_uri}")


def _signs(kind: tuple[str, str, str | None], alg: str) -> bool:
    key_type, curve, _ = kind
    if alg.startswith(_RSA_FAMILIES):
        return key_type == "RSA"
    return key_type == "EC" and _EC_CURVES.get(alg) == curve


def client_credentials(error: Exception | None, method: str) -> Result:
    """The answer to a code exchange with a code that does not exist: ``invalid_grant`` from a
    provider that accepted the client's authentication, ``invalid_client`` from one that did not."""
    credentials = ("client_private_key (and client_private_key_id) must be the key registered for this "
                   "client" if method == "private_key_jwt" else
                   "set client_secret (or AUTH0_CLIENT_SECRET) to the application's secret "
                   "(Auth0 dashboard: Applications > your app > Settings)")
    if isinstance(error, GrantRejected) and error.error == "invalid_grant":
        return Result("client_credentials", True, f"the token endpoint accepted the client ({method}) "
                      "and refused only the made-up code")
    if isinstance(error, GrantRejected):
        fix = ("enable the Authorization Code and Refresh Token grants for this application "
               "(Auth0: Settings > Advanced > Grant Types; a Regular Web Application)")
        return Result("client_credentials", False, f"the token endpoint refused the grant: {error.error}",
                      fix)
    if isinstance(error, ProviderUnavailable):
        return Result("client_credentials", False, error.message, "check that the provider is up")
    if error is not None and getattr(error, "code", "") == "invalid_client":
        return Result("client_credentials", False, "the token endpoint refused the client's "
                      f"authentication (invalid_client, {method})", f"check client_id; {credentials}")
    what = error.message if isinstance(error, ProviderError) else "it answered a made-up code with tokens"
    return Result("client_credentials", False, what, f"check client_id and token_endpoint_auth_method; "
                  f"{credentials}")


def callback_url(answer: AuthorizeAnswer, redirect_uri: str, client_id: str) -> Result:
    fix = (f"add {redirect_uri} to the Allowed Callback URLs of application {client_id} "
           "(Auth0 dashboard: Applications > your app > Settings), or correct base_url / callback_path")
    if answer.status == 0:
        return Result("callback_url", False, f"the authorization endpoint is unreachable: {answer.error}",
                      "check that the provider is up")
    if answer.status >= 500:
        return Result("callback_url", False, f"the authorization endpoint failed: {answer.describe()}",
                      "check that the provider is up")
    if answer.status < 300:  # a page instead of an answer to prompt=none: nothing to conclude
        return Result("callback_url", None, f"not checkable: the provider answered prompt=none with a "
                      f"page ({answer.describe()})")
    if not answer.to_callback and answer.error == "invalid_client":
        return Result("callback_url", False, f"the provider does not know client_id {client_id}: "
                      f"{answer.describe()}", "set client_id to the application's Client ID")
    if not answer.to_callback:
        return Result("callback_url", False, f"the provider refused {redirect_uri}: {answer.describe()}", fix)
    if answer.error and answer.error not in NEEDS_A_USER:
        return Result("callback_url", False, f"{redirect_uri} is registered, but the provider refused the "
                      f"authorization request: {answer.describe()}",
                      "see the provider's log for this application (Auth0: Monitoring > Logs)")
    return Result("callback_url", True, f"{redirect_uri} is registered")


def audience(value: str | None, without: AuthorizeAnswer, ours: AuthorizeAnswer | None,
             unknown: AuthorizeAnswer | None) -> Result:
    """``without``/``ours``/``unknown``: the same request without an audience, with ours, and with
    one no provider knows. A provider shows whether it knows ours only if it refuses the unknown one."""
    if not value:
        return Result("audience", None, "none set: access tokens are good for /userinfo only",
                      "set audience to your API's identifier if the app calls an API")
    if ours is None or unknown is None or not without.to_callback or _refused(without):
        return Result("audience", None, "not checkable: the authorization request itself is refused")
    fix = (f"create an API with the identifier {value} (Auth0 dashboard: Applications > APIs), "
           "or set audience to an existing API's identifier exactly")
    if _refused(ours):
        return Result("audience", False, f"the provider refused {value}: {ours.describe()}", fix)
    if _refused(unknown):
        return Result("audience", True, f"the provider knows {value} (it refuses an unknown audience "
                      "before any login)")
    return Result("audience", None, f"not checkable: the provider refuses an unknown audience only after "
                  f"a login ({value} is not known to be wrong)")


def _refused(answer: AuthorizeAnswer) -> bool:
    return not answer.to_callback or bool(answer.error and answer.error not in NEEDS_A_USER)


# -- 7.-10. this host ------------------------------------------------------------------------------
def offline_access(scope: str) -> Result:
    if "offline_access" in scope.split():
        return Result("offline_access", True, f"in scope ({scope}): sessions refresh their access tokens")
    return Result("offline_access", False, f"not in scope ({scope}): no refresh token, so at expiry "
                  "browsers go through the provider again and XHR/POST requests get 401",
                  f"scope = {scope} offline_access (and Allow Offline Access on the API in Auth0)")


def session_store(url: str, problem: str | None) -> Result:
    """``problem``: what went wrong with a Redis store (None: reachable and writable)."""
    if url == "cookie":
        return Result("session_store", True, "cookie: sessions are encrypted cookies, nothing to reach")
    if url == "memory":
        return Result("session_store", True, "memory: sessions live in each process, so a login is "
                      "unknown to other workers and hosts (use redis:// in production)")
    return _redis("session_store", url, problem)


def revocation_store(session_url: str, url: str, problem: str | None) -> Result:
    """Where back-channel logouts of cookie sessions are kept; ``problem`` as for the session store."""
    if session_url != "cookie":
        return Result("revocation_store", None, f"not used: with session_store = "
                      f"{converters.redact(session_url)} a back-channel logout deletes the sessions")
    if url == "memory":
        return Result("revocation_store", True, "memory: a back-channel logout reaches this process only "
                      "(use file for one host, redis:// for several)")
    if url == "file":
        if problem is None:
            return Result("revocation_store", True, "file in refresh_lock_dir: every worker of this host")
        return Result("revocation_store", False, f"file: {problem}", "see the lock directory below")
    return _redis("revocation_store", url, problem)


def _redis(name: str, url: str, problem: str | None) -> Result:
    shown = converters.redact(url)
    if problem is None:
        return Result(name, True, f"{shown}: reachable, a probe key written and deleted")
    return Result(name, False, f"{shown}: {problem}",
                  f"start Redis or correct {name} (redis://[:password@]host:6379/0, "
                  f"redis+sentinel://host:26379,…/service_name or redis+cluster://host:6379,…; "
                  f"reachable from here)")


def lock_directory(path: str, problem: str | None, session_url: str) -> Result:
    if session_url != "cookie":
        return Result("lock_directory", None,
                      f"not used with session_store = {converters.redact(session_url)}")
    if problem is None:
        return Result("lock_directory", True, f"{path}: ours alone, writable")
    return Result("lock_directory", False, f"{path}: {problem}", lockdir.FIX)


def clock(offset: float | None, clock_skew: int) -> Result:
    """``offset``: our clock minus the provider's ``Date`` (seconds), None when it sent none."""
    if offset is None:
        return Result("clock", None, "not checkable: the provider sent no Date header")
    ahead = "ahead of" if offset > 0 else "behind"
    detail = f"{abs(offset):.1f} s {ahead} the provider's (clock_skew = {clock_skew})"
    if abs(offset) <= clock_skew + 1:  # Date has a resolution of one second
        return Result("clock", True, detail)
    return Result("clock", False, detail, "synchronise this host's clock (NTP: chrony, systemd-timesyncd)")


# -- output ----------------------------------------------------------------------------------------
def secret_values(settings: Mapping[str, str], environ: Mapping[str, str]) -> list[str]:
    """Every secret the settings or the environment hold (used or not), in the forms an output could show."""
    found: list[str] = []
    for name in ("client_secret", "client_private_key", "secret", "session_store", "revocation_store"):
        for value in (str(settings.get(name) or ""), environ.get(f"AUTH0_{name.upper()}", "")):
            if name == "secret":
                found += value.split()
            elif name.endswith("_store"):
                found += [_password(value), *redis_urls.query_passwords(value)]
            else:
                found.append(value)
    forms = {form for secret in found if len(secret) >= _MIN_SECRET
             for form in (secret, quote(secret, safe=""))}
    return sorted(forms, key=len, reverse=True)


def _password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def redacted(results: Iterable[Result], secrets: Sequence[str]) -> list[Result]:
    """The results with every occurrence of a secret replaced by ``***`` and every control character
    escaped (a provider's URLs and words are shown): the last safeguard."""
    def clean(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return escape_controls(text)
    return [replace(r, detail=clean(r.detail), fix=clean(r.fix)) for r in results]
