"""The directory the workers of one host share (``refresh_lock_dir``): ours alone, or no start.

Its files decide which refresh result a request gets and which cookie sessions a back-channel
logout ended. A directory another local user can write to could be fed their files, and a symlink
planted at the default path (in the shared temp directory) would turn our clean-up into deletions
wherever it points. So the directory is opened once, when the middleware is built, without
following a symlink, and checked on the open descriptor (nothing can be swapped between the check
and the use); every file is then opened relative to that descriptor, never through a symlink
either. Anything wrong stops the start with a :class:`ConfigError` naming ``refresh_lock_dir``:
falling back to per-process locks would let two workers spend the same refresh token.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import threading
import time

from .errors import ConfigError
from .logs import get_logger

log = get_logger(__name__)

OPTION = "refresh_lock_dir"
FIX = ("set refresh_lock_dir to a directory of the user that runs the app which no other user can "
       "write to (chmod 700), or remove what is in the way")
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_POLL = 0.01  # seconds between two tries of a busy lock


class LockTimeout(Exception):
    """Another process held a lock for longer than we could wait."""


def file_prefix(namespace: str) -> str:
    """``Config.namespace`` as the start of our file names: ``auth0wsgi:billing:AbC…:`` gives
    ``auth0wsgi.billing.AbC….`` (its digest of the client id keeps two apps apart)."""
    prefix = _NOT_IN_A_NAME.sub(".", namespace)
    return prefix if prefix.endswith(".") else prefix + "."


class LockDirectory:
    """``refresh_lock_dir``, opened and checked at start-up; our files in it, by name.

    :param path: the absolute path of the directory (created, mode 0700, if missing).
    :param namespace: :attr:`Config.namespace`; file names start with :attr:`prefix`.
    :raises ConfigError: the directory cannot be created, is a symlink or not a directory,
        belongs to another user or can be written by others.
    """

    def __init__(self, path: str, namespace: str) -> None:
        self.path = path
        self.prefix = file_prefix(namespace)
        self.owner = os.geteuid()
        self._guard = threading.Lock()
        self._retired: list[int] = []
        self._fd = _open_private(path, self.owner)

    def __del__(self) -> None:  # a test suite builds hundreds of middlewares in one process
        for fd in (getattr(self, "_fd", -1), *getattr(self, "_retired", ())):
            with contextlib.suppress(OSError):
                os.close(fd)

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        """``os.open`` of a file in the directory, never through a symlink."""
        flags |= os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(name, flags, mode, dir_fd=self._fd)
        except FileNotFoundError:
            if not flags & os.O_CREAT or not self.recover():
                raise
            return os.open(name, flags, mode, dir_fd=self._fd)

    def stat(self, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=self._fd, follow_symlinks=False)

    def replace(self, source: str, target: str) -> None:
        os.replace(source, target, src_dir_fd=self._fd, dst_dir_fd=self._fd)

    def sync(self) -> None:
        """The directory's entries on disk (a rename survives a power cut)."""
        os.fsync(self._fd)

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):  # another worker's sweep was first
            os.unlink(name, dir_fd=self._fd)

    def entries(self) -> list[tuple[str, os.stat_result]]:
        """Each entry's name and ``lstat``."""
        # A descriptor of our own: the shared one's read offset belongs to every forked worker.
        fd = os.open(".", _DIRECTORY_FLAGS, dir_fd=self._fd)
        found: list[tuple[str, os.stat_result]] = []
        try:
            with os.scandir(fd) as scan:
                for entry in scan:
                    try:
                        found.append((entry.name, entry.stat(follow_symlinks=False)))
                    except FileNotFoundError:
                        continue
        finally:
            os.close(fd)
        return found

    def recover(self) -> bool:
        """Open the directory again if it was removed (a temp-dir cleaner); True if it was.

        :raises ConfigError: what is at the path now is not ours.
        """
        with self._guard:
            if os.fstat(self._fd).st_nlink > 0:
                return False
            # The old descriptor stays open: another thread may be using it this very moment, and
            # a closed number reused for another file would point its dir_fd calls there.
            fd = _open_private(self.path, self.owner)
            self._retired.append(self._fd)
            self._fd = fd
            log.warning("refresh_lock_dir %s was removed while in use: created again", self.path)
            return True

    def acquire(self, name: str, timeout: float) -> int:
        """An exclusive ``flock`` on the file ``name`` (created if need be), for every process of
        the host; returns its descriptor, for :meth:`release`.

        :raises LockTimeout: it stayed busy for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            fd = self.open(name, os.O_RDWR | os.O_CREAT)
            try:
                if not _flock(fd, deadline):
                    raise LockTimeout(name)
                if self._is_linked(fd, name):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # swept away while we waited: lock the file now at that name

    def release(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def remove_lock(self, name: str, older_than: float) -> None:
        """Delete a lock file nobody holds that was last used before ``older_than``."""
        try:
            fd = self.open(name, os.O_RDWR)
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # in use right now
            if os.fstat(fd).st_mtime < older_than and self._is_linked(fd, name):
                self.unlink(name)  # under our lock: a waiter will see it gone and lock a new one
        finally:
            os.close(fd)

    def _is_linked(self, fd: int, name: str) -> bool:
        try:
            mine, there = os.fstat(fd), self.stat(name)
        except FileNotFoundError:
            return False
        return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def _flock(fd: int, deadline: float) -> bool:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


def _open_private(path: str, owner: int) -> int:
    _create(path)
    try:
        fd = os.open(path, _DIRECTORY_FLAGS)
    except OSError as exc:
        raise _refusal(path, _why_not(path, exc)) from None
    try:
        problem = _problem(os.fstat(fd), owner)
    except OSError as exc:
        problem = f"cannot be checked ({exc.strerror})"
    if problem:
        os.close(fd)
        raise _refusal(path, problem)
    return fd


def _create(path: str) -> None:
    try:
        try:
            os.mkdir(path, 0o700)
        except FileNotFoundError:  # its parent is missing too
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
    except FileExistsError:
        return  # whatever is there is checked once opened
    except OSError as exc:
        raise _refusal(path, f"cannot be created ({exc.strerror or type(exc).__name__})") from None


def _why_not(path: str, exc: OSError) -> str:
    try:
        info = os.lstat(path)
    except OSError:
        return f"cannot be opened ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    return f"cannot be opened ({exc.strerror})"


def _problem(info: os.stat_result, owner: int) -> str:
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if info.st_uid != owner:
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return ""


def _refusal(path: str, problem: str) -> ConfigError:
    return ConfigError(OPTION, f"{path} {problem}", FIX)
