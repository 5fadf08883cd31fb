"""Provider metadata and signing keys, fetched lazily and cached with a TTL.

Nothing is fetched at construction (gunicorn forks after loading the app). A provider that cannot
be reached makes the caller fail with :class:`ProviderUnavailable` (a 503) until it answers; once
fetched, stale metadata and keys keep serving while a refetch fails. The TTLs and retry delays run
on the middleware's clock; only the deadline of a body being read is the real monotonic clock (it
waits for bytes on a socket, which moving a test's clock cannot hasten).

Every answer of the provider is untrusted input: :func:`read_body` reads at most a bounded number
of bytes (never the whole of a 50 MB answer), :func:`json_object` turns them into a JSON object or
a :class:`ProviderError` (bad UTF-8, ``NaN``, ``1e400``, nesting deep enough to exhaust the stack).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import ProviderError, ProviderUnavailable
from .logs import get_logger

log = get_logger(__name__)

METADATA_TTL = 3600
JWKS_TTL = 3600
UNKNOWN_KID_COOLDOWN = 60  # between refetches caused by unknown kids: a kid flood cannot DoS the provider
RETRY_AFTER_FAILURE = 5  # a provider that is down is asked again after this long, not on every request
# Discovery is ~5 KB and a JWKS ~2 KB at Auth0, a token response 2-10 KB: 256 KB leaves room for
# very large tokens, and is what a worker may buffer per provider answer at most.
MAX_DOCUMENT_BYTES = 256 * 1024
_CHUNK = 16 * 1024
_REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
# A dropped connection or a body cut short is the provider's (or the network's) passing trouble.
_BROKEN_OFF = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
               urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError)


def fetch_json(http: requests.Session, url: str, timeout: float) -> dict[str, Any]:
    """GET a JSON object, mapping every failure to a provider error that names no secret."""
    try:
        response = http.get(url, timeout=timeout, headers={"Accept": "application/json"}, stream=True)
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"cannot reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        response.close()
        error = ProviderUnavailable if response.status_code >= 500 else ProviderError
        raise error(f"{url} answered HTTP {response.status_code}")
    return json_object(read_body(response, url, timeout), url)


def read_body(response: requests.Response, what: str, timeout: float,
              limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The body of a response fetched with ``stream=True``: at most ``limit`` bytes, within about
    ``timeout`` seconds in all (a provider that trickles cannot hold the worker), then closed."""
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ProviderError(f"{what} answered {declared} bytes; at most {limit} are read")
        deadline = time.monotonic() + timeout
        body = bytearray()
        for chunk in _arriving(response):
            body += chunk
            if len(body) > limit:
                raise ProviderError(f"{what} answered more than {limit} bytes")
            if time.monotonic() > deadline:
                raise ProviderUnavailable(f"{what} answered too slowly")
        return bytes(body)
    except _BROKEN_OFF as exc:
        raise ProviderUnavailable(f"{what} broke off its answer: {type(exc).__name__}") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise ProviderError(f"{what} answered garbage: {type(exc).__name__}") from None
    finally:
        response.close()  # unread bytes are dropped with the connection, never read


def _arriving(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: urllib3 2's ``read1`` returns what is there, where ``iter_content``
    waits for a whole chunk (a trickle of one byte per read timeout would never reach the deadline)."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:  # urllib3 1.x
        yield from response.iter_content(_CHUNK)
        return
    while chunk := read1(_CHUNK, decode_content=True):
        yield chunk


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """A JSON object, or :class:`ProviderError`; non-finite numbers are refused wherever they are."""
    try:
        document = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested deeper than the stack
        raise ProviderError(f"{what} did not answer JSON") from None
    if not isinstance(document, dict):
        raise ProviderError(f"{what} did not answer a JSON object")
    return document


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise ValueError("a number out of range")
    return value


class Metadata:
    """The provider's discovery document, checked against the configured issuer."""

    def __init__(self, issuer: str, http: requests.Session, timeout: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.issuer = issuer
        self.url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self._http = http
        self._timeout = timeout
        self._clock = clock
        self._document: dict[str, Any] | None = None
        self._expires = 0.0
        self._decided_at = 0.0  # when _expires was set: a clock that went back before it expires it
        self._failure: ProviderError | None = None
        self._lock = threading.Lock()

    def _fresh(self, now: float) -> bool:
        return self._decided_at <= now < self._expires

    def get(self) -> dict[str, Any]:
        document = self._document
        if document is not None and self._fresh(self._clock()):
            return document
        with self._lock:
            now = self._clock()
            if self._fresh(now):
                if self._document is None:
                    assert self._failure is not None
                    raise self._failure
                return self._document
            try:
                self._document = self._checked(fetch_json(self._http, self.url, self._timeout))
                self._decided_at, self._expires, self._failure = now, now + METADATA_TTL, None
            except ProviderError as exc:
                self._decided_at, self._expires, self._failure = now, now + RETRY_AFTER_FAILURE, exc
                if self._document is None:
                    log.warning("provider discovery failed: %s", exc.message)
                    raise
                log.warning("discovery refetch failed (%s); keeping the cached document", exc.message)
            return self._document

    def _checked(self, document: dict[str, Any]) -> dict[str, Any]:
        found = document.get("issuer")
        if found != self.issuer:
            hint = ""
            if isinstance(found, str) and found.rstrip("/") == self.issuer.rstrip("/"):
                hint = f"; configure issuer = {found} exactly (the trailing slash matters)"
            raise ProviderError(f"discovery at {self.url} names issuer {found!r}, "
                                f"not the configured {self.issuer!r}{hint}", code="issuer_mismatch")
        for name in _REQUIRED_METADATA:
            if not isinstance(document.get(name), str) or not same_security(document[name], self.issuer):
                raise ProviderError(f"discovery document has no usable {name}")
        return document


def _within(now: float, since: float, seconds: float) -> bool:
    """Whether ``now`` is less than ``seconds`` after ``since``; a clock set back before ``since``
    is not (the wall clock steps: an hour back must not hold a failure or a cool-down for an hour)."""
    return 0 <= now - since < seconds


def _usable_keys(document: dict[str, Any]) -> KeySet:
    """The JWKS's keys that import; one we cannot use is skipped (RFC 7517 §5), none at all raises."""
    entries = document["keys"]
    if not isinstance(entries, list):
        raise ValueError("keys is not a list")
    keys = []
    for entry in entries:
        try:
            keys.extend(KeySet.import_key_set({"keys": [entry]}).keys)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError):
            log.warning("the provider's JWKS holds a key we cannot use; skipping it")
    if not keys and entries:
        raise ValueError("no usable key")
    return KeySet(keys)


def same_security(url: str, issuer: str) -> bool:
    """Endpoints must be https, unless the issuer itself is plain http (loopback tests)."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and issuer.startswith("http://"))


class SigningKeys:
    """The provider's JWKS; an unknown ``kid`` triggers one rate-limited refetch (key rotation)."""

    def __init__(self, jwks_uri: Callable[[], str], http: requests.Session, timeout: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._jwks_uri = jwks_uri
        self._http = http
        self._timeout = timeout
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at, self._valid_for = 0.0, 0.0  # the keys serve until _within(now, these) fails
        self._last_kid_refetch: float | None = None
        self._failure: tuple[float, ProviderError] | None = None
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> KeySet:
        keys = self._keys  # cached and fresh, with the token's key: no waiting on another's refetch
        if (keys is not None and _within(self._clock(), self._fetched_at, self._valid_for)
                and (kid is None or any(key.kid == kid for key in keys.keys))):
            return keys
        with self._lock:
            now = self._clock()
            if self._keys is None and self._failure and _within(now, self._failure[0], RETRY_AFTER_FAILURE):
                raise self._failure[1]  # a down JWKS endpoint is not asked again on every request
            if self._keys is None or not _within(now, self._fetched_at, self._valid_for):
                self._refresh(now)
            elif kid is not None and not self._has(kid) and self._may_refetch_for_kid(now):
                log.info("unknown signing key id; refetching the JWKS once")
                self._last_kid_refetch = now
                self._refresh(now)
            assert self._keys is not None
            return self._keys

    def _may_refetch_for_kid(self, now: float) -> bool:
        last = self._last_kid_refetch
        return last is None or not _within(now, last, UNKNOWN_KID_COOLDOWN)

    def _has(self, kid: str) -> bool:
        assert self._keys is not None
        return any(key.kid == kid for key in self._keys.keys)

    def _refresh(self, now: float) -> None:
        try:
            document = fetch_json(self._http, self._jwks_uri(), self._timeout)
            self._keys = _usable_keys(document)
            self._fetched_at, self._valid_for = now, JWKS_TTL
        except (JoseError, ValueError, TypeError, KeyError):
            self._keep_cached_keys(now, ProviderError("the provider's JWKS holds no usable keys"))
        except ProviderError as exc:
            self._keep_cached_keys(now, exc)

    def _keep_cached_keys(self, now: float, exc: ProviderError) -> None:
        if self._keys is None:
            self._failure = (now, exc)
            raise exc from None
        log.warning("JWKS refetch failed (%s); keeping the cached keys", exc.message)
        self._fetched_at, self._valid_for = now, RETRY_AFTER_FAILURE
