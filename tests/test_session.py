"""Session serialisation, its token-free repr, and the Lifetime rules (rolling, absolute, touch interval)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from auth0_wsgi.sealing import b64encode
from auth0_wsgi.session import MAX_TOUCH_INTERVAL, Lifetime, Session

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


def record(id_token: Any = ID_TOKEN, access_token: Any = ACCESS_TOKEN, expires_at: Any = NOW + 3600,
           refresh_token: Any = None, created_at: Any = NOW, touched_at: Any = NOW, sid: Any = None) -> bytes:
    """A serialised record in the layout of Session.to_bytes, with any field replaced."""
    items = [id_token, access_token, expires_at, refresh_token, created_at, touched_at, sid]
    return json.dumps(items).encode()


# -- serialisation --------------------------------------------------------------------------------

ROUND_TRIP = [
    ("full", make_session()),
    ("no-access-token", make_session(access_token=None, expires_at=None)),
    ("no-refresh-token", make_session(refresh_token=None)),
    ("touched-later", make_session(touched_at=NOW + 500)),
    ("with-sid", make_session(sid="sid-1", user={**CLAIMS, "sid": "sid-1"})),
    ("unicode-claims", make_session(id_token=jwt_with({"sub": "\u00e9\u4e2d", "name": "Zo\u00eb"}),
                                    user={"sub": "\u00e9\u4e2d", "name": "Zo\u00eb"})),
]


@pytest.mark.parametrize("session", [r[1] for r in ROUND_TRIP], ids=[r[0] for r in ROUND_TRIP])
def test_round_trip(session):
    restored = Session.from_bytes(session.to_bytes())
    assert restored is not None
    assert restored == session
    assert restored.id_token == session.id_token
    assert restored.access_token == session.access_token
    assert restored.expires_at == session.expires_at
    assert restored.refresh_token == session.refresh_token
    assert (restored.created_at, restored.touched_at) == (session.created_at, session.touched_at)
    assert restored.user == session.user


def test_user_is_derived_from_the_id_token_not_stored_twice():
    data = make_session().to_bytes()
    assert json.loads(data) == json.loads(record(refresh_token=REFRESH_TOKEN))
    assert b"a@example.com" not in data  # only inside the (base64) id token
    assert Session.from_bytes(data).user == CLAIMS


def test_from_token_response():
    tokens = {"id_token": ID_TOKEN, "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN,
              "expires_in": 86400, "token_type": "Bearer"}
    session = Session.from_token_response(tokens, dict(CLAIMS), NOW)
    assert session.expires_at == NOW + 86400
    assert session.created_at == session.touched_at == NOW
    assert session.user == CLAIMS
    assert session.refresh_token == REFRESH_TOKEN
    assert session.sid is None
    with_sid = Session.from_token_response(tokens, {**CLAIMS, "sid": "sid-1"}, NOW)
    assert with_sid.sid == "sid-1"
    assert Session.from_token_response(tokens, {**CLAIMS, "sid": 5}, NOW).sid is None
    minimal = {"id_token": ID_TOKEN, "access_token": "opaque"}
    without_refresh = Session.from_token_response(minimal, CLAIMS, NOW)
    assert without_refresh.refresh_token is None
    assert without_refresh.expires_at is None


GARBAGE = [
    ("empty", b""),
    ("not-json", b"not json"),
    ("invalid-utf8", b"\xff\xfe\x00"),
    ("null", b"null"),
    ("number", b"123"),
    ("seven-char-string", b'"abcdefg"'),
    ("empty-list", b"[]"),
    ("one-item-short", json.dumps(json.loads(record())[:-1]).encode()),
    ("one-item-long", json.dumps([*json.loads(record()), NOW]).encode()),
    ("object", json.dumps({"id_token": ID_TOKEN, "access_token": ACCESS_TOKEN, "expires_at": NOW,
                           "refresh_token": None, "created_at": NOW, "touched_at": NOW,
                           "sid": None}).encode()),
    ("id-token-not-jwt", record(id_token="opaque-id-token")),
    ("id-token-two-parts", record(id_token="a.b")),
    ("id-token-payload-not-json", record(id_token=f"a.{b64encode(b'nope')}.c")),
    ("id-token-payload-array", record(id_token=jwt_with(["sub"]))),
    ("id-token-null", record(id_token=None)),
    ("id-token-number", record(id_token=5)),
    ("created-at-string", record(created_at=str(NOW))),
    ("touched-at-float", record(touched_at=NOW + 0.5)),
    ("touched-at-null", record(touched_at=None)),
    # Fields the middleware later does arithmetic or string work on: a record we never wrote.
    ("access-token-number", record(access_token=12345)),
    ("expires-at-string", record(expires_at="soon")),
    ("refresh-token-list", record(refresh_token=["r"])),
    ("created-at-bool", record(created_at=True, touched_at=True)),
    ("sid-number", record(sid=5)),
]


@pytest.mark.parametrize("data", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_from_bytes_refuses_what_we_did_not_write(data):
    assert Session.from_bytes(data) is None


def test_record_round_trips_through_to_bytes():
    data = record(refresh_token=REFRESH_TOKEN, sid="sid-1")
    session = Session.from_bytes(data)
    assert session is not None
    assert json.loads(session.to_bytes()) == json.loads(data)
    assert session.user == {**CLAIMS, "sid": "sid-1"}


def test_with_tokens_keeps_what_the_refresh_did_not_return():
    session = make_session(sid="sid-1", touched_at=NOW)
    refreshed = session.with_tokens(access_token="new-access", expires_at=NOW + 99, refresh_token=None,
                                    id_token=None, now=NOW + 50)
    assert refreshed.access_token == "new-access"
    assert refreshed.expires_at == NOW + 99
    assert refreshed.refresh_token == REFRESH_TOKEN
    assert refreshed.id_token == ID_TOKEN
    assert refreshed.touched_at == NOW + 50
    assert refreshed.created_at == session.created_at
    assert refreshed.sid == "sid-1"


def test_with_tokens_takes_new_id_token_claims_and_keeps_sid():
    session = make_session(sid="sid-1")
    new_id_token = jwt_with({"sub": "auth0|123", "email": "new@example.com"})
    refreshed = session.with_tokens(access_token="a", expires_at=None, refresh_token="rotated",
                                    id_token=new_id_token, now=NOW + 1)
    assert refreshed.id_token == new_id_token
    assert refreshed.refresh_token == "rotated"
    assert refreshed.user == {"sub": "auth0|123", "email": "new@example.com", "sid": "sid-1"}


# -- repr -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "render", [repr, str, lambda s: f"{s!r}", lambda s: repr([s]), lambda s: repr({"s": s})],
    ids=["repr", "str", "fstring", "in-list", "in-dict"],
)
def test_repr_never_contains_a_token(render):
    text = render(make_session())
    for secret in (ID_TOKEN, ACCESS_TOKEN, REFRESH_TOKEN, "SECRET", ID_TOKEN.split(".")[1]):
        assert secret not in text
    assert "auth0|123" in text


def test_repr_of_session_without_user():
    text = repr(make_session(user={}))
    assert "SECRET" not in text
    assert text.startswith("Session(")


def test_session_is_frozen_and_touched_copies():
    session = make_session()
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.touched_at = NOW + 1  # type: ignore[misc]
    later = session.touched(NOW + 42)
    assert later.touched_at == NOW + 42
    assert later.created_at == session.created_at
    assert later.id_token == session.id_token
    assert session.touched_at == NOW


# -- Lifetime -----------------------------------------------------------------------------------------

DAY = 86400
LIFETIME = Lifetime(rolling=DAY, absolute=7 * DAY)

EXPIRES = [
    ("fresh-session-rolling-first", NOW, NOW, NOW + DAY),
    ("touched-recently", NOW, NOW + 3 * DAY, NOW + 4 * DAY),
    ("absolute-caps-rolling", NOW, NOW + 6 * DAY + 1, NOW + 7 * DAY),
    ("both-equal", NOW, NOW + 6 * DAY, NOW + 7 * DAY),
]


@pytest.mark.parametrize(("created", "touched", "expected"), [e[1:] for e in EXPIRES],
                         ids=[e[0] for e in EXPIRES])
def test_lifetime_expires_at(created, touched, expected):
    assert LIFETIME.expires_at(make_session(created_at=created, touched_at=touched)) == expected


OVER = [
    ("rolling-one-second-before", NOW, NOW, NOW + DAY - 1, False),
    ("rolling-exactly-at", NOW, NOW, NOW + DAY, True),
    ("rolling-after", NOW, NOW, NOW + DAY + 1, True),
    ("touched-extends-rolling", NOW, NOW + DAY - 1, NOW + DAY + 10, False),
    ("absolute-one-second-before", NOW, NOW + 7 * DAY - 10, NOW + 7 * DAY - 1, False),
    ("absolute-exactly-at-despite-touch", NOW, NOW + 7 * DAY - 10, NOW + 7 * DAY, True),
    ("absolute-after-despite-touch", NOW, NOW + 7 * DAY - 1, NOW + 7 * DAY + 1, True),
    ("just-created", NOW, NOW, NOW, False),
]


@pytest.mark.parametrize(("created", "touched", "now", "expected"), [o[1:] for o in OVER],
                         ids=[o[0] for o in OVER])
def test_lifetime_is_over(created, touched, now, expected):
    assert LIFETIME.is_over(make_session(created_at=created, touched_at=touched), now) is expected


TOUCH = [
    ("day-rolling-before-cap", DAY, MAX_TOUCH_INTERVAL - 1, False),
    ("day-rolling-at-cap", DAY, MAX_TOUCH_INTERVAL, True),
    ("ten-minutes-rolling-before-tenth", 600, 59, False),
    ("ten-minutes-rolling-at-tenth", 600, 60, True),
    ("rolling-3000-at-300", 3000, 300, True),
    ("rolling-3000-before-300", 3000, 299, False),
    ("rolling-3010-capped-at-300", 3010, 300, True),
    ("tiny-rolling-zero-elapsed", 5, 0, False),
    ("tiny-rolling-one-second", 5, 1, True),
    ("just-touched", DAY, 0, False),
    ("clock-went-back", DAY, -100, False),
]


@pytest.mark.parametrize(("rolling", "elapsed", "expected"), [t[1:] for t in TOUCH],
                         ids=[t[0] for t in TOUCH])
def test_wants_touch(rolling, elapsed, expected):
    lifetime = Lifetime(rolling=rolling, absolute=30 * DAY)
    session = make_session(created_at=NOW - 1000, touched_at=NOW)
    assert lifetime.wants_touch(session, NOW + elapsed) is expected
