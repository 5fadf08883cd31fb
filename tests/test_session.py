"""Session serialisation, its token-free repr, and the Lifetime rules (rolling, absolute, touch interval)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from auth0_wsgi.sealing import b64encode
from auth0_wsgi.session import MAX_TOUCH_INTERVAL, Lifetime, Session
from tests.support.session_values import (
    ACCESS_TOKEN,
    CLAIMS,
    ID_TOKEN,
    NOW,
    REFRESH_TOKEN,
    jwt_with,
    make_session,
)


def record(id_token: Any = ID_TOKEN, access_token: Any = ACCESS_TOKEN, expires_at: Any = NOW + 3600,
           refresh_token: Any = None, created_at: Any = NOW, touched_at: Any = NOW, sid: Any = None) -> bytes:
    """A serialised record in the layout of Session.to_bytes, with any field replaced."""
    items = [id_token, access_token, expires_at, refresh_token, created_at, touched_at, sid]
    return json.dumps(items).encode()


# -- serialisation --------------------------------------------------------------------------------

ROUND_TRIP = [
    pytest.param(make_session(), id="full"),
    pytest.param(make_session(access_token=None, expires_at=None), id="no-access-token"),
    pytest.param(make_session(refresh_token=None), id="no-refresh-token"),
    pytest.param(make_session(touched_at=NOW + 500), id="touched-later"),
    pytest.param(make_session(sid="sid-1", user={**CLAIMS, "sid": "sid-1"}), id="with-sid"),
    pytest.param(make_session(id_token=jwt_with({"sub": "\u00e9\u4e2d", "name": "Zo\u00eb"}),
                              user={"sub": "\u00e9\u4e2d", "name": "Zo\u00eb"}), id="unicode-claims"),
]


@pytest.mark.parametrize("session", ROUND_TRIP)
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
    pytest.param(b"", id="empty"),
    pytest.param(b"not json", id="not-json"),
    pytest.param(b"\xff\xfe\x00", id="invalid-utf8"),
    pytest.param(b"null", id="null"),
    pytest.param(b"123", id="number"),
    pytest.param(b'"abcdefg"', id="seven-char-string"),
    pytest.param(b"[]", id="empty-list"),
    pytest.param(json.dumps(json.loads(record())[:-1]).encode(), id="one-item-short"),
    pytest.param(json.dumps([*json.loads(record()), NOW]).encode(), id="one-item-long"),
    pytest.param(json.dumps({"id_token": ID_TOKEN, "access_token": ACCESS_TOKEN, "expires_at": NOW,
                             "refresh_token": None, "created_at": NOW, "touched_at": NOW,
                             "sid": None}).encode(), id="object"),
    pytest.param(record(id_token="opaque-id-token"), id="id-token-not-jwt"),
    pytest.param(record(id_token="a.b"), id="id-token-two-parts"),
    pytest.param(record(id_token=f"a.{b64encode(b'nope')}.c"), id="id-token-payload-not-json"),
    pytest.param(record(id_token=jwt_with(["sub"])), id="id-token-payload-array"),
    pytest.param(record(id_token=None), id="id-token-null"),
    pytest.param(record(id_token=5), id="id-token-number"),
    pytest.param(record(created_at=str(NOW)), id="created-at-string"),
    pytest.param(record(touched_at=NOW + 0.5), id="touched-at-float"),
    pytest.param(record(touched_at=None), id="touched-at-null"),
    # Fields the middleware later does arithmetic or string work on: a record we never wrote.
    pytest.param(record(access_token=12345), id="access-token-number"),
    pytest.param(record(expires_at="soon"), id="expires-at-string"),
    pytest.param(record(refresh_token=["r"]), id="refresh-token-list"),
    pytest.param(record(created_at=True, touched_at=True), id="created-at-bool"),
    pytest.param(record(sid=5), id="sid-number"),
]


@pytest.mark.parametrize("data", GARBAGE)
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

@pytest.mark.parametrize("render", [
    pytest.param(repr, id="repr"),
    pytest.param(str, id="str"),
    pytest.param(lambda s: f"{s!r}", id="fstring"),
    pytest.param(lambda s: repr([s]), id="in-list"),
    pytest.param(lambda s: repr({"s": s}), id="in-dict"),
])
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
    pytest.param(NOW, NOW, NOW + DAY, id="fresh-session-rolling-first"),
    pytest.param(NOW, NOW + 3 * DAY, NOW + 4 * DAY, id="touched-recently"),
    pytest.param(NOW, NOW + 6 * DAY + 1, NOW + 7 * DAY, id="absolute-caps-rolling"),
    pytest.param(NOW, NOW + 6 * DAY, NOW + 7 * DAY, id="both-equal"),
]


@pytest.mark.parametrize(("created", "touched", "expected"), EXPIRES)
def test_lifetime_expires_at(created, touched, expected):
    assert LIFETIME.expires_at(make_session(created_at=created, touched_at=touched)) == expected


OVER = [
    pytest.param(NOW, NOW, NOW + DAY - 1, False, id="rolling-one-second-before"),
    pytest.param(NOW, NOW, NOW + DAY, True, id="rolling-exactly-at"),
    pytest.param(NOW, NOW, NOW + DAY + 1, True, id="rolling-after"),
    pytest.param(NOW, NOW + DAY - 1, NOW + DAY + 10, False, id="touched-extends-rolling"),
    pytest.param(NOW, NOW + 7 * DAY - 10, NOW + 7 * DAY - 1, False, id="absolute-one-second-before"),
    pytest.param(NOW, NOW + 7 * DAY - 10, NOW + 7 * DAY, True, id="absolute-exactly-at-despite-touch"),
    pytest.param(NOW, NOW + 7 * DAY - 1, NOW + 7 * DAY + 1, True, id="absolute-after-despite-touch"),
    pytest.param(NOW, NOW, NOW, False, id="just-created"),
]


@pytest.mark.parametrize(("created", "touched", "now", "expected"), OVER)
def test_lifetime_is_over(created, touched, now, expected):
    assert LIFETIME.is_over(make_session(created_at=created, touched_at=touched), now) is expected


TOUCH = [
    pytest.param(DAY, MAX_TOUCH_INTERVAL - 1, False, id="day-rolling-before-cap"),
    pytest.param(DAY, MAX_TOUCH_INTERVAL, True, id="day-rolling-at-cap"),
    pytest.param(600, 59, False, id="ten-minutes-rolling-before-tenth"),
    pytest.param(600, 60, True, id="ten-minutes-rolling-at-tenth"),
    pytest.param(3000, 300, True, id="rolling-3000-at-300"),
    pytest.param(3000, 299, False, id="rolling-3000-before-300"),
    pytest.param(3010, 300, True, id="rolling-3010-capped-at-300"),
    pytest.param(5, 0, False, id="tiny-rolling-zero-elapsed"),
    pytest.param(5, 1, True, id="tiny-rolling-one-second"),
    pytest.param(DAY, 0, False, id="just-touched"),
    pytest.param(DAY, -100, False, id="clock-went-back"),
]


@pytest.mark.parametrize(("rolling", "elapsed", "expected"), TOUCH)
def test_wants_touch(rolling, elapsed, expected):
    lifetime = Lifetime(rolling=rolling, absolute=30 * DAY)
    session = make_session(created_at=NOW - 1000, touched_at=NOW)
    assert lifetime.wants_touch(session, NOW + elapsed) is expected
