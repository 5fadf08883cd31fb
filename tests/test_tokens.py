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
    pytest.param(claims(), id="minimal-good"),
    pytest.param(claims(aud=[CLIENT_ID]), id="aud-list-of-one"),
    pytest.param(claims(aud=[CLIENT_ID, "https://api.example.com"], azp=CLIENT_ID),
                 id="aud-list-with-extra-and-azp"),
    pytest.param(claims(azp=CLIENT_ID), id="single-aud-with-matching-azp"),
    pytest.param(claims(exp=NOW - LEEWAY + 1), id="exp-expired-within-leeway"),
    pytest.param(claims(exp=NOW + 1), id="exp-just-ahead"),
    pytest.param(claims(iat=NOW + LEEWAY), id="iat-in-future-within-leeway"),
    pytest.param(claims(nbf=NOW - 100), id="nbf-in-past"),
    pytest.param(claims(nbf=NOW + LEEWAY), id="nbf-in-future-within-leeway"),
    pytest.param(claims(exp=float(NOW + 100), iat=float(NOW)), id="float-times"),
    pytest.param(claims(email="a@example.com", name="A", auth_time=NOW - 5), id="extra-claims"),
]


@pytest.mark.parametrize("c", ACCEPTED)
def test_good_claims_are_accepted(c):
    check(c)  # raises on failure
    assert c["aud"]  # the input is not consumed


REJECTED = [
    pytest.param(claims(iss="https://evil.auth0.com/"), id="wrong-iss"),
    pytest.param(claims(iss=ISSUER.rstrip("/")), id="iss-missing-trailing-slash"),
    pytest.param(claims(iss=ISSUER + "/"), id="iss-extra-trailing-slash"),
    pytest.param(claims(iss=DROP), id="iss-missing"),
    pytest.param(claims(iss=["https://tenant.us.auth0.com/"]), id="iss-not-text"),
    pytest.param(claims(sub=DROP), id="sub-missing"),
    pytest.param(claims(sub=""), id="sub-empty"),
    pytest.param(claims(sub=123), id="sub-not-text"),
    pytest.param(claims(aud="other-client"), id="aud-other-client"),
    pytest.param(claims(aud=DROP), id="aud-missing"),
    pytest.param(claims(aud=["other", "https://api.example.com"], azp=CLIENT_ID),
                 id="aud-list-without-client"),
    pytest.param(claims(aud=123), id="aud-not-text"),
    pytest.param(claims(aud=[CLIENT_ID, "https://api.example.com"]), id="aud-list-extra-without-azp"),
    pytest.param(claims(aud=[CLIENT_ID, "https://api.example.com"], azp="other"),
                 id="aud-list-extra-with-wrong-azp"),
    pytest.param(claims(azp="other-client"), id="single-aud-with-wrong-azp"),
    pytest.param(claims(exp=NOW - LEEWAY - 1), id="exp-past-beyond-leeway"),
    pytest.param(claims(exp=NOW - LEEWAY), id="exp-at-leeway-edge"),
    pytest.param(claims(exp=DROP), id="exp-missing"),
    pytest.param(claims(exp="tomorrow"), id="exp-not-a-number"),
    pytest.param(claims(exp=True), id="exp-bool"),
    pytest.param(claims(exp=float("nan")), id="exp-nan"),
    pytest.param(claims(iat=NOW + LEEWAY + 1), id="iat-future-beyond-leeway"),
    pytest.param(claims(iat=DROP), id="iat-missing"),
    pytest.param(claims(nbf=NOW + LEEWAY + 1), id="nbf-future-beyond-leeway"),
    pytest.param(claims(nonce="another-nonce"), id="nonce-wrong"),
    pytest.param(claims(nonce=DROP), id="nonce-missing"),
    pytest.param(claims(nonce=NONCE[:-1]), id="nonce-prefix-only"),
    pytest.param(claims(nonce=12345), id="nonce-not-text"),
]


@pytest.mark.parametrize("c", REJECTED)
def test_bad_claims_are_rejected(c):
    with pytest.raises(TokenError) as info:
        check(c)
    assert info.value.code == "invalid_token"
    assert info.value.status == 400
    assert str(info.value).startswith("ID token rejected")


@pytest.mark.parametrize("c", [
    pytest.param(claims(), id="matching"),
    pytest.param(claims(nonce=DROP), id="missing"),
    pytest.param(claims(nonce="anything"), id="different"),
    pytest.param(claims(nonce=42), id="not-text"),
])
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
    pytest.param({"access_token": "opaque", "expires_in": 3600}, NOW + 3600, id="expires_in-int"),
    pytest.param({"access_token": "opaque", "expires_in": "3600"}, NOW + 3600, id="expires_in-digit-string"),
    pytest.param({"access_token": "opaque", "expires_in": 0}, NOW, id="expires_in-zero"),
    pytest.param({"access_token": "opaque", "expires_in": 59.9}, NOW + 59, id="expires_in-float"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 10}), "expires_in": 100}, NOW + 100,
                 id="expires_in-wins-over-jwt-exp"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 7200})}, NOW + 7200,
                 id="jwt-exp-when-expires_in-missing"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 7200.5})}, NOW + 7200, id="jwt-float-exp"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 5}), "expires_in": "soon"}, NOW + 5,
                 id="jwt-exp-when-expires_in-garbage"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 5}), "expires_in": -1}, NOW + 5,
                 id="jwt-exp-when-expires_in-negative"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 5}), "expires_in": True}, NOW + 5,
                 id="jwt-exp-when-expires_in-bool"),
    pytest.param({"access_token": "opaque-access-token"}, None, id="opaque-token"),
    pytest.param({"access_token": jwt_with({"sub": "x"})}, None, id="jwt-without-exp"),
    pytest.param({"access_token": jwt_with({"exp": "later"})}, None, id="jwt-with-string-exp"),
    pytest.param({"access_token": jwt_with({"exp": True})}, None, id="jwt-with-bool-exp"),
    pytest.param({"access_token": jwt_with([NOW])}, None, id="jwt-payload-not-object"),
    pytest.param({}, None, id="no-access-token"),
    pytest.param({"access_token": "opaque", "expires_in": "-5"}, None, id="negative-string-expires_in"),
    pytest.param({"access_token": "opaque", "expires_in": "\u00b2"}, None, id="non-ascii-digit-expires_in"),
    pytest.param({"access_token": "opaque", "expires_in": float("nan")}, None, id="nan-expires_in"),
    pytest.param({"access_token": "opaque", "expires_in": float("inf")}, None, id="infinite-expires_in"),
    pytest.param({"access_token": "opaque", "expires_in": MAX_EXPIRES_IN}, NOW + MAX_EXPIRES_IN,
                 id="expires_in-at-maximum"),
    pytest.param({"access_token": "opaque", "expires_in": MAX_EXPIRES_IN + 1}, None,
                 id="expires_in-over-maximum"),
    pytest.param({"access_token": jwt_with({"exp": NOW + 5}), "expires_in": 10**30}, NOW + 5,
                 id="huge-expires_in-falls-back-to-jwt"),
    pytest.param({"access_token": jwt_with({"exp": float("inf")})}, None, id="jwt-infinite-exp"),
    pytest.param({"access_token": jwt_with({"exp": -1})}, None, id="jwt-negative-exp"),
    pytest.param({"access_token": jwt_with({"exp": NOW + MAX_EXPIRES_IN + 1})}, None,
                 id="jwt-exp-beyond-maximum"),
]


@pytest.mark.parametrize(("response", "expected"), EXPIRY)
def test_access_token_expiry(response, expected):
    assert access_token_expiry(response, NOW) == expected


UNVERIFIED = [
    pytest.param(jwt_with({"sub": "x"}), {"sub": "x"}, id="object"),
    pytest.param("a.b", None, id="two-parts"),
    pytest.param("a.b.c.d", None, id="four-parts"),
    pytest.param("a.!!!.c", None, id="bad-base64"),
    pytest.param(f"a.{b64encode(b'not json')}.c", None, id="not-json"),
    pytest.param(f"a.{b64encode(bytes([0xff, 0xfe]))}.c", None, id="not-utf8"),
    pytest.param(jwt_with([1]), None, id="array"),
    pytest.param(jwt_with({"pad": "x" * MAX_TOKEN_LENGTH}), None, id="too-long"),
    pytest.param("a.\u00e9\u00e9\u00e9\u00e9.c", None, id="non-ascii"),
]


@pytest.mark.parametrize(("token", "expected"), UNVERIFIED)
def test_unverified_payload(token, expected):
    assert unverified_payload(token) == expected


# -- refresh timing ---------------------------------------------------------------------------------

REFRESH = [
    pytest.param(None, False, id="unknown-expiry"),
    pytest.param(NOW + LEEWAY + 1000, False, id="far-future"),
    pytest.param(NOW + LEEWAY + 1, False, id="one-past-leeway"),
    pytest.param(NOW + LEEWAY, True, id="exactly-at-leeway"),
    pytest.param(NOW + LEEWAY - 1, True, id="within-leeway"),
    pytest.param(NOW, True, id="now"),
    pytest.param(NOW - 1, True, id="past"),
]


@pytest.mark.parametrize(("expires_at", "expected"), REFRESH)
def test_needs_refresh(expires_at, expected):
    assert needs_refresh(expires_at, NOW, LEEWAY) is expected


EXPIRED = [
    pytest.param(None, False, id="unknown-expiry"),
    pytest.param(NOW + 1, False, id="one-second-left"),
    pytest.param(NOW, True, id="exactly-now"),
    pytest.param(NOW - 1, True, id="past"),
]


@pytest.mark.parametrize(("expires_at", "expected"), EXPIRED)
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
