"""Back-channel logouts for cookie sessions, shared by every worker of one host (``revocation_store = file``).

One append-only file per app in ``refresh_lock_dir`` (``<namespace>.revocations``), a line per entry:
``sid:<hash> <logout time>`` and ``sub:<hash> <logout time>`` (the keyed hashes
:class:`MemoryRevocations` keeps, so the file names no user), and ``once:<hash> <until>`` for the
logout tokens already used (their ``jti``), so that a replay is refused by every worker.

Writers hold ``flock`` on ``<file>.lock``. Readers take no lock: a request costs one ``os.stat``
(~1 µs), and only when the file's inode, size or mtime changed does the worker read what was appended
since, up to the last whole line. A writer that finds more dead lines than live entries (logouts
older than ``session_absolute_duration``, spent claims, lines it cannot read) writes the live ones to
a new file and renames it over the old one, so each entry is copied a bounded number of times. A line
that does not parse is skipped: the file never fails a request.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from .errors import DependencyUnavailable
from .lockdir import LockDirectory, LockTimeout
from .logs import get_logger
from .revocation import MemoryRevocations
from .sealing import b64encode

if TYPE_CHECKING:
    from .session import Session

log = get_logger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

LOCK_TIMEOUT = 10.0  # seconds: a writer holds the lock for one append or one rewrite of a small file
_LINE = re.compile(rb"(sid|sub|once):([A-Za-z0-9_-]{24}) ([0-9]{1,12})")
# The first line of each new file: its own random id. A file removed and written again may get the
# same inode number (and size) as the one a worker last read; the id tells them apart.
_HEADER = b"auth0-wsgi revocations "
_HEADER_LENGTH = len(_HEADER) + 33


def _unless_unwritable(write: Callable[P, T]) -> Callable[P, T]:
    """``write``, whose failure to write the list (a full disk, a quota, a writer holding the lock
    too long) is a 503 the caller can retry (the provider retries a back-channel logout), not a 500."""
    @functools.wraps(write)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return write(*args, **kwargs)
        except (OSError, LockTimeout) as exc:
            log.error("the logout list in refresh_lock_dir cannot be written (%s)",
                      getattr(exc, "strerror", None) or type(exc).__name__)
            raise DependencyUnavailable("Logouts cannot be recorded now; please try again shortly.") from None
    return guarded


class FileRevocations(MemoryRevocations):
    """The revocation list of :class:`MemoryRevocations`, kept in a file every worker reads; the
    logout tokens already used (``claim_once``, ``is_claimed``) are kept there too.

    :param directory: ``refresh_lock_dir``, opened and checked at start-up.
    :param secrets: the app's ``secret``; the first one keys the hashes written to the file.
    :param keep_seconds: ``session_absolute_duration``: no older cookie session can still be alive.
    :param clock: the time source (seconds since the epoch).
    """

    def __init__(self, directory: LockDirectory, secrets: tuple[str, ...], keep_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(secrets, keep_seconds, clock)
        self.directory = directory
        self.file_name = directory.prefix + "revocations"
        self._claims: dict[str, int] = {}  # hashed claim -> until
        self._seen: tuple[int, int] | None = None  # size and mtime of the file when last read
        self._identity: tuple[int, int, bytes] = (-1, -1, b"")  # device, inode, first line of that file
        self._offset = 0  # bytes of whole lines read from it
        self._lines = 0  # lines read from it, understood or not
        self._partial = False  # it ends in the middle of a line
        self._reading = threading.Lock()
        self._failure = ""
        self._write(b"")  # creates the file, and reads what it holds, before the first request
        self._fd = self._open_list()  # fstat is twice as fast as stat

    def __del__(self) -> None:  # a test suite builds hundreds of middlewares in one process
        with contextlib.suppress(AttributeError, OSError):
            os.close(self._fd)

    def is_revoked(self, session: Session) -> bool:
        self._catch_up()
        return super().is_revoked(session)

    def revoked_at(self, session: Session) -> int | None:
        self._catch_up()
        return super().revoked_at(session)

    @_unless_unwritable
    def revoke(self, *, sid: str | None, sub: str | None, at: int) -> int:
        lines = "".join(f"{name} {at}\n" for name in self._names(sid, sub))
        if lines:
            self._write(lines.encode("ascii"))
        return 0  # cookie sessions cannot be counted: they live in browsers

    @_unless_unwritable
    def claim_once(self, name: str, ttl: int) -> bool:
        claim = self._claim(name)
        fd = self.directory.acquire(self.file_name + ".lock", LOCK_TIMEOUT)
        try:
            self._append(b"")
            now = self._clock()
            if self._claims.get(claim, 0) > now:
                return False
            self._append(f"{claim} {int(now) + ttl}\n".encode("ascii"))
            self._compact_if_mostly_dead()
            return True
        finally:
            self.directory.release(fd)

    def is_claimed(self, name: str) -> bool:
        self._catch_up()
        return self._claims.get(self._claim(name), 0) > self._clock()

    def _claim(self, name: str) -> str:
        digest = hmac.new(self._key, f"once:{name}".encode(), hashlib.sha256).digest()
        return f"once:{b64encode(digest[:18])}"

    # -- reading: every request --------------------------------------------------------------------
    def _catch_up(self) -> None:
        try:
            info = os.fstat(self._fd)
            if info.st_nlink and (info.st_size, info.st_mtime_ns) == self._seen:
                return  # the common case: ~1 µs
            with self._reading:
                if info.st_nlink == 0 and not self._reopen():
                    return
                self._read(self._fd)
        except OSError as exc:
            self._warn(f"cannot read it ({exc.strerror})")

    def _reopen(self) -> bool:
        """The file was replaced (compacted) or removed: open the one at its name now, if any (in
        the directory created again, if it was removed too: another worker may have written there)."""
        try:
            fd = self._open_list()
        except FileNotFoundError:
            if not self._missing():
                return False
            try:
                fd = self._open_list()
            except FileNotFoundError:
                return False
        # Another thread may be at its fstat of the old number: it reads a stranger's size at
        # worst, and comes here for nothing.
        old, self._fd = self._fd, fd
        os.close(old)
        return True

    def _open_list(self) -> int:
        return self.directory.open(self.file_name, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block

    def _missing(self) -> bool:
        """No file (a temp-dir cleaner?): what was read stays known; the next logout writes it again.
        True when the directory itself was gone and is open again."""
        try:
            return self.directory.recover()
        except Exception as exc:  # a request never fails on the list: say it, keep what we know
            self._warn(f"{type(exc).__name__}: {exc}")
            return False

    def _read(self, fd: int) -> int:
        """What was appended since the last read (the whole file if it is a new one); its size."""
        info = os.fstat(fd)
        header = os.pread(fd, _HEADER_LENGTH, 0)
        whole = len(header) == _HEADER_LENGTH and header.startswith(_HEADER) and header.endswith(b"\n")
        identity = (info.st_dev, info.st_ino, header if whole else b"")
        if identity != self._identity or info.st_size < self._offset:
            self._identity, self._offset, self._lines = identity, len(identity[2]), 0
        data = os.pread(fd, info.st_size - self._offset, self._offset) if info.st_size > self._offset else b""
        end = data.rfind(b"\n") + 1  # a line being written is read once it is whole
        self._absorb(data[:end])
        self._offset += end
        self._partial = end < len(data)
        self._seen = (info.st_size, info.st_mtime_ns)
        self._failure = ""
        return info.st_size

    def _absorb(self, lines: bytes) -> None:
        revoked: dict[str, int] = {}
        claims: dict[str, int] = {}
        for line in lines.split(b"\n")[:-1]:
            self._lines += 1
            match = _LINE.fullmatch(line)
            if match is None:
                continue  # not ours, or damaged: never a reason to fail a request
            kind, digest, number = (part.decode("ascii") for part in match.groups())
            entries = claims if kind == "once" else revoked
            name = f"{kind}:{digest}"
            entries[name] = max(int(number), entries.get(name, 0))
        self._remember(revoked)
        now = self._clock()
        merged = {k: v for k, v in self._claims.items() if v > now}
        for name, until in claims.items():
            if until > now:
                merged[name] = max(until, merged.get(name, 0))
        self._claims = merged  # swapped whole, as the revocations are

    def _warn(self, problem: str) -> None:
        if problem != self._failure:  # once per new problem, not once per request
            self._failure = problem
            log.warning("back-channel logout list %s in %s: %s; logouts already read still apply",
                        self.file_name, self.directory.path, problem)

    # -- writing: a back-channel logout ------------------------------------------------------------
    def _write(self, lines: bytes) -> None:
        fd = self.directory.acquire(self.file_name + ".lock", LOCK_TIMEOUT)
        try:
            self._append(lines)
            if lines:
                self._compact_if_mostly_dead()
        finally:
            self.directory.release(fd)

    def _append(self, lines: bytes) -> None:
        """Under the write lock: catch up with the file, then add ``lines`` to it and read them back."""
        fd = self.directory.open(self.file_name, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            with self._reading:
                if self._read(fd) == 0:
                    lines = _new_header() + lines
                elif self._partial:
                    lines = b"\n" + lines  # a writer died in the middle of its line
                if not lines:
                    return
                view = memoryview(lines)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)  # a logout the provider was told we took survives a power cut
                self._read(fd)
        finally:
            os.close(fd)

    def _compact_if_mostly_dead(self) -> None:
        self._remember({})  # prunes the old logouts
        live = len(self._revoked) + len(self._claims)
        if self._lines - live <= live:
            return
        lines = [f"{name} {at}\n" for name, at in self._revoked.items()]
        lines += [f"{name} {until}\n" for name, until in self._claims.items() if until > self._clock()]
        temporary = self.file_name + ".tmp"
        fd = self.directory.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as handle:
            handle.write(_new_header() + "".join(lines).encode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())  # whole on disk before it takes the list's name
        self.directory.replace(temporary, self.file_name)  # readers see a new inode and read it whole
        self.directory.sync()
        log.debug("back-channel logout list compacted to %d entries", len(lines))


def _new_header() -> bytes:
    return _HEADER + secrets.token_hex(16).encode("ascii") + b"\n"
