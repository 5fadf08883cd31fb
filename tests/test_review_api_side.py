"""Review of the API side (resource_server, bearer, discovery's caches as the API filter uses them).

Each test here failed on the code it was written against, and names the defect in its docstring.
Tokens are signed with the fake provider's key (kid "k1"), whose discovery and JWKS the filter
fetches over real loopback HTTP; time moves with an injected clock.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

import pytest
import webtest
from joserfc import jwt
from joserfc.jwk import RSAKey

from auth0_wsgi import Auth0Middleware, api_session
from auth0_wsgi.resource_server import CLAIMS, ResourceServerMiddleware
from tests.support.clocks import Clock
from tests.support.fake_provider import AUDIENCE, FakeProvider
from tests.support.flows import addressed_as, log_in, settings_for
from tests.support.servers import serve

SUB = "auth0|alice"
ROTATED_KEY = RSAKey.generate_key(2048, parameters={"kid": "k2"})
HOUR = 3600


@pytest.fixture(autouse=True)
def _no_auth0_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The filter falls back to AUTH0_* variables: none from the developer's shell may leak in."""
    for name in [k for k in os.environ if k.startswith("AUTH0_")]:
        monkeypatch.delenv(name)


def claims_app(environ: dict, start_response: Any) -> list[bytes]:
    data = json.dumps({"claims": environ.get(CLAIMS)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def make_api(fake: FakeProvider, clock: Clock | None = None) -> webtest.TestApp:
    middleware = ResourceServerMiddleware(claims_app, clock=clock or time.time, issuer=fake.issuer,
                                          audience=AUDIENCE, http_timeout=2)
    return webtest.TestApp(middleware)


def sign(fake: FakeProvider, key: RSAKey | None = None, kid: str = "k1") -> str:
    """An access token for this API, valid for two hours of real time (no iat: the tests step clocks)."""
    claims = {"iss": fake.issuer, "sub": SUB, "aud": AUDIENCE, "exp": int(time.time()) + 2 * HOUR,
              "scope": "read:messages"}
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key or fake.key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- a wall clock that steps back (NTP) -----------------------------------------------------------
# The filter's clock is time.time by default: the wall clock, which an NTP step or an operator can
# move back. The caches measure "since" by subtraction, and a negative elapsed time counts as
# "not yet", so a backward step holds whatever the cache last decided for as long as the step.

def test_a_discovery_failure_is_not_remembered_for_as_long_as_the_clock_stepped_back(fake):
    """Was: after a failed discovery, a backward step of the wall clock keeps the API answering
    503 for the whole step (here an hour), long after the provider is back: Metadata.get compares
    ``now < self._expires`` (discovery.py:136, 140) and the failure's expiry lies an hour ahead."""
    clock = Clock(time.time() + HOUR)  # an hour fast: NTP is about to correct it
    api = make_api(fake, clock)
    fake.discovery_status = 500
    api.get("/messages", headers=bearer(sign(fake)), status=503)
    clock.advance(-HOUR)  # the correction
    fake.discovery_status = 200  # the provider is back
    clock.advance(30)  # well past RETRY_AFTER_FAILURE (5 s)
    response = api.get("/messages", headers=bearer(sign(fake)), status="*")
    assert response.status_int == 200, "still 503: the remembered failure outlives its 5 s by an hour"


def test_a_jwks_failure_is_not_remembered_for_as_long_as_the_clock_stepped_back(fake):
    """Was: the same for the JWKS: SigningKeys.get raises the remembered failure while
    ``now - failure_time < RETRY_AFTER_FAILURE`` (discovery.py:194), which a negative elapsed time
    always is: an hour of 503 for every token after a one-request JWKS hiccup and a clock step."""
    clock = Clock(time.time() + HOUR)
    api = make_api(fake, clock)
    fake.jwks_status = 500
    api.get("/messages", headers=bearer(sign(fake)), status=503)
    clock.advance(-HOUR)
    fake.jwks_status = 200
    clock.advance(30)
    response = api.get("/messages", headers=bearer(sign(fake)), status="*")
    assert response.status_int == 200, "still 503: the JWKS failure outlives its 5 s by an hour"


def test_a_rotated_key_is_picked_up_after_the_clock_stepped_back(fake):
    """Was: after an unknown kid spent the refetch, a backward clock step blocks the next
    unknown-kid refetch for the whole step plus the minute (``now - last >= UNKNOWN_KID_COOLDOWN``,
    discovery.py:207): a key rotated meanwhile is refused (401 for every new token) for an hour,
    not for at most a minute as README promises."""
    clock = Clock(time.time() + HOUR)
    api = make_api(fake, clock)
    api.get("/messages", headers=bearer(sign(fake)), status=200)
    api.get("/messages", headers=bearer(sign(fake, ROTATED_KEY, "k2")), status=401)  # spends the refetch
    clock.advance(-HOUR)
    fake.extra_keys = [ROTATED_KEY]  # the provider rotates
    clock.advance(120)  # two minutes later: past the one-minute cool-down
    response = api.get("/messages", headers=bearer(sign(fake, ROTATED_KEY, "k2")), status="*")
    assert response.status_int == 200, response.text
    assert fake.counts["/jwks"] == 3


# -- an unknown kid while the JWKS endpoint is slow ----------------------------------------------
class SlowJwksProvider:
    """Discovery and a JWKS on loopback; once ``slow`` is set, the JWKS answers after ``delay``."""

    def __init__(self, key: RSAKey) -> None:
        self.key, self.issuer, self.slow, self.delay = key, "", False, 1.5

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/jwks":
            if self.slow:
                time.sleep(self.delay)  # real time: a provider that is slow to answer over a real socket
            document: dict[str, Any] = {"keys": [self.key.as_dict(private=False)]}
        else:
            document = {"issuer": self.issuer, "authorization_endpoint": self.issuer + "authorize",
                        "token_endpoint": self.issuer + "token", "jwks_uri": self.issuer + "jwks"}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(document).encode()]


def test_an_unknown_kid_does_not_hold_up_requests_whose_key_is_cached(fake):
    """Was: SigningKeys.get takes its lock for every token and holds it during the JWKS refetch
    an unknown kid starts (discovery.py:192-203), so while the provider's JWKS endpoint is slow
    one request with a made-up kid (once a minute is enough) stalls every request of the worker,
    though their keys are cached, for up to about http_timeout. Discovery has a lock-free path for
    cached answers; the keys have none."""
    provider = SlowJwksProvider(fake.key)
    with serve(provider) as url:
        provider.issuer = url + "/"
        middleware = ResourceServerMiddleware(claims_app, issuer=provider.issuer, audience=AUDIENCE,
                                              http_timeout=5)
        api = webtest.TestApp(middleware)
        claims = {"iss": provider.issuer, "sub": SUB, "aud": AUDIENCE, "exp": int(time.time()) + 600}
        good = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, fake.key)
        made_up = jwt.encode({"alg": "RS256", "kid": "made-up"}, claims, ROTATED_KEY)
        api.get("/messages", headers=bearer(good), status=200)  # the keys are cached
        provider.slow = True
        attacker = threading.Thread(target=lambda: api.get("/messages", headers=bearer(made_up), status=401))
        attacker.start()
        time.sleep(0.3)  # real time: the attacker's refetch is now waiting on the slow JWKS socket
        started = time.monotonic()
        api.get("/messages", headers=bearer(good), status=200)
        waited = time.monotonic() - started
        attacker.join(10)
    assert waited < 0.5, f"a request with a cached key waited {waited:.1f} s for the attacker's refetch"


# -- a JWKS with one key we cannot read -------------------------------------------------------------
def test_one_unreadable_key_does_not_throw_away_the_good_keys_of_the_jwks(fake):
    """Was: a JWKS holding one key joserfc cannot import (here an RSA key with a 1-byte modulus;
    likewise a non-string kid or a bad key_ops) makes KeySet.import_key_set raise, and
    SigningKeys._refresh (discovery.py:216-219) drops the whole set: every valid token gets 503
    (or, after a rotation, the new key is never picked up). RFC 7517 §5: implementations SHOULD
    ignore JWKs they cannot use (joserfc already skips an unknown kty)."""
    broken = {"kty": "RSA", "kid": "next", "n": "AQAB", "e": "AQAB"}
    body = json.dumps({"keys": [fake.key.as_dict(private=False), broken]}).encode()
    fake.raw_answers["/jwks"] = (200, body)
    response = make_api(fake).get("/messages", headers=bearer(sign(fake)), status="*")
    assert response.status_int == 200, response.text
    assert response.json["claims"]["sub"] == SUB


# -- a form body cut short ------------------------------------------------------------------------
def test_a_form_body_cut_short_is_a_4xx_not_a_500(fake):
    """Was: a client that announces a form body and sends less (a Content-Length it does not
    keep, then a half-close) makes the form scan's ``request.body`` (resource_server.py:183) raise
    webob's DisconnectionError out of the filter: the server answers 500 and logs a traceback,
    before any token is looked at. Shown on a real server over a real socket."""
    with serve(make_api(fake).app) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /messages HTTP/1.0\r\nHost: api.test\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 100\r\n\r\nnote=hi")
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 401), answer[:200]


# -- api_session: "one new token and one retry" -------------------------------------------------
class RefusingApi:
    """An API on loopback (misbehaving, or behind a proxy that redirects) that refuses the first
    request as invalid_token, answers each request with a token it has not seen yet with a redirect
    to itself, and refuses a token it has seen."""

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.requests = 0

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        self.requests += 1
        token = environ.get("HTTP_AUTHORIZATION", "")
        if token in self.refused:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return [b""]
        self.refused.add(token)
        if self.requests == 1:  # the first request: its token is refused
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return [b""]
        start_response("307 Temporary Redirect", [("Location", f"/data?hop={self.requests}")])
        return [b""]


def test_api_session_gets_one_new_token_per_call_whatever_the_api_redirects(fake):
    """Was: api_session's "one new token, one retry" is remembered on the retried
    PreparedRequest only (``setattr(retry, _RETRIED, True)``, api.py:103); requests copies a request
    for each redirect it follows and the copy lacks the mark, so an API that answers the retry with
    a redirect to itself and then invalid_token again gets a forced refresh-token grant (a rotation
    of the user's refresh token at the provider) per hop: one view call costs up to 30 grants."""
    target = RefusingApi()
    with serve(target) as url:
        def view(environ: dict, start_response: Any) -> list[bytes]:
            with api_session(environ) as session:
                try:
                    status = session.get(url + "/data", timeout=5).status_code
                except Exception as exc:  # what the view sees, whatever it is
                    status = type(exc).__name__
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"status": status}).encode()]

        app = webtest.TestApp(Auth0Middleware(view, **settings_for(fake)), extra_environ=addressed_as())
        log_in(app)
        grants_before = fake.counts["/token"]
        app.get("/")
    grants = fake.counts["/token"] - grants_before
    assert grants <= 1, f"{grants} grants for one api_session call ({target.requests} requests)"
