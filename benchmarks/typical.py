"""What a typical Auth0 session looks like, for the fake provider of the test suite.

A Regular Web App that calls its own API gets from Auth0: an ID token with the ``profile email``
claims (a picture URL, no ``app_metadata``), an RS256 JWT access token for the API of ~900 bytes
(namespaced custom claims, ``permissions``) and a refresh token. The benchmarks and
``tests/test_counts.py`` log in with this profile: its session cookie is ~2.1 KB (a real tenant's
longer issuer URL and ``kid`` add a little).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from joserfc import jwt

from auth0_wsgi.sealing import b64decode
from tests.support.fake_provider import CLIENT_ID, FakeProvider

SUB = "auth0|6650c1f0e4b2a1d3c9f8e7a6"
PICTURE = ("https://s.gravatar.com/avatar/7c5e2e8e0f7b1a8d3f4c6b9a2e1d0c3b?s=480&r=pg"
           "&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fal.png")


def profile_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The ID token's claims as Auth0 sends them for ``openid profile email``."""
    return {**claims, "given_name": "Alice", "family_name": "Example", "nickname": "alice.example",
            "name": "Alice Example", "picture": PICTURE, "locale": "en",
            "updated_at": "2025-05-14T09:21:37.428Z", "email": "alice.example@example.com",
            "email_verified": True, "sid": "Xn3cQ2bKp9LzR7vT1wYh5uJm0sDfGa8E"}


def typical_access_token(token: str, fake: FakeProvider) -> str:
    """The fake's access token re-signed as Auth0 issues one for an API: a ``typ``/``kid`` header,
    ``azp``, the granted scopes, RBAC ``permissions`` and a namespaced custom claim (~900 bytes)."""
    claims = json.loads(b64decode(token.split(".")[1]))
    claims.update({"https://example.com/roles": ["reader"], "azp": CLIENT_ID,
                   "scope": "openid profile email offline_access read:messages",
                   "permissions": ["read:messages", "write:messages"]})
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": "k1"}, claims, fake.key)


def typical_access_tokens(fake: FakeProvider) -> Callable[..., str]:
    """A replacement for ``fake.access_token`` (whatever its parameters) issuing typical tokens."""
    issue = fake.access_token
    return lambda *args, **kwargs: typical_access_token(issue(*args, **kwargs), fake)


def make_typical(fake: FakeProvider) -> None:
    """Switch the fake provider to typical Auth0 sessions, for good (tests use monkeypatch instead)."""
    fake.sub = SUB
    fake.id_token_claims = profile_claims
    fake.id_token_header = {"typ": "JWT"}
    fake.access_token = typical_access_tokens(fake)  # type: ignore[method-assign]
