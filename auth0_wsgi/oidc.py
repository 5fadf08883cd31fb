"""The only code that talks to the provider: authorize URL, code exchange, refresh, revocation, logout URL.

Discovery and keys are cached (``discovery``). Token and revocation requests are our own POSTs, with
Authlib's client authentication: we stream the answer to read a bounded number of bytes, never
follow a redirect with the client's credentials, and turn whatever comes back into a checked dict
or an error in one place, :func:`token_answers.token_response`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.requests_client.oauth2_session import OAuth2ClientAuth
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, KeySet, OctKey

from . import client_auth, discovery, par, tokens
from .config import Config
from .discovery import Metadata, SigningKeys
from .errors import (
    AudienceRefused,
    Auth0WSGIError,
    GrantRejected,
    ProviderError,
    ProviderUnavailable,
    TokenError,
)
from .logs import get_logger
from .token_answers import token_response
from .transaction import LoginTransaction

log = get_logger(__name__)



class OIDCClient:
    def __init__(self, config: Config, http: requests.Session | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._http = http or _shared_http()
        self._clock = clock
        self.metadata = Metadata(config.issuer, self._http, config.http_timeout, clock)
        self._private_key = (client_auth.load_private_key(config.client_private_key)
                             if config.client_private_key else None)
        self.keys = SigningKeys(lambda: self.metadata.get()["jwks_uri"], self._http, config.http_timeout,
                                clock)

    # -- login -----------------------------------------------------------------------------
    def authorization_params(self, tx: LoginTransaction) -> dict[str, str]:
        """This login's extra ``/authorize`` parameters: ``authorization_params``, ``audience``, then
        what this login asked for itself (``tx.params``: a step-up, an organization, an invitation)."""
        params = dict(self.config.authorization_params)
        if self.config.audience:
            params["audience"] = self.config.audience
        if self.config.organization:  # every login, whoever starts it (a silent one too)
            params["organization"] = self.config.organization
        params.update(tx.params)
        return params

    def authorization_url(self, tx: LoginTransaction, *, push: bool = True) -> str:
        """Where the browser goes for this login: ``/authorize`` with every parameter, or, with PAR
        (``pushed_authorization_requests``), with ``client_id`` and a ``request_uri`` only (see
        :meth:`pushed`; ``push=False``: every parameter, for ``auth0-wsgi check`` to adjust first)."""
        config = self.config
        params = self.authorization_params(tx)
        # One OAuth2Session per call (it holds mutable state), for the URL and PKCE only.
        session = OAuth2Session(config.client_id, redirect_uri=config.redirect_uri,
                                code_challenge_method="S256")
        url, _ = session.create_authorization_url(
            self.metadata.get()["authorization_endpoint"], state=tx.state,
            code_verifier=tx.code_verifier, nonce=tx.nonce, scope=config.scope, **params,
        )
        return self.pushed(str(url)) if push else str(url)

    def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        response = self._token_request(
            grant_type="authorization_code", code=code, code_verifier=code_verifier,
            redirect_uri=self.config.redirect_uri,
        )
        if not isinstance(response.get("id_token"), str):
            raise ProviderError("the token response holds no id_token")
        return response

    def refresh(self, refresh_token: str, *, audience: str | None = None,
                scope: str | None = None) -> dict[str, Any]:
        """A refresh_token grant for the login's API (no scope: a refresh never widens what was
        granted), or with ``audience`` (and ``scope``) for another API of the same login: Auth0's
        Multi-Resource Refresh Token. A provider that refuses that API (any OAuth error but
        ``invalid_client``, and ``invalid_grant``, which says the refresh token itself is dead)
        raises :class:`AudienceRefused`: it spent no refresh token."""
        if audience is None:
            return self._token_request(grant_type="refresh_token", refresh_token=refresh_token)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "audience": audience}
        if scope is not None:
            form["scope"] = scope
        response = self._post(self.metadata.get()["token_endpoint"], form, "the token endpoint")
        body = discovery.read_body(response, "the token endpoint", self.config.http_timeout)
        try:
            return token_response(response.status_code, body, "refresh_token")
        except (GrantRejected, ProviderError) as exc:
            if isinstance(exc, GrantRejected) and exc.error == "invalid_grant":
                raise  # the refresh token itself is dead (revoked, expired, reused): as for the login's
            # A 4xx with an OAuth error (Auth0: 403 access_denied): not a 4xx page (ProviderUnavailable)
            status = response.status_code
            if not (isinstance(exc, GrantRejected) or (400 <= status < 500 and exc.code != "invalid_client"
                                                      and not isinstance(exc, ProviderUnavailable))):
                raise
            error = exc.error if isinstance(exc, GrantRejected) else f"HTTP {status}"
            raise AudienceRefused(f"The sign-in provider refused an access token for the API {audience} "
                                  f"({error}).", audience=audience) from None

    def pushed(self, url: str) -> str:
        """``url`` (an authorization URL) as the browser gets it. With PAR (RFC 9126), its parameters
        are POSTed with our client authentication, and the browser gets ``client_id`` and the
        ``request_uri`` the provider answers instead; raises a 502/503 naming the PAR endpoint."""
        metadata = self.metadata.get()
        if not par.wanted(self.config.pushed_authorization_requests, metadata):
            return url
        form = par.form(url, self.config.token_endpoint_auth_method)
        response = self._post(par.endpoint(metadata, self.config.issuer), form, par.WHAT)
        body = discovery.read_body(response, par.WHAT, self.config.http_timeout)
        return par.browser_url(metadata["authorization_endpoint"], self.config.client_id,
                               par.request_uri(response.status_code, body))

    # -- tokens ----------------------------------------------------------------------------
    def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """Signature (pinned algorithm, JWKS), then every claim rule of ``tokens``, the configured
        ``organization`` included (at login and after each refresh; an invitation's organization
        is the callback's to check, against its login's transaction)."""
        claims = self._verified_claims(id_token, "ID token")
        tokens.check_id_token_claims(
            claims, issuer=self.config.issuer, client_id=self.config.client_id, nonce=nonce,
            now=int(self._clock()), leeway=self.config.clock_skew,
        )
        tokens.check_organization(claims, self.config.organization)
        return claims

    def verify_logout_token(self, logout_token: str) -> dict[str, Any]:
        """A back-channel logout token: signed like ID tokens, with its own claim rules."""
        claims = self._verified_claims(logout_token, "logout token")
        tokens.check_logout_token_claims(
            claims, issuer=self.config.issuer, client_id=self.config.client_id,
            now=int(self._clock()), leeway=self.config.clock_skew,
        )
        return claims

    def _verified_claims(self, token: str, what: str) -> dict[str, Any]:
        if len(token) > tokens.MAX_TOKEN_LENGTH:
            raise TokenError(f"{what} rejected: too large")
        try:
            decoded = jwt.decode(token, self._key_for, algorithms=[self.config.id_token_signing_alg])
        except JoseError as exc:
            raise TokenError(f"{what} rejected: {exc.error}") from None
        except (ValueError, TypeError, RecursionError):  # RecursionError: a header nested "[[[[…"
            raise TokenError(f"{what} rejected: malformed") from None
        return dict(decoded.claims)

    def _key_for(self, guest: GuestProtocol) -> KeySet | OctKey:
        if self.config.id_token_signing_alg == "HS256":
            key: OctKey = OctKey.import_key(self.config.client_secret.encode("utf-8"))
            return key
        kid = guest.headers().get("kid")
        return self.keys.get(kid if isinstance(kid, str) else None)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """``fetch_userinfo``: the UserInfo endpoint's JSON object, untrusted: read like a token answer
        (bounded, checked); the caller compares its ``sub``. Unreachable or a 5xx raise
        :class:`ProviderUnavailable`, anything else unusable :class:`ProviderError`."""
        endpoint, what = self.metadata.get().get("userinfo_endpoint"), "the userinfo endpoint"
        if not isinstance(endpoint, str) or not discovery.same_security(endpoint, self.config.issuer):
            raise ProviderError("the provider advertises no usable userinfo_endpoint (fetch_userinfo)")
        try:  # never follow a redirect: the token would go with it
            headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
            response = self._http.get(endpoint, headers=headers, timeout=self.config.http_timeout,
                                      stream=True, allow_redirects=False)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{what} is unreachable: {type(exc).__name__}") from None
        # 64 KB: far more than any profile, and more than a session cookie could ever hold.
        body = discovery.read_body(response, what, self.config.http_timeout, limit=64 * 1024)
        if response.status_code != 200:
            error = ProviderUnavailable if response.status_code >= 500 else ProviderError
            raise error(f"{what} answered HTTP {response.status_code}")
        return discovery.json_object(body, what)

    # -- logout ----------------------------------------------------------------------------
    def logout_url(self, id_token: str | None, return_to: str) -> str:
        """RP-initiated logout, or Auth0's /v2/logout when discovery has no end-session endpoint."""
        endpoint = self.metadata.get().get("end_session_endpoint")
        if isinstance(endpoint, str) and endpoint:
            params = {"client_id": self.config.client_id, "post_logout_redirect_uri": return_to}
            if id_token:
                params["id_token_hint"] = id_token
            return str(add_params_to_uri(endpoint, list(params.items())))
        query = urlencode({"client_id": self.config.client_id, "returnTo": return_to})
        return f"{self.config.issuer.rstrip('/')}/v2/logout?{query}"

    def revoke_refresh_token(self, refresh_token: str) -> bool:
        """RFC 7009 at discovery's ``revocation_endpoint`` (Auth0: /oauth/revoke), best effort within
        ``http_timeout``: whatever goes wrong is logged (without the token) and gives False."""
        try:
            endpoint = self.metadata.get().get("revocation_endpoint")
            if not isinstance(endpoint, str) or not discovery.same_security(endpoint, self.config.issuer):
                log.info("the provider advertises no usable revocation_endpoint: the refresh token "
                         "stays valid at the provider until it expires")
                return False
            response = self._post(endpoint, {"token": refresh_token, "token_type_hint": "refresh_token"},
                                  "the revocation endpoint")
            response.close()  # RFC 7009: the status says it all
        except Exception as exc:  # nothing may stop a logout
            reason = exc.message if isinstance(exc, Auth0WSGIError) else type(exc).__name__
            log.warning("could not revoke the refresh token at logout (%s)", reason)
            return False
        if response.status_code != 200:
            log.warning("the revocation endpoint answered HTTP %d: the refresh token may still be valid",
                        response.status_code)
            return False
        log.debug("logout: refresh token revoked at the provider")
        return True

    # -- plumbing --------------------------------------------------------------------------
    def _token_request(self, **form: str) -> dict[str, Any]:
        endpoint = self.metadata.get()["token_endpoint"]
        response = self._post(endpoint, form, "the token endpoint")
        body = discovery.read_body(response, "the token endpoint", self.config.http_timeout)
        return token_response(response.status_code, body, form["grant_type"])

    def _post(self, url: str, form: dict[str, str], what: str) -> requests.Response:
        """A form POST authenticated like every request to the provider; the body is left unread."""
        try:
            return self._http.post(url, data=form, auth=self._client_auth(), timeout=self.config.http_timeout,
                                   headers={"Accept": "application/json"}, stream=True,
                                   allow_redirects=False)  # a redirect would carry our credentials away
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise ProviderUnavailable(f"{what} is unreachable: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise ProviderError(f"{what} could not be asked: {type(exc).__name__}") from None

    def _client_auth(self) -> OAuth2ClientAuth:
        config = self.config
        method: Any = config.token_endpoint_auth_method  # client_secret_post: Authlib's own
        if method == "client_secret_basic":
            method = client_auth.client_secret_basic
        elif method == "private_key_jwt" and self._private_key is not None:
            method = client_auth.private_key_jwt(self._private_key, config.issuer,
                                                 config.client_private_key_id, self._clock)
        return OAuth2ClientAuth(config.client_id, config.client_secret, auth_method=method)


def _shared_http() -> requests.Session:
    http = requests.Session()
    # Every user's token requests share it: a cookie the provider sets must not ride along on the next.
    http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return http
