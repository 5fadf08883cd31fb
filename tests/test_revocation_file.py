"""The file revocation list: back-channel logouts shared by every worker of one host."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from auth0_wsgi import Auth0Middleware, revocation_file
from auth0_wsgi.config import Config
from auth0_wsgi.lockdir import LockDirectory
from auth0_wsgi.revocation import MemoryRevocations
from auth0_wsgi.revocation_file import FileRevocations
from auth0_wsgi.session import Session
from tests.support.apps import echo_app
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON
from tests.support.logout_tokens import logout_token

SECRETS = ("s" * 40,)
NAMESPACE = "auth0wsgi:AbCdEfGhIjKl:"
KEEP = 7 * 86400


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workers(tmp_path: Path, clock: Clock) -> tuple[FileRevocations, FileRevocations]:
    """Two workers of one host: each opens the directory and the list itself, as after a fork."""
    return _worker(tmp_path, clock), _worker(tmp_path, clock)


def _worker(tmp_path: Path, clock: Clock, namespace: str = NAMESPACE) -> FileRevocations:
    return FileRevocations(LockDirectory(str(tmp_path / "locks"), namespace), SECRETS, KEEP, clock=clock)


def _session(created_at: float, sid: str = "sid-1", sub: str = "auth0|alice") -> Session:
    return Session(id_token="x", access_token=None, expires_at=None, refresh_token=None,
                   created_at=int(created_at), touched_at=int(created_at), sid=sid, user={"sub": sub})


def _list_file(tmp_path: Path) -> Path:
    [path] = [p for p in (tmp_path / "locks").iterdir() if p.name.endswith(".revocations")]
    return path


def _entries(tmp_path: Path) -> list[str]:
    """The list's lines after its first, which names the file (a random id)."""
    header, *lines = _list_file(tmp_path).read_text().splitlines()
    assert header.startswith("auth0-wsgi revocations ")
    return lines


def test_a_logout_received_by_one_worker_is_refused_by_the_other_at_once(workers, clock):
    a, b = workers
    session = _session(clock.now - 60)
    assert not b.is_revoked(session)
    a.revoke(sid="sid-1", sub=None, at=int(clock.now))
    assert b.is_revoked(session)  # the very next request, no poll delay
    assert a.is_revoked(session)
    assert not b.is_revoked(_session(clock.now + 1))  # a login after the logout is a new session
    assert not b.is_revoked(_session(clock.now - 60, sid="sid-2", sub="auth0|bob"))


def test_a_logout_by_sub_reaches_every_session_of_the_user(workers, clock):
    a, b = workers
    a.revoke(sid=None, sub="auth0|alice", at=int(clock.now))
    assert b.is_revoked(_session(clock.now - 60, sid="sid-9"))


def test_a_worker_started_after_the_logout_knows_it(tmp_path, clock):
    _worker(tmp_path, clock).revoke(sid="sid-1", sub=None, at=int(clock.now))
    assert _worker(tmp_path, clock).is_revoked(_session(clock.now - 60))


def test_a_replayed_logout_token_is_refused_by_every_worker(workers, clock):
    a, b = workers
    assert not b.is_claimed("jti:abc")
    assert a.claim_once("jti:abc", ttl=240)
    assert b.is_claimed("jti:abc")
    assert not b.claim_once("jti:abc", ttl=240)
    assert not a.claim_once("jti:abc", ttl=240)
    assert b.claim_once("jti:other", ttl=240)
    clock.now += 241
    assert not a.is_claimed("jti:abc")
    assert a.claim_once("jti:abc", ttl=240)  # remembered as long as a token could be replayed, no longer


def _claim(directory: str, start_at: float, results: multiprocessing.Queue) -> None:
    worker = FileRevocations(LockDirectory(directory, NAMESPACE), SECRETS, KEEP)
    time.sleep(max(0.0, start_at - time.time()))  # real time: the processes start together
    results.put(worker.claim_once("jti:raced", ttl=240))


def test_exactly_one_process_claims_a_logout_token(tmp_path):
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    start_at = time.time() + 0.5
    processes = [context.Process(target=_claim, args=(str(tmp_path / "locks"), start_at, results))
                 for _ in range(6)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(15)
    assert [p.exitcode for p in processes] == [0] * 6
    assert sorted(results.get(timeout=5) for _ in processes) == [False] * 5 + [True]


def test_the_file_holds_keyed_hashes_only(workers, tmp_path, clock):
    a, _ = workers
    a.revoke(sid="login-session-17", sub="auth0|alice-smith", at=int(clock.now))
    a.claim_once("jti:token-id-0042", ttl=240)
    text = "\n".join(_entries(tmp_path))
    assert all(value not in text for value in ("session-17", "alice", "0042"))
    assert len(_entries(tmp_path)) == 3
    assert os.stat(_list_file(tmp_path)).st_mode & 0o077 == 0


def test_old_entries_are_pruned_and_the_file_compacted(workers, tmp_path, clock):
    a, b = workers
    old = _session(clock.now - 60)
    a.revoke(sid="sid-1", sub="auth0|alice", at=int(clock.now))
    a.claim_once("jti:abc", ttl=240)
    assert len(_entries(tmp_path)) == 3
    inode = _list_file(tmp_path).stat().st_ino
    clock.now += KEEP + 1  # no session of that time can still be alive
    b.revoke(sid="sid-2", sub=None, at=int(clock.now))
    lines = _entries(tmp_path)
    assert len(lines) == 1 and lines[0].startswith("sid:")  # only bob's logout is left
    assert _list_file(tmp_path).stat().st_ino != inode  # replaced whole, never rewritten in place
    assert not a.is_revoked(old)  # pruned from memory too
    assert a.is_revoked(_session(clock.now - 60, sid="sid-2"))  # a reads the compacted file


def test_a_list_with_few_dead_entries_is_only_appended_to(workers, tmp_path, clock):
    a, _ = workers
    for n in range(4):
        a.revoke(sid=f"sid-{n}", sub=None, at=int(clock.now))
    inode = _list_file(tmp_path).stat().st_ino
    clock.now += 3600
    a.revoke(sid="sid-9", sub=None, at=int(clock.now))
    assert _list_file(tmp_path).stat().st_ino == inode
    assert len(_entries(tmp_path)) == 5


@pytest.mark.parametrize("junk", [
    pytest.param(b"garbage\n", id="garbage"),
    pytest.param(b"\xff\xfe\x00binary\n", id="binary"),
    pytest.param(b"sid:short 1800000000\n", id="short-name"),
    pytest.param(b"sid:" + b"A" * 24 + b" -5\n", id="negative-time"),
    pytest.param(b"sid:" + b"A" * 24 + b" 99999999999999999999\n", id="huge-time"),
    pytest.param(b"evil:" + b"A" * 24 + b" 1800000000\n", id="foreign-kind"),
    pytest.param(b"sid:" + b"A" * 24 + b" 1800000000 extra\n", id="extra-field"),
    pytest.param(b"x" * 100_000 + b"\n", id="long-line"),
    pytest.param(b"\n\n\n", id="blank-lines"),
], )
def test_corrupt_and_foreign_lines_are_ignored(workers, tmp_path, clock, junk):
    a, b = workers
    a.revoke(sid="sid-1", sub=None, at=int(clock.now))
    with open(_list_file(tmp_path), "ab") as handle:
        handle.write(junk)
    a.revoke(sid="sid-2", sub=None, at=int(clock.now))
    fresh = _worker(tmp_path, clock)
    for worker in (b, fresh):
        assert worker.is_revoked(_session(clock.now - 60))
        assert worker.is_revoked(_session(clock.now - 60, sid="sid-2"))
        assert not worker.is_revoked(_session(clock.now - 60, sid="sid-3", sub="auth0|carol"))


def test_a_half_written_last_line_counts_once_complete(workers, tmp_path, clock):
    a, b = workers
    a.revoke(sid="sid-1", sub=None, at=int(clock.now))
    line = _list_file(tmp_path).read_bytes()
    target = tmp_path / "other"
    target.mkdir()
    other = _worker(target, clock)
    other.revoke(sid="sid-2", sub=None, at=int(clock.now))  # the same list for sid-2, in another directory
    whole = _list_file(target).read_bytes().splitlines(keepends=True)[-1]
    with open(_list_file(tmp_path), "ab") as handle:
        handle.write(whole[:10])  # a writer in the middle of its line
    assert b.is_revoked(_session(clock.now - 60))
    assert not b.is_revoked(_session(clock.now - 60, sid="sid-2"))
    with open(_list_file(tmp_path), "ab") as handle:
        handle.write(whole[10:])
    assert b.is_revoked(_session(clock.now - 60, sid="sid-2"))
    assert _list_file(tmp_path).read_bytes() == line + whole


def test_a_writer_never_appends_to_a_half_line(workers, tmp_path, clock):
    a, b = workers
    with open(_list_file(tmp_path), "ab") as handle:
        handle.write(b"sid:AAAA")  # a writer died in the middle of its line
    a.revoke(sid="sid-1", sub=None, at=int(clock.now))
    assert b.is_revoked(_session(clock.now - 60))


def test_the_hot_path_reads_only_what_was_appended(workers, clock, monkeypatch):
    a, b = workers
    a.revoke(sid="sid-1", sub=None, at=int(clock.now))
    session = _session(clock.now - 60, sid="sid-7", sub="auth0|dave")
    b.is_revoked(session)
    reads: list[tuple[int, int]] = []
    real_pread = os.pread

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        reads.append((length, offset))
        return real_pread(fd, length, offset)

    monkeypatch.setattr(revocation_file.os, "pread", counting_pread)
    for _ in range(100):
        assert not b.is_revoked(session)
    assert reads == []  # an unchanged file costs an os.stat, no read
    size = os.path.getsize(_list_file_of(b))
    a.revoke(sid="sid-2", sub=None, at=int(clock.now))
    reads.clear()  # what the writer did is not b's hot path
    assert not b.is_revoked(session)
    header, appended = reads  # the file's id, to tell a new file from this one; then the new line only
    assert header[1] == 0 and header[0] < 64
    assert appended == (os.path.getsize(_list_file_of(b)) - size, size)


def _list_file_of(worker: FileRevocations) -> str:
    return os.path.join(worker.directory.path, worker.file_name)


def test_a_deleted_list_never_fails_a_request(workers, tmp_path, clock):
    a, b = workers
    a.revoke(sid="sid-1", sub=None, at=int(clock.now))
    assert b.is_revoked(_session(clock.now - 60))
    _list_file(tmp_path).unlink()
    assert b.is_revoked(_session(clock.now - 60))  # what it read stays known
    a.revoke(sid="sid-2", sub=None, at=int(clock.now))  # and the list is written again
    assert b.is_revoked(_session(clock.now - 60, sid="sid-2"))


def test_two_apps_on_one_host_keep_separate_lists(tmp_path, clock):
    billing = _worker(tmp_path, clock, "auth0wsgi:billing:AbCdEfGhIjKl:")
    shop = _worker(tmp_path, clock, "auth0wsgi:MnOpQrStUvWx:")
    billing.revoke(sid="sid-1", sub=None, at=int(clock.now))
    billing.claim_once("jti:abc", ttl=240)
    assert not shop.is_revoked(_session(clock.now - 60))
    assert shop.claim_once("jti:abc", ttl=240)


def test_file_is_the_default_revocation_store():
    config = Config.from_settings({"domain": "t.example.com", "client_id": "c", "client_secret": "x",
                                   "base_url": "https://app.example.com", "secret": SECRETS[0]}, environ={})
    assert config.revocation_store == "file"


@pytest.mark.parametrize("store, kind, level, says", [
    pytest.param("file", FileRevocations, logging.INFO, "the workers of this host only", id="file"),
    pytest.param("memory", MemoryRevocations, logging.WARNING, "this process only", id="memory"),
])
def test_start_up_says_how_far_a_logout_reaches(fake, tmp_path, caplog, store, kind, level, says):
    with caplog.at_level(logging.INFO, logger="auth0_wsgi"):
        middleware = Auth0Middleware(echo_app, **settings_for(fake, revocation_store=store))
    assert type(middleware.collaborators.logouts) is kind
    [record] = [r for r in caplog.records if "back-channel logout" in r.getMessage()]
    assert record.levelno == level and says in record.getMessage()
    assert "revocation_store = redis://" in record.getMessage()


def test_cookie_workers_of_one_host_share_logouts_by_default(build_app, fake):
    """Two middlewares built with the default settings stand for two workers of one host."""
    worker_a, worker_b = build_app(), build_app()
    log_in(worker_a)
    worker_b.set_cookie("auth0_session", worker_a.cookies["auth0_session"])
    worker_b.get("/x", headers=JSON, status=200)
    token = logout_token(fake)
    worker_a.post("/backchannel-logout", {"logout_token": token}, status=200)
    worker_b.get("/x", headers=JSON, status=401)
    worker_a.get("/x", headers=JSON, status=401)
    worker_b.post("/backchannel-logout", {"logout_token": token}, status=400)  # a replay, on the other one


def test_a_logout_is_on_disk_before_it_is_answered_and_so_is_a_compacted_list(workers, tmp_path, clock,
                                                                            monkeypatch):
    """With a persistent refresh_lock_dir, a power cut must not lose a logout the provider was told
    we took: each append is fsynced, and a compacted list is, with its directory, before and after
    it takes the list's name."""
    import stat

    a, b = workers
    synced: list[tuple[int, bool]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_ino, stat.S_ISDIR(info.st_mode)))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", spy)
    a.revoke(sid="sid-1", sub="auth0|alice", at=int(clock.now))
    assert (_list_file(tmp_path).stat().st_ino, False) in synced

    synced.clear()
    clock.now += KEEP + 1  # every logout so far is past its keep: the next write compacts
    b.revoke(sid="sid-2", sub=None, at=int(clock.now))
    assert (_list_file(tmp_path).stat().st_ino, False) in synced  # the new file, before its rename
    assert any(is_directory for _, is_directory in synced)  # the rename itself
