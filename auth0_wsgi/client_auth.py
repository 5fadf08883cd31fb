"""How the client authenticates at the token endpoint, beyond what Authlib does right.

- ``client_secret_basic``: RFC 6749 §2.3.1 form-urlencodes id and secret *before* Base64; Authlib's
  built-in does not, and strict providers then refuse a secret containing ``%``, ``+`` or ``:``.
- ``private_key_jwt`` (RFC 7523, OIDC Core §9): a short-lived JWT signed with the client's private
  key, audience the issuer (what Auth0 expects; node-oidc-provider accepts it too). No shared
  secret travels at all.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from authlib.common.urls import add_params_to_qs
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 60
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}  # what JWS can sign with (RFC 7518)


def client_secret_basic(client: Any, method: str, uri: str, headers: dict[str, str],
                        body: str) -> tuple[str, dict[str, str], str]:
    pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
    headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return uri, headers, body


def load_private_key(value: str) -> RSAKey | ECKey:
    """A PEM (or the absolute path of a PEM file) holding an RSA or EC private key; ValueError if not."""
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        if not os.path.isabs(text) or not os.path.isfile(text):
            raise ValueError("is neither a PEM private key nor the absolute path of a PEM file")
        try:
            with open(text, "rb") as handle:
                text = handle.read().decode("ascii", "replace")
        except OSError as exc:
            raise ValueError(f"cannot read {text}: {exc.strerror or type(exc).__name__}") from None
    for kind in (RSAKey, ECKey):
        try:
            key: RSAKey | ECKey = kind.import_key(text)
        except (JoseError, ValueError, TypeError):
            continue
        if not key.is_private:
            raise ValueError("holds a public key: private_key_jwt needs the private key")
        if isinstance(key, ECKey) and key.curve_name not in _EC_ALGORITHMS:
            raise ValueError(f"holds an EC key on {key.curve_name}: use P-256, P-384 or P-521")
        return key
    raise ValueError("holds no RSA or EC private key")


def signing_alg(key: RSAKey | ECKey) -> str:
    if isinstance(key, RSAKey):
        return "RS256"
    return _EC_ALGORITHMS[key.curve_name]


def private_key_jwt(key: RSAKey | ECKey, audience: str, kid: str | None,
                    clock: Callable[[], float] = time.time) -> Callable[..., tuple[str, dict[str, str], str]]:
    """An Authlib client-auth method that adds a fresh client assertion to each token request."""
    header = {"alg": signing_alg(key), "typ": "JWT", **({"kid": kid} if kid else {})}

    def authenticate(client: Any, method: str, uri: str, headers: dict[str, str],
                     body: str) -> tuple[str, dict[str, str], str]:
        now = int(clock())
        claims = {"iss": client.client_id, "sub": client.client_id, "aud": audience,
                  "iat": now, "exp": now + ASSERTION_LIFETIME, "jti": secrets.token_urlsafe(24)}
        assertion = jwt.encode(header, claims, key, algorithms=[header["alg"]])
        body = add_params_to_qs(body or "", [("client_id", client.client_id),
                                             ("client_assertion_type", ASSERTION_TYPE),
                                             ("client_assertion", assertion)])
        return uri, headers, body

    return authenticate
