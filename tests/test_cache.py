"""cache.py: the bounded cache and the expiring map every in-memory table is built on."""

from __future__ import annotations

import math
import threading

import pytest

from auth0_wsgi.cache import BoundedCache, ExpiringMap
from tests.support.clocks import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


# -- ExpiringMap: lifetimes ------------------------------------------------------------------------------

@pytest.mark.parametrize(("ttl", "later", "alive"), [
    pytest.param(10, 0, True, id="just-written"),
    pytest.param(10, 9.9, True, id="before-its-ttl"),
    pytest.param(10, 10, False, id="at-its-ttl"),
    pytest.param(10, 3600, False, id="long-after"),
    pytest.param(math.inf, 10 ** 9, True, id="inf-never-expires"),
    pytest.param(0, 0, False, id="zero-ttl-is-never-live"),
])
def test_an_entry_lives_for_its_ttl(clock, ttl, later, alive):
    entries: ExpiringMap[str, str] = ExpiringMap(clock=clock)
    entries.put("k", "v", ttl)
    clock.advance(later)
    assert (entries.get("k"), "k" in entries) == (("v", True) if alive else (None, False))
    assert (entries.ttl("k") is not None) is alive


def test_ttl_says_how_long_an_entry_has_left(clock):
    entries: ExpiringMap[str, int] = ExpiringMap(clock=clock)
    assert entries.ttl("missing") is None
    entries.put("k", 1, 60)
    clock.advance(15)
    assert entries.ttl("k") == 45


def test_put_replaces_the_value_and_its_lifetime(clock):
    entries: ExpiringMap[str, str] = ExpiringMap(clock=clock)
    entries.put("k", "old", 10)
    clock.advance(5)
    entries.put("k", "new", 10)
    clock.advance(9)
    assert entries.get("k") == "new"


@pytest.mark.parametrize(("later", "added", "value"), [
    pytest.param(0, False, "first", id="while-live-refused"),
    pytest.param(9, False, "first", id="just-before-expiry-refused"),
    pytest.param(10, True, "second", id="once-expired-taken-again"),
])
def test_add_takes_a_key_once_while_it_lives(clock, later, added, value):
    entries: ExpiringMap[str, str] = ExpiringMap(clock=clock)
    assert entries.add("k", "first", 10)
    clock.advance(later)
    assert entries.add("k", "second", 10) is added
    assert entries.get("k") == value


@pytest.mark.parametrize(("later", "popped"), [
    pytest.param(0, "v", id="live"),
    pytest.param(10, None, id="expired"),
])
def test_pop_removes_a_key_and_returns_its_live_value(clock, later, popped):
    entries: ExpiringMap[str, str] = ExpiringMap(clock=clock)
    entries.put("k", "v", 10)
    clock.advance(later)
    assert entries.pop("k") == popped
    assert entries.pop("k") is None
    assert len(entries) == 0


def test_drop_where_removes_the_entries_whose_value_matches(clock):
    entries: ExpiringMap[str, tuple[str, int]] = ExpiringMap(clock=clock)
    for n, key in enumerate("abcd"):
        entries.put(key, (f"record:{key}", n), 60)
    entries.drop_where(lambda value: value[0] in {"record:a", "record:c"})
    assert [key for key in "abcd" if key in entries] == ["b", "d"]


# -- ExpiringMap: the bound and the sweep ----------------------------------------------------------------

@pytest.mark.parametrize(("size", "writes", "kept"), [
    pytest.param(3, ["a", "b", "c"], ["a", "b", "c"], id="at-the-bound"),
    pytest.param(3, ["a", "b", "c", "d"], ["b", "c", "d"], id="past-it-the-oldest-goes"),
    pytest.param(3, ["a", "b", "c", "a", "d"], ["c", "a", "d"], id="a-rewrite-is-the-newest"),
    pytest.param(1, ["a", "b"], ["b"], id="size-one"),
    pytest.param(None, [str(i) for i in range(5000)], [str(i) for i in range(5000)], id="no-bound"),
])
def test_past_its_size_the_least_recently_written_entry_goes(clock, size, writes, kept):
    entries: ExpiringMap[str, bool] = ExpiringMap(size, clock)
    for key in writes:
        entries.put(key, True, math.inf)
    assert {key for key in writes if key in entries} == set(kept)
    assert len(entries) == len(kept)


def test_an_add_past_the_bound_pushes_out_the_oldest(clock):
    entries: ExpiringMap[str, bool] = ExpiringMap(2, clock)
    assert entries.add("a", True, 60) and entries.add("b", True, 60) and entries.add("c", True, 60)
    assert "a" not in entries
    assert entries.add("a", True, 60), "forgotten: it can be taken again"


@pytest.mark.parametrize("size", [pytest.param(0, id="zero"), pytest.param(-1, id="negative")])
def test_a_map_holds_at_least_one_entry(size):
    with pytest.raises(ValueError, match="at least one"):
        ExpiringMap(size)


def test_expired_entries_of_one_lifetime_are_dropped_as_writes_go(clock):
    entries: ExpiringMap[int, int] = ExpiringMap(clock=clock)
    for i in range(10_000):
        entries.put(i, i, 5)
        clock.advance(1)
    assert len(entries) <= 6  # the five still live, and the one being written


def test_expired_entries_behind_a_long_lived_one_are_swept(clock):
    entries: ExpiringMap[int, int] = ExpiringMap(clock=clock)
    entries.put(-1, -1, math.inf)  # at the front for ever: the cheap drop at the front stops here
    for i in range(20_000):
        entries.put(i, i, 5)
        clock.advance(1)
    assert len(entries) < 2 * 1024  # swept each time it doubled, never more than twice the live ones
    assert entries.get(-1) == -1


def test_one_add_of_many_concurrent_ones_takes_the_key(clock):
    entries: ExpiringMap[str, int] = ExpiringMap(clock=clock)
    start = threading.Barrier(16)
    taken: list[bool] = []

    def claim(n: int) -> None:
        start.wait()
        taken.append(entries.add("jti", n, 60))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(True) == 1


# -- BoundedCache ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("writes", "kept"), [
    pytest.param(["a", "b"], ["a", "b"], id="at-the-bound"),
    pytest.param(["a", "b", "c"], ["b", "c"], id="past-it-the-oldest-goes"),
    pytest.param(["a", "b", "a", "c"], ["b", "c"], id="a-rewrite-keeps-its-place"),
])
def test_the_bounded_cache_keeps_the_newest_entries(writes, kept):
    cache: BoundedCache[str, str] = BoundedCache(2)
    for key in writes:
        cache.put(key, key.upper())
    assert [key for key in "abc" if cache.get(key) is not None] == kept


def test_the_bounded_cache_pops_and_drops_by_value():
    cache: BoundedCache[str, int] = BoundedCache(10)
    for n, key in enumerate("abcd"):
        cache.put(key, n)
    cache.pop("a")
    cache.drop_where(lambda value: value % 2 == 1)
    assert [key for key in "abcd" if cache.get(key) is not None] == ["c"]
