"""Single flight: one produce() per key across threads and processes; the result cache."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time

import pytest

from auth0_wsgi.coordination import CoordinationTimeout, FileCoordinator, LocalCoordinator


def _hammer(coordinator, key: str, calls: list, workers: int = 16) -> list[bytes]:
    results: list[bytes] = []
    barrier = threading.Barrier(workers)

    def produce() -> bytes:
        calls.append(1)
        time.sleep(0.1)
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
    return LocalCoordinator() if request.param == "local" else FileCoordinator(str(tmp_path / "locks"))


def test_concurrent_callers_share_one_produce(coordinator):
    calls: list = []
    results = _hammer(coordinator, "k", calls)
    assert len(calls) == 1
    assert results == [b"result-1"] * 16


def test_later_callers_get_the_cached_result(coordinator):
    assert coordinator.run_once("k", lambda: b"first", timeout=1) == b"first"
    assert coordinator.run_once("k", lambda: b"second", timeout=1) == b"first"
    assert coordinator.run_once("other", lambda: b"second", timeout=1) == b"second"


def test_a_failed_produce_caches_nothing(coordinator):
    def boom() -> bytes:
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        coordinator.run_once("k", boom, timeout=1)
    assert coordinator.run_once("k", lambda: b"ok", timeout=1) == b"ok"


def test_a_waiter_gives_up_after_its_timeout(coordinator):
    started = threading.Event()

    def slow() -> bytes:
        started.set()
        time.sleep(1.0)
        return b"slow"

    holder = threading.Thread(target=lambda: coordinator.run_once("k", slow, timeout=5))
    holder.start()
    started.wait(5)
    with pytest.raises(CoordinationTimeout):
        coordinator.run_once("k", lambda: b"never", timeout=0.2)
    holder.join(5)


def _process_worker(directory: str, log_path: str, start_at: float) -> None:
    coordinator = FileCoordinator(directory)
    time.sleep(max(0.0, start_at - time.time()))

    def produce() -> bytes:
        with open(log_path, "a") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(0.2)
        return b"shared"

    assert coordinator.run_once("k", produce, timeout=5) == b"shared"


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


def test_a_directory_others_can_write_to_is_not_trusted(tmp_path, caplog):
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    coordinator = FileCoordinator(str(directory))
    with caplog.at_level(logging.ERROR):
        assert coordinator.run_once("k", lambda: b"r", timeout=1) == b"r"
    assert "writable by others" in caplog.text
    assert list(directory.iterdir()) == []  # nothing was written there
