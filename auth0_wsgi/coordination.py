"""Single flight for refreshes: one grant per refresh token, whoever asks and however many at once.

A coordinator runs ``produce`` for a key at most once: concurrent callers wait on a lock and then
read the result from a short-lived cache, so a request that still carries a just-rotated-out
refresh token gets the new tokens instead of spending the old one (which Auth0 treats as theft).

- :class:`LocalCoordinator`: threads of one process.
- :class:`FileCoordinator`: every process of one host, with ``flock`` and small files (no server)
  in ``refresh_lock_dir``.
The Redis store brings one for several hosts. Results are opaque bytes, sealed by the caller.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from .cache import ExpiringMap
from .lockdir import LockDirectory, LockTimeout
from .logs import get_logger

log = get_logger(__name__)

RESULT_TTL = 120  # seconds a refresh result answers late requests carrying the old refresh token
_KEY = re.compile(r"[0-9a-f]{16,128}")  # refresh keys are hex digests: safe in a file name


class CoordinationTimeout(Exception):
    """Another request holds the refresh lock for too long."""


class RefreshCoordinator(Protocol):
    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float,
                 keep: int = RESULT_TTL) -> bytes:
        """``produce()`` for ``key``, or the result it gave another caller less than ``keep``
        seconds ago (:data:`RESULT_TTL`; longer for a grant that spends a refresh token another
        request's cookie may still hold: ``refresh.py``). Raises what ``produce`` raised (nothing is
        cached then), :class:`CoordinationTimeout` after waiting ``timeout`` seconds for another
        caller's ``produce``, and ``StoreUnavailable`` when Redis is down."""
        ...


class LocalCoordinator:
    """A lock per key and an in-memory result cache, for the threads of one process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        # Not bounded by count: a result dropped early makes a late request spend its rotated-out
        # refresh token, which ends the session. RESULT_TTL bounds it (one entry per refresh).
        self._results: ExpiringMap[str, bytes] = ExpiringMap(clock=clock)

    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float,
                 keep: int = RESULT_TTL) -> bytes:
        cached = self._results.get(key)
        if cached is not None:
            return cached
        with self._locked(key, timeout):
            cached = self._results.get(key)
            if cached is not None:
                return cached
            result = produce()
            self._results.put(key, result, keep)
            return result

    @contextmanager
    def _locked(self, key: str, timeout: float) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=timeout):
                raise CoordinationTimeout(key)
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class FileCoordinator:
    """``flock`` on a file per key, and the result in a file beside it: every worker of one host.

    The files live in ``refresh_lock_dir`` (a :class:`LockDirectory`, checked at start-up) and are
    named ``<namespace>.<key>.lock`` and ``.result``, so that two apps of one user never mix results;
    the sweep deletes those names and nothing else.
    """

    def __init__(self, directory: LockDirectory, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock
        self._next_sweep = 0.0
        self._ours = re.compile(re.escape(directory.prefix) + _KEY.pattern
                                + r"\.(?:lock|result(?:\.[0-9]+\.[0-9]+\.tmp)?)")

    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float,
                 keep: int = RESULT_TTL) -> bytes:
        if not _KEY.fullmatch(key):
            raise ValueError("a refresh key is a hex digest")  # it becomes a file name
        name = self.directory.prefix + key
        cached = self._cached(name + ".result")
        if cached is not None:
            return cached
        with self._locked(name + ".lock", timeout):
            cached = self._cached(name + ".result")
            if cached is not None:
                return cached
            result = produce()
            try:
                self._write(name + ".result", result, keep)
            except Exception as exc:  # the grant is spent: its result must reach the session anyway
                log.warning("a refresh result could not be kept in %s (%s): a late request still carrying "
                            "the old refresh token will spend it again", self.directory.path,
                            type(exc).__name__)
            return result

    def _cached(self, name: str) -> bytes | None:
        """A result file's mtime is the end of its life (by our clock), not when it was written."""
        try:
            fd = self.directory.open(name, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO there must not block
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or self._clock() > info.st_mtime:
                return None
            return handle.read() or None

    def _write(self, name: str, result: bytes, keep: int) -> None:
        temporary = f"{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = self.directory.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        now = self._clock()
        with os.fdopen(fd, "wb") as handle:
            handle.write(result)
            handle.flush()
            os.utime(fd, (now + keep, now + keep))  # our clock's: results age by the clock that reads them
        self.directory.replace(temporary, name)  # atomic: readers see the old file or the whole new one
        if now >= self._next_sweep:
            self._next_sweep = now + RESULT_TTL
            self._sweep(now - 10 * RESULT_TTL)

    def _sweep(self, cutoff: float) -> None:
        """Remove our results and locks of refreshes long past (and a crashed writer's temporary
        file), so the directory stays small; any other file there is not ours to delete."""
        try:
            for name, info in self.directory.entries():
                if not (self._ours.fullmatch(name) and stat.S_ISREG(info.st_mode)
                        and info.st_uid == self.directory.owner and info.st_mtime < cutoff):
                    continue
                if name.endswith(".lock"):
                    self.directory.remove_lock(name, cutoff)
                else:
                    self.directory.unlink(name)
        except OSError:
            log.debug("refresh cache sweep skipped", exc_info=True)

    @contextmanager
    def _locked(self, name: str, timeout: float) -> Iterator[None]:
        try:
            fd = self.directory.acquire(name, timeout)
        except LockTimeout:
            raise CoordinationTimeout(name) from None
        try:
            now = self._clock()
            os.utime(fd, (now, now))  # keeps a busy lock file out of the sweep
            yield
        finally:
            self.directory.release(fd)
