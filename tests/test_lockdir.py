"""refresh_lock_dir: a directory of our own, checked when the middleware is built, or no start."""

from __future__ import annotations

import contextlib
import gc
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.errors import ConfigError
from auth0_wsgi.lockdir import LockDirectory, file_prefix
from tests.support.apps import echo_app
from tests.support.fake_provider import FakeProvider
from tests.support.flows import settings_for

NOBODY = 65534  # "another local user": the tests run as root, which may hand a directory to anyone
DAY = 86400


def _build(fake: FakeProvider, **settings: str) -> Auth0Middleware:
    return Auth0Middleware(echo_app, **settings_for(fake, **settings))


def _old_files(directory: Path, names: list[str]) -> None:
    directory.mkdir(mode=0o700, exist_ok=True)
    for name in names:
        (directory / name).write_text("keep me")
        os.utime(directory / name, (time.time() - DAY, time.time() - DAY))


def _symlink_to_a_victim(path: Path) -> None:
    victim = path.parent / "victim"
    _old_files(victim, ["app.sqlite3", "deadbeef" * 8 + ".lock"])
    path.symlink_to(victim)
    os.lchown(path, NOBODY, NOBODY)


def _owned_by_another_user(path: Path) -> None:
    path.mkdir(mode=0o700)
    os.chown(path, NOBODY, NOBODY)


def _mode(mode: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.mkdir()
        path.chmod(mode)
    return make


def _a_regular_file(path: Path) -> None:
    path.write_text("not a directory")


def _parent_is_a_file(path: Path) -> None:
    path.parent.write_text("")  # so the directory cannot be made under it


BAD_DIRECTORIES = [
    pytest.param("locks", _symlink_to_a_victim, "is a symbolic link", id="symlink"),
    pytest.param("locks", _owned_by_another_user, f"belongs to another user (uid {NOBODY})", id="other-user"),
    pytest.param("locks", _mode(0o777), "writable by other users", id="world-writable"),
    pytest.param("locks", _mode(0o1777), "writable by other users", id="world-writable-sticky"),
    pytest.param("locks", _mode(0o770), "writable by other users", id="group-writable"),
    pytest.param("locks", _a_regular_file, "is not a directory", id="regular-file"),
    pytest.param("file/locks", _parent_is_a_file, "cannot be created", id="cannot-be-created"),
]


@pytest.mark.parametrize("name, make, problem", BAD_DIRECTORIES)
def test_a_lock_dir_we_cannot_trust_refuses_to_start(fake, tmp_path, name, make, problem):
    path = tmp_path / name
    make(path)
    with pytest.raises(ConfigError) as error:
        _build(fake, refresh_lock_dir=str(path))
    assert error.value.option == "refresh_lock_dir"
    assert problem in str(error.value)
    assert "chmod 700" in str(error.value)  # the fix


def test_a_symlink_planted_at_the_default_lock_dir_refuses_to_start_and_deletes_nothing(
        fake, tmp_path, monkeypatch):
    """Another local user plants /tmp/auth0-wsgi-<uid> -> our app's data: we must neither start nor sweep."""
    monkeypatch.delenv("AUTH0_REFRESH_LOCK_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    default = tmp_path / "tmp" / f"auth0-wsgi-{os.geteuid()}"
    victim = tmp_path / "app-data"
    ours = file_prefix("auth0wsgi:whatever:") + "ab" * 32 + ".lock"  # even names like ours are not ours there
    _old_files(victim, ["app.sqlite3", "uploads.idx", ours])
    default.symlink_to(victim)
    os.lchown(default, NOBODY, NOBODY)
    with pytest.raises(ConfigError, match=r"refresh_lock_dir.*is a symbolic link"):
        _build(fake)
    assert sorted(p.name for p in victim.iterdir()) == sorted(["app.sqlite3", "uploads.idx", ours])


def test_the_lock_dir_is_created_private_at_start_up(fake, tmp_path):
    path = tmp_path / "parent" / "locks"
    _build(fake, refresh_lock_dir=str(path))  # before any request
    info = os.lstat(path)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.geteuid()


def test_an_existing_private_lock_dir_is_used(fake, tmp_path):
    path = tmp_path / "locks"
    path.mkdir(mode=0o700)
    _build(fake, refresh_lock_dir=str(path))
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700


def test_server_side_stores_do_not_need_the_lock_dir(fake, tmp_path):
    path = tmp_path / "locks"
    _mode(0o777)(path)
    _build(fake, session_store="memory", refresh_lock_dir=str(path))  # not used: not checked


@pytest.mark.parametrize("namespace, prefix", [
    pytest.param("auth0wsgi:AbC-_0123456:", "auth0wsgi.AbC-_0123456.", id="client-id-only"),
    pytest.param("auth0wsgi:billing.v2:AbC-_0123456:", "auth0wsgi.billing.v2.AbC-_0123456.", id="key-prefix"),
])
def test_file_names_carry_the_namespace(namespace, prefix):
    assert file_prefix(namespace) == prefix


def test_a_lock_dir_removed_while_running_is_created_again(tmp_path):
    path = tmp_path / "locks"
    directory = LockDirectory(str(path), "auth0wsgi:x:")
    path.rmdir()  # a temp-dir cleaner
    fd = directory.open(directory.prefix + "probe", os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    assert (path / (directory.prefix + "probe")).is_file()
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700


def test_a_lock_dir_replaced_by_a_symlink_while_running_is_refused(tmp_path):
    path = tmp_path / "locks"
    directory = LockDirectory(str(path), "auth0wsgi:x:")
    path.rmdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    path.symlink_to(victim)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        directory.open(directory.prefix + "probe", os.O_WRONLY | os.O_CREAT)
    assert list(victim.iterdir()) == []


def test_middlewares_dropped_close_their_lock_dir_files(fake, tmp_path):
    """A test suite (or an app factory) builds many middlewares in one process."""
    def open_descriptors() -> int:
        """Descriptors of the lock directory only: other tests' background threads (revocation
        pollers, session-cache listeners) open and close sockets meanwhile."""
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # closed since the listing
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return sum(name.startswith(str(tmp_path)) for name in names)

    _build(fake, refresh_lock_dir=str(tmp_path / "locks"))
    gc.collect()
    before = open_descriptors()
    for _ in range(20):
        _build(fake, refresh_lock_dir=str(tmp_path / "locks"))
    gc.collect()
    assert open_descriptors() == before
