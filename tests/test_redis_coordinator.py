"""Single flight across hosts (stores.redis.RedisCoordinator): the lease outlives a slow refresh.

Real Redis, real time: the lease runs on Redis' clock, so these tests use a 0.3 s lease and a
produce() that takes several lease lengths (a slow token endpoint, each read under http_timeout).
"""

from __future__ import annotations

import secrets
import threading
import time

import pytest

from auth0_wsgi.coordination import RESULT_TTL, CoordinationTimeout
from auth0_wsgi.stores.redis import RedisCoordinator, connect

LEASE = 0.3


@pytest.fixture
def coordinator(redis_url) -> RedisCoordinator:
    return RedisCoordinator(connect(redis_url, 2.0), lease_seconds=LEASE,
                            namespace=f"auth0wsgi:t{secrets.token_hex(4)}:")


def _slow_holder(coordinator: RedisCoordinator, calls: list[str], seconds: float):
    """Starts a caller whose produce() takes ``seconds``; returns once it holds the lock."""
    started, results = threading.Event(), []

    def produce() -> bytes:
        calls.append("holder")
        started.set()
        time.sleep(seconds)  # real time: the lease runs on Redis' clock
        return b"holder's result"

    thread = threading.Thread(target=lambda: results.append(coordinator.run_once("k", produce, timeout=5)))
    thread.start()
    assert started.wait(5)
    return thread, results


def _second(calls: list[str]) -> bytes:
    calls.append("second")
    return b"second result"


def test_a_refresh_longer_than_the_lease_is_not_run_again_by_a_waiter(coordinator):
    calls: list[str] = []
    holder, results = _slow_holder(coordinator, calls, 4 * LEASE)
    assert coordinator.run_once("k", lambda: _second(calls), timeout=5) == b"holder's result"
    holder.join(5)
    assert calls == ["holder"]
    assert results == [b"holder's result"]


def test_a_waiter_whose_timeout_ends_first_gives_up_without_running_produce(coordinator):
    calls: list[str] = []
    holder, _ = _slow_holder(coordinator, calls, 5 * LEASE)
    with pytest.raises(CoordinationTimeout):
        coordinator.run_once("k", lambda: _second(calls), timeout=2 * LEASE)  # past the first lease
    holder.join(5)
    assert calls == ["holder"]


def test_the_lease_stops_being_renewed_once_released(coordinator):
    assert coordinator.run_once("k", lambda: b"done", timeout=1) == b"done"
    lock_key = coordinator._namespace + "refresh-lock:k"
    assert not coordinator._redis.exists(lock_key)
    deadline = time.monotonic() + 2
    while any(t.name == "auth0-wsgi-refresh-lease" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the lease keeper outlived its lock"
        time.sleep(0.01)  # real time: waiting for a thread to end


def test_a_dead_holders_lease_still_runs_out(coordinator):
    """A holder that crashed renews nothing: the next caller gets the lock after one lease."""
    coordinator._redis.set(coordinator._namespace + "refresh-lock:k", "crashed", px=int(LEASE * 1000))
    assert coordinator.run_once("k", lambda: b"after the lease", timeout=5) == b"after the lease"


def test_a_result_lives_in_redis_for_as_long_as_asked(coordinator):
    """Redis' clock cannot be moved: the result's TTL is read instead (RESULT_TTL by default)."""
    coordinator.run_once("kept", lambda: b"r", timeout=1, keep=86400)
    coordinator.run_once("usual", lambda: b"r", timeout=1)
    client, namespace = coordinator._redis, coordinator._namespace
    assert 86400 - 5 < client.ttl(f"{namespace}refresh-result:{{kept}}") <= 86400
    assert RESULT_TTL - 5 < client.ttl(f"{namespace}refresh-result:{{usual}}") <= RESULT_TTL
