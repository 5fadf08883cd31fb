"""Back-channel logout tokens signed by the fake provider, as Auth0 would POST them."""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.fake_provider import CLIENT_ID, FakeProvider

EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}


def logout_token(fake: FakeProvider, key: RSAKey | None = None, header: dict[str, Any] | None = None,
                 **changes: Any) -> str:
    """A valid logout token for alice's login ``sid-1``; ``changes`` set (or, with None, drop) claims."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": fake.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
                              "jti": secrets.token_hex(8), "events": EVENT, "sid": "sid-1",
                              "sub": "auth0|alice"}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, claims, key or fake.key)
