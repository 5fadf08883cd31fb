"""is_claimed, on every LogoutRegistry that keeps its claims in this process: a read that claims
nothing, true from the claim until its TTL runs out (the Redis ones are exercised end to end in
tests/test_backchannel_logout.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.revocation import MemoryRevocations
from auth0_wsgi.session import Lifetime, LogoutRegistry
from auth0_wsgi.stores.memory import MemoryBackend
from auth0_wsgi.stores.server import ServerSideStore
from tests.support.clocks import Clock

SECRETS = ("s" * 40,)


def _memory_revocations(clock: Clock) -> LogoutRegistry:
    return MemoryRevocations(SECRETS, keep_seconds=3600, clock=clock)


def _server_side_store(clock: Clock) -> LogoutRegistry:
    return ServerSideStore("auth0_session", MemoryBackend(clock), SECRETS, Lifetime(86400, 604800),
                           CookieOptions(path="/", secure=True, samesite="Lax"), clock)


REGISTRIES = [
    pytest.param(_memory_revocations, id="cookie-store-revocation-list"),
    pytest.param(_server_side_store, id="memory-server-side-store"),
]


@pytest.mark.parametrize("make", REGISTRIES)
def test_is_claimed_is_a_read_until_the_claim_expires(make: Callable[[Clock], LogoutRegistry]):
    clock = Clock(1_000_000)
    registry = make(clock)
    assert not registry.is_claimed("jti:a")
    assert not registry.is_claimed("jti:a"), "asking must not claim"
    assert registry.claim_once("jti:a", ttl=240)
    assert registry.is_claimed("jti:a")
    assert not registry.is_claimed("jti:b")
    clock.advance(239)
    assert registry.is_claimed("jti:a")
    clock.advance(1)
    assert not registry.is_claimed("jti:a")
    assert registry.claim_once("jti:a", ttl=240)
