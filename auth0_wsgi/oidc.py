"""The only code that talks to the provider: authorize URL, code exchange, refresh, logout URL.

Discovery and keys are cached (``discovery``); the token endpoint is called through Authlib's
``OAuth2Session``, one per call because it holds a mutable token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, KeySet, OctKey

from . import client_auth, tokens
from .config import Config
from .discovery import Metadata, SigningKeys
from .errors import GrantRejected, ProviderError, ProviderUnavailable, TokenError
from .logs import get_logger
from .transaction import LoginTransaction

log = get_logger(__name__)

# Errors by which the token endpoint refuses *this* grant; anything else is the provider's trouble.
_GRANT_ERRORS = frozenset({"invalid_grant", "invalid_request", "unauthorized_client", "invalid_scope",
                           "unsupported_grant_type", "invalid_target"})


class OIDCClient:
    def __init__(self, config: Config, http: requests.Session | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._http = http or requests.Session()
        self._clock = clock
        self.metadata = Metadata(config.issuer, self._http, config.http_timeout)
        self._private_key = (client_auth.load_private_key(config.client_private_key)
                             if config.client_private_key else None)
        self.keys = SigningKeys(lambda: self.metadata.get()["jwks_uri"], self._http, config.http_timeout)

    # -- login -----------------------------------------------------------------------------
    def authorization_url(self, tx: LoginTransaction) -> str:
        config = self.config
        params = dict(config.authorization_params)
        if config.audience:
            params["audience"] = config.audience
        url, _ = self._session().create_authorization_url(
            self.metadata.get()["authorization_endpoint"], state=tx.state,
            code_verifier=tx.code_verifier, nonce=tx.nonce, scope=config.scope, **params,
        )
        return url

    def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        response = self._token_request(
            grant_type="authorization_code", code=code, code_verifier=code_verifier,
            redirect_uri=self.config.redirect_uri,
        )
        if not isinstance(response.get("id_token"), str):
            raise ProviderError("the token response holds no id_token")
        return response

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self._token_request(grant_type="refresh_token", refresh_token=refresh_token)

    # -- tokens ----------------------------------------------------------------------------
    def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """Signature (pinned algorithm, JWKS), then every claim rule of ``tokens``."""
        claims = self._verified_claims(id_token, "ID token")
        tokens.check_id_token_claims(
            claims, issuer=self.config.issuer, client_id=self.config.client_id, nonce=nonce,
            now=int(self._clock()), leeway=self.config.clock_skew,
        )
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
        except (ValueError, TypeError):
            raise TokenError(f"{what} rejected: malformed") from None
        return dict(decoded.claims)

    def _key_for(self, guest: GuestProtocol) -> KeySet | OctKey:
        if self.config.id_token_signing_alg == "HS256":
            return OctKey.import_key(self.config.client_secret.encode("utf-8"))
        kid = guest.headers().get("kid")
        return self.keys.get(kid if isinstance(kid, str) else None)

    # -- logout ----------------------------------------------------------------------------
    def logout_url(self, id_token: str | None, return_to: str) -> str:
        """RP-initiated logout, or Auth0's /v2/logout when discovery has no end-session endpoint."""
        endpoint = self.metadata.get().get("end_session_endpoint")
        if isinstance(endpoint, str) and endpoint:
            params = {"client_id": self.config.client_id, "post_logout_redirect_uri": return_to}
            if id_token:
                params["id_token_hint"] = id_token
            return add_params_to_uri(endpoint, list(params.items()))
        query = urlencode({"client_id": self.config.client_id, "returnTo": return_to})
        return f"{self.config.issuer.rstrip('/')}/v2/logout?{query}"

    # -- plumbing --------------------------------------------------------------------------
    def _session(self) -> OAuth2Session:
        config = self.config
        session = OAuth2Session(
            config.client_id, config.client_secret,  # no default scope: a refresh never widens it
            token_endpoint_auth_method=config.token_endpoint_auth_method,
            redirect_uri=config.redirect_uri, code_challenge_method="S256",
        )
        session.register_client_auth_method(("client_secret_basic", client_auth.client_secret_basic))
        if self._private_key is not None:
            session.register_client_auth_method(("private_key_jwt", client_auth.private_key_jwt(
                self._private_key, config.issuer, config.client_private_key_id, self._clock)))
        return session

    def _token_request(self, **params: str) -> dict[str, Any]:
        endpoint = self.metadata.get()["token_endpoint"]
        grant_type = params.pop("grant_type")
        session = self._session()
        try:
            if grant_type == "refresh_token":
                token = session.refresh_token(endpoint, timeout=self.config.http_timeout, **params)
            else:
                token = session.fetch_token(endpoint, grant_type=grant_type,
                                            timeout=self.config.http_timeout, **params)
        except OAuthError as exc:
            if exc.error == "invalid_client":  # our configuration, not the user's login: say what to fix
                log.error("the token endpoint refused our client authentication: check client_id and "
                          "the client secret or private key (token_endpoint_auth_method)")
                raise ProviderError("The sign-in provider refused this application's credentials.",
                                    code="invalid_client") from None
            if exc.error in _GRANT_ERRORS:
                raise GrantRejected(f"the provider refused the {grant_type} grant: {exc.error}",
                                    error=exc.error) from None
            raise ProviderError(f"the token endpoint answered error {exc.error}") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise ProviderUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            raise ProviderUnavailable(f"token endpoint answered HTTP {status}") from None
        except (requests.RequestException, ValueError) as exc:
            raise ProviderError(f"token endpoint answered garbage: {type(exc).__name__}") from None
        finally:
            session.close()
        return _checked_token_response(dict(token))


def _checked_token_response(token: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ProviderError("the token response holds no access_token")
    if str(token.get("token_type", "")).lower() != "bearer":
        raise ProviderError("the token response is not of token_type Bearer")
    for name in ("id_token", "refresh_token"):
        if name in token and not isinstance(token[name], str):
            raise ProviderError(f"the token response's {name} is not a string")
    return token
