"""A small OpenID provider of our own that can misbehave on purpose.

The real provider (node-oidc-provider) is what the end-to-end tests use; this one exists for the
failures a certified provider will not produce: a bad signature, a wrong issuer, a token endpoint
that answers HTML or hangs. It speaks real HTTP on loopback, so the middleware's whole I/O path runs.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from webob import Request, Response

CLIENT_ID = "fake-client"
CLIENT_SECRET = "fake-secret:with%odd+chars-0123456789abcdef"
AUDIENCE = "https://api.example.com"
MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
HUGE_BODY_BYTES = 50 * 1024 * 1024  # what a path in ``huge_paths`` answers, produced lazily


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    scope: str
    sub: str
    claims: dict[str, Any] = field(default_factory=dict)  # what this login earned: see _login_claims


@dataclass
class FakeProvider:
    """Knobs are plain attributes; :meth:`reset` puts every one back between tests."""

    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    counts: Counter = field(default_factory=Counter)
    auth_method: str = "client_secret_post"
    access_token_ttl: int = 3600

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.counts.clear()
        self.access_token_ttl = 3600
        self.auth_method = "client_secret_post"
        self.client_public_key: Any = None  # for private_key_jwt
        self.seen_assertion_ids: set[str] = set()
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, str] = {}  # token -> sub
        self.discovery_overrides: dict[str, Any] = {}
        self.discovery_status = 200
        self.jwks_status = 200
        self.extra_keys: list[RSAKey] = []
        self.token_mode = "ok"  # ok | 500 | html | truncated | error:<code>; slow: token_delay
        self.token_delay = 0.0
        self.id_token_claims: Callable[[dict[str, Any]], dict[str, Any]] = lambda claims: claims
        self.id_token_header: dict[str, Any] = {}
        self.sign_with: RSAKey | None = None
        self.omit_iss = False
        self.iss_override: str | None = None
        self.sub = "auth0|alice"
        self.refresh_sub: str | None = None  # set: refreshes answer for this user (a misbehaving provider)
        self.last_authorize: dict[str, str] = {}
        self.last_token_request: dict[str, str] = {}
        self.last_authorization_header = ""
        self.token_answer: tuple[int, bytes] | None = None  # set: the token endpoint answers exactly this
        self.raw_answers: dict[str, tuple[int, bytes]] = {}  # path -> (status, JSON body) answered as is
        self.huge_paths: set[str] = set()  # these paths answer HUGE_BODY_BYTES, streamed as they are read
        self.huge_declares_length = False  # with a Content-Length header, or until the connection closes
        self.huge_bytes_sent = 0  # how much of the huge bodies the server really wrote
        self.revoked: list[str] = []  # tokens the revocation endpoint revoked
        self.revoke_status = 200
        self.revoke_delay = 0.0
        self.last_revoke_request: dict[str, str] = {}
        self.userinfo_claims: dict[str, Any] = {}  # added to (or replacing) /userinfo's answer
        self.last_userinfo_authorization = ""
        # PAR (RFC 9126) at /oauth/par, always advertised; /authorize takes its request_uri once.
        self.pushed: dict[str, dict[str, str]] = {}  # request_uri -> the parameters pushed
        self.last_par_request: dict[str, str] = {}
        self.last_par_items: list[tuple[str, str]] = []
        self.par_delay = 0.0  # seconds the PAR endpoint waits before answering (real time)
        self.require_par = False  # /authorize refuses parameters that were not pushed
        # prompt=none: with a provider session the login completes as usual; without, the
        # provider answers prompt_none_error (login_required, consent_required…).
        self.has_session = True
        self.prompt_none_error = "login_required"
        # Step-up: with honour_step_up, ID tokens carry auth_time (when the user last authenticated,
        # read from ``clock``), renewed by acr_values or an exceeded max_age; acr_values naming
        # MFA_POLICY earns acr and amr ["pwd", "mfa"]. Kept by refreshes, as Auth0 does.
        self.honour_step_up = False
        self.auth_time: int | None = None
        self.clock: Callable[[], float] = time.time
        # Organizations (id -> name): organization=<id or name> earns org_id and org_name; an
        # unknown one is refused (invalid_request), as Auth0 does. Empty: the parameter is ignored.
        self.organizations: dict[str, str] = {}
        self.refresh_claims: dict[str, dict[str, Any]] = {}  # refresh token -> its login's claims
        # Multi-Resource Refresh Token: a refresh grant with audience= (and scope=) for one of these
        # APIs (or AUDIENCE) gets a token with that aud; any other -> 403 access_denied, the refresh
        # token unspent (as Auth0). refresh_grants lists each grant's audience (None: no audience=).
        self.mrrt_audiences: set[str] = set()
        self.mrrt_fallback = False  # True: another audience gets the login's API's token instead
        self.refresh_grants: list[str | None] = []
        self.spent_refresh_tokens: set[str] = set()
        self.refresh_reuses = 0  # spent refresh tokens presented again (Auth0: reuse detection)
        self.refresh_hold = 0.0  # seconds each refresh grant takes (real time), to widen races
        self.refresh_in_flight = self.max_refresh_in_flight = 0

    # -- the WSGI app -----------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        route = {
            "/.well-known/openid-configuration": self._discovery,
            "/jwks": self._jwks,
            "/authorize": self._authorize,
            "/token": self._token,
            "/logout": self._logout,
            "/oauth/revoke": self._revoke,
            "/userinfo": self._userinfo,
            "/oauth/par": self._par,
        }.get(request.path_info)
        self.counts[request.path_info] += 1
        if request.path_info in self.huge_paths:
            return self._huge(start_response)
        if request.path_info in self.raw_answers:
            status, body = self.raw_answers[request.path_info]
            response = Response(status=status, content_type="application/json", body=body)
            return response(environ, start_response)
        response = route(request) if route else Response(status=404)
        return response(environ, start_response)

    def _discovery(self, request: Request) -> Response:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "authorize",
            "token_endpoint": self.issuer + "token",
            "jwks_uri": self.issuer + "jwks",
            "end_session_endpoint": self.issuer + "logout",
            "revocation_endpoint": self.issuer + "oauth/revoke",
            "userinfo_endpoint": self.issuer + "userinfo",
            "pushed_authorization_request_endpoint": self.issuer + "oauth/par",
            "authorization_response_iss_parameter_supported": True,
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        document.update(self.discovery_overrides)
        document = {k: v for k, v in document.items() if v is not None}
        return Response(json=document, status=self.discovery_status)

    def _jwks(self, request: Request) -> Response:
        keys = [k.as_dict(private=False) for k in [self.key, *self.extra_keys]]
        return Response(json={"keys": keys}, status=self.jwks_status)

    def _authorize(self, request: Request) -> Response:
        params = {k: request.GET[k] for k in request.GET}
        self.last_authorize = params
        if "request_uri" in params or self.require_par:
            with self._lock:
                pushed = self.pushed.pop(params.get("request_uri", ""), None)
            if pushed is None or pushed.get("client_id", CLIENT_ID) != params.get("client_id"):
                return _oauth_error("invalid_request_uri")
            params = pushed
        if params.get("prompt") == "none" and not self.has_session:
            query = {"error": self.prompt_none_error, "state": params.get("state", ""), "iss": self.issuer}
            return Response(status=302, location=f"{params.get('redirect_uri')}?{urlencode(query)}")
        earned = self._login_claims(params)
        if earned is None:
            query = {"error": "invalid_request", "error_description": "no such organization",
                     "state": params.get("state", ""), "iss": self.issuer}
            return Response(status=302, location=f"{params.get('redirect_uri')}?{urlencode(query)}")
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(params.get("client_id", ""), params.get("redirect_uri", ""),
                                 params.get("nonce"), params.get("code_challenge"), params.get("scope", ""),
                                 self.sub, earned)
        query = {"code": code, "state": params.get("state", "")}
        if not self.omit_iss:
            query["iss"] = self.iss_override or self.issuer
        return Response(status=302, location=f"{params.get('redirect_uri')}?{urlencode(query)}")

    def _login_claims(self, params: dict[str, str]) -> dict[str, Any] | None:
        """The claims a login with these /authorize parameters earns (None: refused)."""
        claims: dict[str, Any] = {}
        organization = params.get("organization")
        if organization is not None and self.organizations:
            found = [(org_id, name) for org_id, name in self.organizations.items()
                     if organization == org_id or organization.lower() == name.lower()]
            if not found:
                return None
            claims["org_id"], claims["org_name"] = found[0]
        if self.honour_step_up:
            now, acr_values = int(self.clock()), params.get("acr_values", "").split()
            max_age = params.get("max_age")
            if self.auth_time is None or acr_values or (max_age and now - self.auth_time > int(max_age)):
                self.auth_time = now  # the user authenticates (again)
            claims["auth_time"] = self.auth_time
            if MFA_POLICY in acr_values:
                claims.update(acr=MFA_POLICY, amr=["pwd", "mfa"])
        return claims

    def _logout(self, request: Request) -> Response:
        return Response(status=302, location=request.GET.get("post_logout_redirect_uri", self.issuer))

    def _revoke(self, request: Request) -> Response:
        """RFC 7009: the same client authentication as the token endpoint; 200 even for unknown tokens."""
        if self.revoke_delay:  # answers late and changes nothing: the caller has given up (and the
            time.sleep(self.revoke_delay)  # next test may be running by then)
            return Response(status=200)
        form = {k: request.POST[k] for k in request.POST}
        self.last_revoke_request = form
        if self.revoke_status != 200:
            return Response(status=self.revoke_status, body=b"revocation is down")
        if not self._client_ok(request, form):
            return _oauth_error("invalid_client", 401)
        with self._lock:
            if self.refresh_tokens.pop(form.get("token", ""), None) is not None:
                self.revoked.append(form["token"])
        return Response(status=200)

    def _par(self, request: Request) -> Response:
        """RFC 9126: the authorization parameters, with the token endpoint's client authentication."""
        if self.par_delay:
            time.sleep(self.par_delay)  # real time: a slow provider, against the real http_timeout
            return Response(status=201, json={"request_uri": "urn:late", "expires_in": 60})
        form = {k: request.POST[k] for k in request.POST}
        self.last_par_request = form
        self.last_par_items = list(request.POST.items())  # a parameter sent twice shows here
        self.last_authorization_header = request.headers.get("Authorization", "")
        if not self._client_ok(request, form):
            return _oauth_error("invalid_client", 401)
        if "request_uri" in form or not form.get("redirect_uri"):
            return _oauth_error("invalid_request")
        uri = "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(16)
        params = {k: v for k, v in form.items() if k not in ("client_secret", "client_assertion",
                                                              "client_assertion_type")}
        params["client_id"] = CLIENT_ID
        with self._lock:
            self.pushed[uri] = params
        return Response(status=201, json={"request_uri": uri, "expires_in": 60})

    def _userinfo(self, request: Request) -> Response:
        """OIDC Core §5.3: the profile of the access token's user, with ``userinfo_claims`` over it."""
        self.last_userinfo_authorization = request.headers.get("Authorization", "")
        try:
            token = jwt.decode(self.last_userinfo_authorization.removeprefix("Bearer "), self.key)
        except Exception:
            return Response(status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        answer = {"sub": token.claims["sub"], "name": "Alice Example", "nickname": "alice",
                  "email": "alice@example.com", "email_verified": True}
        return Response(json={**answer, **self.userinfo_claims})

    def _huge(self, start_response: Callable) -> Iterator[bytes]:
        headers = [("Content-Type", "application/json")]
        if self.huge_declares_length:
            headers.append(("Content-Length", str(HUGE_BODY_BYTES)))
        start_response("200 OK", headers)
        return self._huge_chunks()

    def _huge_chunks(self) -> Iterator[bytes]:
        # The server writes each chunk before asking for the next, and stops when the client hangs up:
        # what is counted here is what the client could have read (plus the socket buffers).
        chunk = b"[" * 64 * 1024
        for _ in range(HUGE_BODY_BYTES // len(chunk)):
            self.huge_bytes_sent += len(chunk)
            yield chunk

    # -- the token endpoint -----------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        form = {k: request.POST[k] for k in request.POST}
        self.last_token_request = form
        self.last_authorization_header = request.headers.get("Authorization", "")
        self.counts["grant:" + form.get("grant_type", "")] += 1
        broken = self._misbehave()
        if broken is not None:
            return broken
        if not self._client_ok(request, form):
            return _oauth_error("invalid_client", 401)
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        if form.get("grant_type") == "refresh_token":
            return self._refresh_grant(form)
        return _oauth_error("unsupported_grant_type")

    def _misbehave(self) -> Response | None:
        if self.token_delay:
            time.sleep(self.token_delay)  # real time: a slow provider, against the real http_timeout
        if self.token_answer is not None:
            status, body = self.token_answer
            return Response(status=status, content_type="application/json", body=body)
        mode = self.token_mode
        if mode == "500":
            return Response(status=500, body=b"Internal Server Error")
        if mode == "html":
            return Response(status=200, content_type="text/html", body=b"<html>maintenance</html>")
        if mode == "truncated":
            return Response(status=200, content_type="application/json", body=b'{"access_token": "abc')
        if mode.startswith("error:"):
            return _oauth_error(mode.split(":", 1)[1])
        return None

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        if self.auth_method == "private_key_jwt":
            return self._assertion_ok(form)
        if self.auth_method == "client_secret_basic":
            header = request.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return unquote(client_id) == CLIENT_ID and unquote(secret) == CLIENT_SECRET
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _assertion_ok(self, form: dict[str, str]) -> bool:
        """RFC 7523: a JWT signed by the client's registered key, for us, fresh, used once."""
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return False
        try:
            token = jwt.decode(form.get("client_assertion", ""), self.client_public_key,
                               algorithms=["RS256", "ES256"])
        except Exception:
            return False
        claims = token.claims
        fresh = claims.get("exp", 0) > time.time() and claims.get("jti") not in self.seen_assertion_ids
        self.seen_assertion_ids.add(claims.get("jti"))
        return (claims.get("iss") == claims.get("sub") == CLIENT_ID == form.get("client_id")
                and claims.get("aud") == self.issuer and fresh and "client_secret" not in form)

    def _code_grant(self, form: dict[str, str]) -> Response:
        with self._lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return _oauth_error("invalid_grant")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant.challenge != challenge:
            return _oauth_error("invalid_grant")
        earned = (grant.claims,) if grant.claims else ()  # tests wrap _tokens(nonce, offline, sub)
        return self._tokens(grant.nonce, "offline_access" in grant.scope.split(), grant.sub, *earned)

    def _refresh_grant(self, form: dict[str, str]) -> Response:
        token, audience = form.get("refresh_token", ""), form.get("audience")
        if audience is not None and audience not in {AUDIENCE, *self.mrrt_audiences}:
            if not self.mrrt_fallback:
                return _oauth_error("access_denied", 403)
            audience = None  # what Auth0 is said to do outside the MRRT policy: the default audience
        with self._lock:
            self.refresh_in_flight += 1
            self.max_refresh_in_flight = max(self.max_refresh_in_flight, self.refresh_in_flight)
        time.sleep(self.refresh_hold)
        with self._lock:
            self.refresh_in_flight -= 1
            sub = self.refresh_tokens.pop(token, None)
            earned = self.refresh_claims.pop(token, {})
            self.refresh_reuses += sub is None and token in self.spent_refresh_tokens
            self.spent_refresh_tokens.add(token)
            if sub is not None:
                self.refresh_grants.append(audience)
        if sub is None:
            return _oauth_error("invalid_grant")
        response = self._tokens(None, True, self.refresh_sub or sub, *((earned,) if earned else ()))
        if audience is not None:  # an MRRT grant: the token of that API
            body = response.json
            body["access_token"] = self.api_access_token(self.refresh_sub or sub, audience, form.get("scope"))
            response.json = body
        return response

    def _tokens(self, nonce: str | None, offline: bool, sub: str | None = None,
                earned: dict[str, Any] | None = None) -> Response:
        now = int(time.time())
        sub = sub or self.sub
        body: dict[str, Any] = {
            "access_token": self.access_token(now, sub),
            # Without earned claims, as before: tests wrap id_token(nonce, now, sub) to record or forge it.
            "id_token": self.id_token(nonce, now, sub, earned) if earned else self.id_token(nonce, now, sub),
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
        }
        if offline:
            body["refresh_token"] = secrets.token_urlsafe(24)
            self.refresh_tokens[body["refresh_token"]] = sub
            self.refresh_claims[body["refresh_token"]] = earned or {}
        return Response(json=body, headers={"Cache-Control": "no-store"})

    def id_token(self, nonce: str | None, now: int, sub: str | None = None,
                 earned: dict[str, Any] | None = None) -> str:
        claims = {"iss": self.issuer, "sub": sub or self.sub, "aud": CLIENT_ID, "iat": now, "exp": now + 3600,
                  "name": "Alice Example", "email": "alice@example.com", "sid": "sid-1", **(earned or {})}
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"alg": "RS256", "kid": "k1", **self.id_token_header}
        return jwt.encode(header, self.id_token_claims(claims), self.sign_with or self.key,
                          algorithms=[header["alg"]])

    def access_token(self, now: int, sub: str | None = None) -> str:
        claims = {"iss": self.issuer, "sub": sub or self.sub, "aud": [AUDIENCE, self.issuer + "userinfo"],
                  "iat": now, "exp": now + self.access_token_ttl, "scope": "openid profile read:messages",
                  "jti": secrets.token_hex(8)}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)


    def api_access_token(self, sub: str, audience: str, scope: str | None) -> str:
        """An access token for ``audience`` alone (an MRRT grant), with the ``scope`` asked."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": audience, "iat": now,
                  "exp": now + self.access_token_ttl, "scope": scope or "read:default",
                  "jti": secrets.token_hex(8)}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)


def _oauth_error(error: str, status: int = 400) -> Response:
    return Response(json={"error": error, "error_description": f"fake {error}"}, status=status)


@dataclass
class Issued:
    """Every ID and access token the fake provider signed during a test (the ``issued`` fixture)."""

    id_tokens: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)
