"""The in-process revocation list: what it refuses, and that its per-session cache never confuses users."""

from __future__ import annotations

import pytest

from auth0_wsgi.revocation import MemoryRevocations
from auth0_wsgi.session import Session

SECRETS = ("s" * 40,)
NOW = 1_800_000_000


def _session(sid: str | None, sub: object, created_at: int = NOW - 10) -> Session:
    return Session(id_token="x", access_token=None, expires_at=None, refresh_token=None,
                   created_at=created_at, touched_at=created_at, sid=sid, user={"sub": sub})


@pytest.fixture
def revocations() -> MemoryRevocations:
    return MemoryRevocations(SECRETS, 86400, clock=lambda: NOW)


def test_each_session_is_judged_by_its_own_sid_and_sub_however_often_it_is_asked(revocations):
    """The hashed names are remembered per (sid, sub) for the hot path: asking about one user first
    must never make the answer for another one (or for a later revocation) stale."""
    alice, bob = _session("sid-a", "auth0|alice"), _session("sid-b", "auth0|bob")
    assert not revocations.is_revoked(alice) and not revocations.is_revoked(bob)
    revocations.revoke(sid="sid-a", sub=None, at=NOW)
    assert revocations.is_revoked(alice)
    assert not revocations.is_revoked(bob)
    revocations.revoke(sid=None, sub="auth0|bob", at=NOW)
    assert revocations.is_revoked(bob)
    assert revocations.is_revoked(_session("sid-other", "auth0|bob"))
    assert not revocations.is_revoked(_session("sid-b", "auth0|carol"))


@pytest.mark.parametrize("sub", [pytest.param(["a", "list"], id="unhashable-sub"),
                                 pytest.param(None, id="no-sub"), pytest.param(42, id="number-sub")])
def test_odd_claims_are_judged_without_error(revocations, sub):
    revocations.revoke(sid="sid-x", sub=None, at=NOW)
    assert revocations.is_revoked(_session("sid-x", sub))
    assert not revocations.is_revoked(_session("sid-y", sub))


def test_a_session_started_after_the_logout_is_not_revoked(revocations):
    revocations.revoke(sid="sid-a", sub="auth0|alice", at=NOW - 5)
    assert revocations.is_revoked(_session("sid-a", "auth0|alice", created_at=NOW - 5))
    assert not revocations.is_revoked(_session("sid-new", "auth0|alice", created_at=NOW - 4))
