"""Pure token rules with an injected clock: ID-token claims, access-token expiry, refresh timing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from auth0_wsgi.errors import TokenError
from auth0_wsgi.sealing import b64encode
from auth0_wsgi.tokens import (
    MAX_EXPIRES_IN,
    MAX_TOKEN_LENGTH,
    access_token_expiry,
    check_id_token_claims,
    check_organization,
    is_expired,
    lifetime_seconds,
    needs_refresh,
    unverified_payload,
)

NOW = 1_700_000_000
LEEWAY = 60
ISSUER = "https://tenant.us.auth0.com/"
CLIENT_ID = "my-client"
NONCE = "n-0S6_WzA2Mj"
DROP = object()


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "sub": "auth0|123", "aud": CLIENT_ID, "exp": NOW + 3600, "iat": NOW - 10,
            "nonce": NONCE}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


def check(c: dict[str, Any], nonce: str | None = NONCE) -> None:
    check_id_token_claims(c, issuer=ISSUER, client_id=CLIENT_ID, nonce=nonce, now=NOW, leeway=LEEWAY)


def jwt_with(payload: Any) -> str:
    header = b64encode(b'{"alg":"RS256"}')
    return f"{header}.{b64encode(json.dumps(payload).encode())}.c2lnbmF0dXJl"


ACCEPTED = [
    ("minimal-good", claims()),
    ("aud-list-of-one", claims(aud=[CLIENT_ID])),
    ("aud-list-with-extra-and-azp", claims(aud=[CLIENT_ID, "https://api.example.com"], azp=CLIENT_ID)),
    ("single-aud-with-matching-azp", claims(azp=CLIENT_ID)),
    ("exp-expired-within-leeway", claims(exp=NOW - LEEWAY + 1)),
    ("exp-just-ahead", claims(exp=NOW + 1)),
    ("iat-in-future-within-leeway", claims(iat=NOW + LEEWAY)),
    ("nbf-in-past", claims(nbf=NOW - 100)),
    ("nbf-in-future-within-leeway", claims(nbf=NOW + LEEWAY)),
    ("float-times", claims(exp=float(NOW + 100), iat=float(NOW))),
    ("extra-claims", claims(email="a@example.com", name="A", auth_time=NOW - 5)),
]


@pytest.mark.parametrize("c", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_good_claims_are_accepted(c):
    check(c)  # raises on failure
    assert c["aud"]  # the input is not consumed


REJECTED = [
    ("wrong-iss", claims(iss="https://evil.auth0.com/")),
    ("iss-missing-trailing-slash", claims(iss=ISSUER.rstrip("/"))),
    ("iss-extra-trailing-slash", claims(iss=ISSUER + "/")),
    ("iss-missing", claims(iss=DROP)),
    ("iss-not-text", claims(iss=["https://tenant.us.auth0.com/"])),
    ("sub-missing", claims(sub=DROP)),
    ("sub-empty", claims(sub="")),
    ("sub-not-text", claims(sub=123)),
    ("aud-other-client", claims(aud="other-client")),
    ("aud-missing", claims(aud=DROP)),
    ("aud-list-without-client", claims(aud=["other", "https://api.example.com"], azp=CLIENT_ID)),
    ("aud-not-text", claims(aud=123)),
    ("aud-list-extra-without-azp", claims(aud=[CLIENT_ID, "https://api.example.com"])),
    ("aud-list-extra-with-wrong-azp", claims(aud=[CLIENT_ID, "https://api.example.com"], azp="other")),
    ("single-aud-with-wrong-azp", claims(azp="other-client")),
    ("exp-past-beyond-leeway", claims(exp=NOW - LEEWAY - 1)),
    ("exp-at-leeway-edge", claims(exp=NOW - LEEWAY)),
    ("exp-missing", claims(exp=DROP)),
    ("exp-not-a-number", claims(exp="tomorrow")),
    ("exp-bool", claims(exp=True)),
    ("exp-nan", claims(exp=float("nan"))),
    ("iat-future-beyond-leeway", claims(iat=NOW + LEEWAY + 1)),
    ("iat-missing", claims(iat=DROP)),
    ("nbf-future-beyond-leeway", claims(nbf=NOW + LEEWAY + 1)),
    ("nonce-wrong", claims(nonce="another-nonce")),
    ("nonce-missing", claims(nonce=DROP)),
    ("nonce-prefix-only", claims(nonce=NONCE[:-1])),
    ("nonce-not-text", claims(nonce=12345)),
]


@pytest.mark.parametrize("c", [r[1] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_bad_claims_are_rejected(c):
    with pytest.raises(TokenError) as info:
        check(c)
    assert info.value.code == "invalid_token"
    assert info.value.status == 400
    assert str(info.value).startswith("ID token rejected")


@pytest.mark.parametrize(
    "c", [claims(), claims(nonce=DROP), claims(nonce="anything"), claims(nonce=42)],
    ids=["matching", "missing", "different", "not-text"],
)
def test_nonce_none_means_not_checked(c):
    check(c, nonce=None)


def test_leeway_zero_is_strict():
    strict = {"issuer": ISSUER, "client_id": CLIENT_ID, "nonce": NONCE, "now": NOW, "leeway": 0}
    with pytest.raises(TokenError):
        check_id_token_claims(claims(exp=NOW), **strict)
    with pytest.raises(TokenError):
        check_id_token_claims(claims(iat=NOW + 1), **strict)
    check_id_token_claims(claims(exp=NOW + 1, iat=NOW), **strict)


def test_nonce_does_not_leak_into_error():
    with pytest.raises(TokenError) as info:
        check(claims(nonce="attacker-chosen-nonce"))
    assert NONCE not in str(info.value)
    assert "attacker-chosen-nonce" not in str(info.value)


# -- access-token expiry ----------------------------------------------------------------------------

EXPIRY = [
    ("expires_in-int", {"access_token": "opaque", "expires_in": 3600}, NOW + 3600),
    ("expires_in-digit-string", {"access_token": "opaque", "expires_in": "3600"}, NOW + 3600),
    ("expires_in-zero", {"access_token": "opaque", "expires_in": 0}, NOW),
    ("expires_in-float", {"access_token": "opaque", "expires_in": 59.9}, NOW + 59),
    ("expires_in-wins-over-jwt-exp", {"access_token": jwt_with({"exp": NOW + 10}), "expires_in": 100},
     NOW + 100),
    ("jwt-exp-when-expires_in-missing", {"access_token": jwt_with({"exp": NOW + 7200})}, NOW + 7200),
    ("jwt-float-exp", {"access_token": jwt_with({"exp": NOW + 7200.5})}, NOW + 7200),
    ("jwt-exp-when-expires_in-garbage", {"access_token": jwt_with({"exp": NOW + 5}), "expires_in": "soon"},
     NOW + 5),
    ("jwt-exp-when-expires_in-negative", {"access_token": jwt_with({"exp": NOW + 5}), "expires_in": -1},
     NOW + 5),
    ("jwt-exp-when-expires_in-bool", {"access_token": jwt_with({"exp": NOW + 5}), "expires_in": True},
     NOW + 5),
    ("opaque-token", {"access_token": "opaque-access-token"}, None),
    ("jwt-without-exp", {"access_token": jwt_with({"sub": "x"})}, None),
    ("jwt-with-string-exp", {"access_token": jwt_with({"exp": "later"})}, None),
    ("jwt-with-bool-exp", {"access_token": jwt_with({"exp": True})}, None),
    ("jwt-payload-not-object", {"access_token": jwt_with([NOW])}, None),
    ("no-access-token", {}, None),
    ("negative-string-expires_in", {"access_token": "opaque", "expires_in": "-5"}, None),
    ("non-ascii-digit-expires_in", {"access_token": "opaque", "expires_in": "\u00b2"}, None),
    ("nan-expires_in", {"access_token": "opaque", "expires_in": float("nan")}, None),
    ("infinite-expires_in", {"access_token": "opaque", "expires_in": float("inf")}, None),
    ("expires_in-at-maximum", {"access_token": "opaque", "expires_in": MAX_EXPIRES_IN}, NOW + MAX_EXPIRES_IN),
    ("expires_in-over-maximum", {"access_token": "opaque", "expires_in": MAX_EXPIRES_IN + 1}, None),
    ("huge-expires_in-falls-back-to-jwt", {"access_token": jwt_with({"exp": NOW + 5}), "expires_in": 10**30},
     NOW + 5),
    ("jwt-infinite-exp", {"access_token": jwt_with({"exp": float("inf")})}, None),
    ("jwt-negative-exp", {"access_token": jwt_with({"exp": -1})}, None),
    ("jwt-exp-beyond-maximum", {"access_token": jwt_with({"exp": NOW + MAX_EXPIRES_IN + 1})}, None),
]


@pytest.mark.parametrize(("response", "expected"), [e[1:] for e in EXPIRY], ids=[e[0] for e in EXPIRY])
def test_access_token_expiry(response, expected):
    assert access_token_expiry(response, NOW) == expected


UNVERIFIED = [
    ("object", jwt_with({"sub": "x"}), {"sub": "x"}),
    ("two-parts", "a.b", None),
    ("four-parts", "a.b.c.d", None),
    ("bad-base64", "a.!!!.c", None),
    ("not-json", f"a.{b64encode(b'not json')}.c", None),
    ("not-utf8", f"a.{b64encode(bytes([0xff, 0xfe]))}.c", None),
    ("array", jwt_with([1]), None),
    ("too-long", jwt_with({"pad": "x" * MAX_TOKEN_LENGTH}), None),
    ("non-ascii", "a.\u00e9\u00e9\u00e9\u00e9.c", None),
]


@pytest.mark.parametrize(("token", "expected"), [u[1:] for u in UNVERIFIED], ids=[u[0] for u in UNVERIFIED])
def test_unverified_payload(token, expected):
    assert unverified_payload(token) == expected


# -- refresh timing ---------------------------------------------------------------------------------

REFRESH = [
    ("unknown-expiry", None, False),
    ("far-future", NOW + LEEWAY + 1000, False),
    ("one-past-leeway", NOW + LEEWAY + 1, False),
    ("exactly-at-leeway", NOW + LEEWAY, True),
    ("within-leeway", NOW + LEEWAY - 1, True),
    ("now", NOW, True),
    ("past", NOW - 1, True),
]


@pytest.mark.parametrize(("expires_at", "expected"), [r[1:] for r in REFRESH], ids=[r[0] for r in REFRESH])
def test_needs_refresh(expires_at, expected):
    assert needs_refresh(expires_at, NOW, LEEWAY) is expected


EXPIRED = [
    ("unknown-expiry", None, False),
    ("one-second-left", NOW + 1, False),
    ("exactly-now", NOW, True),
    ("past", NOW - 1, True),
]


@pytest.mark.parametrize(("expires_at", "expected"), [e[1:] for e in EXPIRED], ids=[e[0] for e in EXPIRED])
def test_is_expired(expires_at, expected):
    assert is_expired(expires_at, NOW) is expected


def test_needs_refresh_with_zero_leeway_matches_is_expired():
    for expires_at in (NOW - 1, NOW, NOW + 1):
        assert needs_refresh(expires_at, NOW, 0) is is_expired(expires_at, NOW)


# -- organizations (Auth0: the SDK must check the ID token names the organization asked for) -------------

ORGANIZATION = [
    pytest.param("org_W7aV3s", {"org_id": "org_W7aV3s"}, True, id="id-matches"),
    pytest.param("org_W7aV3s", {"org_id": "org_W7aV3s", "org_name": "other"}, True,
                 id="id-matches-name-ignored"),
    pytest.param("org_W7aV3s", {"org_id": "org_other"}, False, id="id-differs"),
    pytest.param("org_W7aV3s", {"org_id": "ORG_W7AV3S"}, False, id="id-compared-exactly"),
    pytest.param("org_W7aV3s", {"org_name": "org_W7aV3s"}, False, id="id-asked-only-name-present"),
    pytest.param("org_W7aV3s", {}, False, id="id-missing"),
    pytest.param("org_W7aV3s", {"org_id": ["org_W7aV3s"]}, False, id="id-not-text"),
    pytest.param("acme", {"org_name": "acme"}, True, id="name-matches"),
    pytest.param("Acme", {"org_name": "acme", "org_id": "org_1"}, True, id="name-case-insensitive"),
    pytest.param("acme", {"org_name": "ACME"}, True, id="name-case-insensitive-claim"),
    pytest.param("acme", {"org_name": "acme-evil"}, False, id="name-differs"),
    pytest.param("acme", {"org_id": "acme"}, False, id="name-asked-only-id-present"),
    pytest.param("acme", {}, False, id="name-missing"),
    pytest.param("acme", {"org_name": None}, False, id="name-null"),
    pytest.param(None, {}, True, id="no-organization-asked"),
    pytest.param(None, {"org_id": "org_any"}, True, id="no-organization-asked-any-claim"),
]


@pytest.mark.parametrize("expected, found, accepted", ORGANIZATION)
def test_organization(expected, found, accepted):
    c = claims(**found)
    if accepted:
        check_organization(c, expected)
        return
    with pytest.raises(TokenError) as info:
        check_organization(c, expected)
    assert info.value.code == "organization_mismatch"
    assert info.value.status == 400


def test_unverified_payload_nested_deeper_than_the_stack_is_none():
    token = f"a.{b64encode(b'[' * 10_000)}.c"  # fits MAX_TOKEN_LENGTH; json.loads hits RecursionError
    assert len(token) < MAX_TOKEN_LENGTH
    assert unverified_payload(token) is None


LIFETIMES = [
    pytest.param(3600, 3600, id="int"),
    pytest.param(59.9, 59, id="float"),
    pytest.param("3600", 3600, id="digits"),
    pytest.param(0, 0, id="zero"),
    pytest.param(MAX_EXPIRES_IN, MAX_EXPIRES_IN, id="maximum"),
    pytest.param(MAX_EXPIRES_IN + 1, None, id="over-maximum"),
    pytest.param("9" * 5000, None, id="digits-too-many-to-convert"),
    pytest.param(-1, None, id="negative"),
    pytest.param(True, None, id="bool"),
    pytest.param(float("nan"), None, id="nan"),
    pytest.param(float("inf"), None, id="infinite"),
    pytest.param({"s": 1}, None, id="dict"),
    pytest.param([1], None, id="list"),
    pytest.param("soon", None, id="text"),
    pytest.param(None, None, id="missing"),
]


@pytest.mark.parametrize("value, expected", LIFETIMES)
def test_lifetime_seconds(value, expected):
    assert lifetime_seconds(value) == expected
