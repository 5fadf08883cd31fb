"""A session value for tests that build one without a login: fixed times, claims and tokens (the
tokens' texts hold SECRET, so that a test can see none reaches a log or a repr)."""

from __future__ import annotations

import json
from typing import Any

from auth0_wsgi.config import namespace_of
from auth0_wsgi.sealing import Sealer, b64encode
from auth0_wsgi.session import Session

NOW = 1_700_000_000
CLAIMS = {"sub": "auth0|123", "email": "a@example.com", "iss": "https://t.auth0.com/", "aud": "c"}
ACCESS_TOKEN = "access-SECRET-abcdef"
REFRESH_TOKEN = "refresh-SECRET-123456"


def jwt_with(payload: Any) -> str:
    header = b64encode(b'{"alg":"RS256","typ":"JWT"}')
    return f"{header}.{b64encode(json.dumps(payload).encode())}.SIGNATURE-SECRET"


ID_TOKEN = jwt_with(CLAIMS)


def make_session(**overrides: Any) -> Session:
    fields = {"id_token": ID_TOKEN, "access_token": ACCESS_TOKEN, "expires_at": NOW + 3600,
              "refresh_token": REFRESH_TOKEN, "created_at": NOW, "touched_at": NOW, "user": dict(CLAIMS)}
    fields.update(overrides)
    return Session(**fields)


def refresh_token_of_cookie(value: str | None, secret: str, client_id: str, key_prefix: str = "") -> str:
    """The refresh token in a cookie session, read as its operator could: with the secret, for the
    app it was sealed for."""
    plaintext = Sealer([secret], "session").unseal(value or "", namespace_of(client_id, key_prefix).encode())
    assert plaintext is not None, "not a cookie session of this app"
    refresh_token: str = json.loads(plaintext)[3]
    return refresh_token
