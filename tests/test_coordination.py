"""Single flight: one produce() per key across threads and processes; the result cache."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from auth0_wsgi.coordination import RESULT_TTL, CoordinationTimeout, FileCoordinator, LocalCoordinator
from auth0_wsgi.lockdir import LockDirectory, file_prefix
from tests.support.clocks import Clock

NAMESPACE = "auth0wsgi:AbCdEfGhIjKl:"
KEY, OTHER = "ab" * 32, "cd" * 32  # refresh keys are SHA-256 hex digests


def _hammer(coordinator, key: str, calls: list, workers: int = 16) -> list[bytes]:
    results: list[bytes] = []
    barrier = threading.Barrier(workers)

    def produce() -> bytes:
        calls.append(1)
        time.sleep(0.1)  # real time: the other threads must arrive while the first one produces
        return b"result-%d" % len(calls)

    def worker() -> None:
        barrier.wait()
        results.append(coordinator.run_once(key, produce, timeout=5))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


@pytest.fixture(params=["local", "file"])
def coordinator(request, tmp_path):
    if request.param == "local":
        return LocalCoordinator()
    return FileCoordinator(LockDirectory(str(tmp_path / "locks"), NAMESPACE))


def test_concurrent_callers_share_one_produce(coordinator):
    calls: list = []
    results = _hammer(coordinator, KEY, calls)
    assert len(calls) == 1
    assert results == [b"result-1"] * 16


def test_later_callers_get_the_cached_result(coordinator):
    assert coordinator.run_once(KEY, lambda: b"first", timeout=1) == b"first"
    assert coordinator.run_once(KEY, lambda: b"second", timeout=1) == b"first"
    assert coordinator.run_once(OTHER, lambda: b"second", timeout=1) == b"second"


def test_a_failed_produce_caches_nothing(coordinator):
    def boom() -> bytes:
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        coordinator.run_once(KEY, boom, timeout=1)
    assert coordinator.run_once(KEY, lambda: b"ok", timeout=1) == b"ok"


def test_a_waiter_gives_up_after_its_timeout(coordinator):
    started, released = threading.Event(), threading.Event()

    def slow() -> bytes:
        started.set()
        released.wait(5)  # holds the lock until the waiter has given up
        return b"slow"

    holder = threading.Thread(target=lambda: coordinator.run_once(KEY, slow, timeout=5))
    holder.start()
    started.wait(5)
    try:
        with pytest.raises(CoordinationTimeout):  # a real 0.2 s: it waits on a lock another thread holds
            coordinator.run_once(KEY, lambda: b"never", timeout=0.2)
    finally:
        released.set()
        holder.join(5)


def _process_worker(directory: str, log_path: str, start_at: float) -> None:
    coordinator = FileCoordinator(LockDirectory(directory, NAMESPACE))
    time.sleep(max(0.0, start_at - time.time()))  # real time: the processes start together

    def produce() -> bytes:
        with open(log_path, "a") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(0.2)  # real time: the other processes must arrive while this one produces
        return b"shared"

    assert coordinator.run_once(KEY, produce, timeout=5) == b"shared"


def test_file_coordinator_spans_processes(tmp_path):
    log_path = tmp_path / "produced.log"
    start_at = time.time() + 0.5
    context = multiprocessing.get_context("fork")
    args = (str(tmp_path / "locks"), str(log_path), start_at)
    processes = [context.Process(target=_process_worker, args=args) for _ in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(15)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    assert len(log_path.read_text().splitlines()) == 1


def _aged(path, seconds_ago: float, clock: Clock) -> None:
    path.write_bytes(b"x")
    os.utime(path, (clock.now - seconds_ago, clock.now - seconds_ago))


def test_the_sweep_removes_only_our_own_stale_files(tmp_path):
    clock = Clock()
    path = tmp_path / "locks"
    directory = LockDirectory(str(path), NAMESPACE)
    prefix = directory.prefix
    stale = 10 * RESULT_TTL + 1
    ours_stale = [f"{prefix}{OTHER}.lock", f"{prefix}{OTHER}.result", f"{prefix}{OTHER}.result.123.456.tmp"]
    ours_fresh = [f"{prefix}{'ef' * 32}.result"]
    not_ours = ["app.sqlite3", "notes.lock", f"{OTHER}.result",  # an app's files, an older version's
                f"{file_prefix('auth0wsgi:ZZZZZZZZZZZZ:')}{OTHER}.result",  # another app of this user
                f"{prefix}{OTHER}.lock.bak", f"{prefix}not-hex.lock"]
    for name in ours_stale + not_ours:
        _aged(path / name, stale, clock)
    for name in ours_fresh:
        _aged(path / name, 60, clock)
    (path / f"{prefix}{'12' * 32}.lock").mkdir()  # named like ours, but not a regular file
    os.utime(path / f"{prefix}{'12' * 32}.lock", (clock.now - stale, clock.now - stale))
    os.symlink(tmp_path, path / f"{prefix}{'34' * 32}.result")

    FileCoordinator(directory, clock=clock).run_once(KEY, lambda: b"r", timeout=1)  # a write sweeps

    left = {p.name for p in path.iterdir()}
    assert left.isdisjoint(ours_stale)
    assert set(not_ours) | set(ours_fresh) <= left
    assert {f"{prefix}{'12' * 32}.lock", f"{prefix}{'34' * 32}.result"} <= left
    assert {f"{prefix}{KEY}.lock", f"{prefix}{KEY}.result"} <= left


def test_our_files_age_out_as_the_clock_moves(tmp_path):
    clock = Clock()
    directory = LockDirectory(str(tmp_path / "locks"), NAMESPACE)
    coordinator = FileCoordinator(directory, clock=clock)
    coordinator.run_once(KEY, lambda: b"first", timeout=1)
    clock.advance(RESULT_TTL + 1)
    assert coordinator.run_once(KEY, lambda: b"again", timeout=1) == b"again"  # the cache has expired
    clock.advance(RESULT_TTL + 10 * RESULT_TTL + 1)  # swept ten lifetimes after a result's life ends
    coordinator.run_once(OTHER, lambda: b"other", timeout=1)
    names = {p.name for p in (tmp_path / "locks").iterdir()}
    assert names == {f"{directory.prefix}{OTHER}.lock", f"{directory.prefix}{OTHER}.result"}


def test_a_local_result_answers_for_result_ttl_seconds_of_its_clock():
    clock = Clock()
    coordinator = LocalCoordinator(clock)
    coordinator.run_once(KEY, lambda: b"first", timeout=1)
    clock.advance(RESULT_TTL - 1)
    assert coordinator.run_once(KEY, lambda: b"again", timeout=1) == b"first"
    clock.advance(2)
    assert coordinator.run_once(KEY, lambda: b"again", timeout=1) == b"again"


def test_two_apps_on_one_host_never_share_a_refresh_result(tmp_path):
    billing = FileCoordinator(LockDirectory(str(tmp_path / "locks"), "auth0wsgi:billing:AbCdEfGhIjKl:"))
    shop = FileCoordinator(LockDirectory(str(tmp_path / "locks"), "auth0wsgi:MnOpQrStUvWx:"))
    assert billing.run_once(KEY, lambda: b"billing", timeout=1) == b"billing"
    assert shop.run_once(KEY, lambda: b"shop", timeout=1) == b"shop"


def test_a_key_that_is_not_hex_is_refused(tmp_path):
    coordinator = FileCoordinator(LockDirectory(str(tmp_path / "locks"), NAMESPACE))
    with pytest.raises(ValueError):
        coordinator.run_once("../../etc/passwd", lambda: b"r", timeout=1)
    assert list((tmp_path / "locks").iterdir()) == []



@pytest.mark.parametrize("kind", ["local", "file"])
def test_a_result_kept_longer_answers_for_as_long_as_asked(kind, tmp_path):
    """A chained grant's result (refresh.py) answers for the session's lifetime, not RESULT_TTL."""
    clock = Clock()
    coordinator = (LocalCoordinator(clock) if kind == "local"
                   else FileCoordinator(LockDirectory(str(tmp_path / "locks"), NAMESPACE), clock=clock))
    keep = 86400
    coordinator.run_once(KEY, lambda: b"kept", timeout=1, keep=keep)
    coordinator.run_once(OTHER, lambda: b"usual", timeout=1)
    clock.advance(keep - 1)
    assert coordinator.run_once(KEY, lambda: b"again", timeout=1) == b"kept"
    assert coordinator.run_once(OTHER, lambda: b"again", timeout=1) == b"again"
    clock.advance(2)
    assert coordinator.run_once(KEY, lambda: b"again", timeout=1) == b"again"
