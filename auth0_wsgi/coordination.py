"""Single flight for refreshes: one grant per refresh token, whoever asks and however many at once.

A coordinator runs ``produce`` for a key at most once: concurrent callers wait on a lock and then
read the result from a short-lived cache, so a request that still carries a just-rotated-out
refresh token gets the new tokens instead of spending the old one (which Auth0 treats as theft).

- :class:`LocalCoordinator`: threads of one process.
- :class:`FileCoordinator`: every process of one host, with ``flock`` and small files (no server).
The Redis store brings one for several hosts. Results are opaque bytes, sealed by the caller.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from .logs import get_logger

log = get_logger(__name__)

RESULT_TTL = 120  # seconds a refresh result answers late requests carrying the old refresh token
_POLL = 0.01


class CoordinationTimeout(Exception):
    """Another request holds the refresh lock for too long."""


class RefreshCoordinator(Protocol):
    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float) -> bytes: ...


class LocalCoordinator:
    """A lock per key and an in-memory result cache, for the threads of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._results: dict[str, tuple[float, bytes]] = {}

    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float) -> bytes:
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._locked(key, timeout):
            cached = self._cached(key)
            if cached is not None:
                return cached
            result = produce()
            with self._guard:
                self._expire()
                self._results[key] = (self._clock() + RESULT_TTL, result)
            return result

    def _cached(self, key: str) -> bytes | None:
        with self._guard:
            entry = self._results.get(key)
        return entry[1] if entry and entry[0] > self._clock() else None

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._results.items() if expires <= now]:
            del self._results[key]

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
    """``flock`` on a file per key, and the result in a file beside it: every worker of one host."""

    def __init__(self, directory: str, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock
        self._ready = False
        self._prepare_lock = threading.Lock()
        self._fallback: LocalCoordinator | None = None

    def run_once(self, key: str, produce: Callable[[], bytes], timeout: float) -> bytes:
        self._prepare()
        if self._fallback is not None:
            return self._fallback.run_once(key, produce, timeout)
        result_path = os.path.join(self.directory, key + ".result")
        cached = self._cached(result_path)
        if cached is not None:
            return cached
        with self._flocked(os.path.join(self.directory, key + ".lock"), timeout):
            cached = self._cached(result_path)
            if cached is not None:
                return cached
            result = produce()
            self._write(result_path, result)
            return result

    def _prepare(self) -> None:
        if self._ready:
            return
        with self._prepare_lock:  # the first requests of a worker arrive together
            if self._ready:
                return
            try:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                info = os.stat(self.directory)
            except OSError as exc:
                self._degrade(f"cannot use it ({type(exc).__name__})")
            else:
                # Another user's directory (or one others may write to) could be fed forged results.
                if info.st_uid != os.getuid() or info.st_mode & 0o022:
                    self._degrade("it belongs to another user or is writable by others")
            self._ready = True

    def _degrade(self, reason: str) -> None:
        log.error("refresh_lock_dir %s: %s; refreshes are coordinated within each process only",
                  self.directory, reason)
        self._fallback = LocalCoordinator()

    def _cached(self, path: str) -> bytes | None:
        try:
            if self._clock() - os.stat(path).st_mtime > RESULT_TTL:
                return None
            with open(path, "rb") as handle:
                return handle.read() or None
        except FileNotFoundError:
            return None

    def _write(self, path: str, result: bytes) -> None:
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(result)
        os.replace(temporary, path)  # atomic: readers see the old file or the whole new one
        self._sweep()

    def _sweep(self) -> None:
        """Remove results and locks of refreshes long past, so the directory stays small."""
        cutoff = self._clock() - 10 * RESULT_TTL
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
        except OSError:
            log.debug("refresh cache sweep skipped", exc_info=True)

    @contextmanager
    def _flocked(self, path: str, timeout: float) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise CoordinationTimeout(path) from None
                    time.sleep(_POLL)
            try:
                os.utime(fd)  # keeps a busy lock file out of the sweep
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
