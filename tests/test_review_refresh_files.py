"""Review of the refresh single flight on one host (cookie store, ``refresh_lock_dir``) and of the file
revocation list, as an attacker and as an unlucky operator: each test failed before its fix, and
its docstring says what the defect was."""

from __future__ import annotations

import os
import resource
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import webtest

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.config import Config
from auth0_wsgi.coordination import FileCoordinator, LocalCoordinator
from auth0_wsgi.errors import ProviderUnavailable
from auth0_wsgi.lockdir import LockDirectory
from auth0_wsgi.oidc import OIDCClient
from auth0_wsgi.refresh import Refresher
from auth0_wsgi.revocation_file import FileRevocations
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.session import Session
from tests.support.apps import echo_app
from tests.support.clocks import Clock
from tests.support.flows import addressed_as, log_in, settings_for
from tests.support.http import JSON
from tests.support.mrrt import hold, session_cookies

KEY = "ab" * 32  # refresh keys are SHA-256 hex digests


def _file_refresher(config: Config, client: Any, lock_dir: Path, clock: Clock) -> Refresher:
    coordinator = FileCoordinator(LockDirectory(str(lock_dir), config.namespace), clock)
    return Refresher(config, client, coordinator, Sealer(config.secret, "refresh"), clock=clock)


def _browser(fake: Any, clock: Clock) -> webtest.TestApp:
    """The login filter (cookie store) around the echo app, on ``clock``."""
    return webtest.TestApp(Auth0Middleware(echo_app, clock=clock, **settings_for(fake)),
                           extra_environ=addressed_as())


def _token(app: webtest.TestApp) -> str:
    return app.get("/x", headers=JSON).json["auth0.access_token"]


@contextmanager
def _files_limited_to(size: int) -> Iterator[None]:
    """The kernel refuses to grow any file of this process past ``size`` bytes (``RLIMIT_FSIZE``;
    Python ignores SIGXFSZ, so a write fails with EFBIG): a full disk or an exhausted quota as the
    lock directory's writers meet it. Only the soft limit moves, and it is put back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


# -- a result that cannot be cached ---------------------------------------------------------------------
def test_a_refresh_whose_result_cannot_be_written_keeps_the_rotated_token(fake):
    """Was: when ``refresh_lock_dir`` cannot take the result file (disk full, quota), the grant has
    already been made, but ``FileCoordinator.run_once`` lets the write error escape: the refresh counts
    as a provider failure, the rotated refresh token is thrown away, and the next refresh presents
    the spent one again, which Auth0 answers by revoking the token family: the session ends."""
    clock = Clock()
    fake.access_token_ttl = 30  # inside the 60 s leeway: every request refreshes
    app = _browser(fake, clock)
    log_in(app)
    with _files_limited_to(64):  # the lock file is empty; the sealed result is far larger
        first = app.get("/x", headers=JSON)
    assert fake.counts["grant:refresh_token"] == 1  # the refresh token was spent
    assert first.status_int == 200
    clock.advance(5)  # past any backoff; the disk has room again
    second = app.get("/x", headers=JSON, expect_errors=True)
    assert fake.refresh_reuses == 0, "the spent refresh token was presented again"
    assert second.status_int == 200, "the session ended"


# -- a refresh token that does not rotate -----------------------------------------------------------------
class NonRotatingProvider:
    """A token endpoint with Refresh Token Rotation off (Auth0's setting): the same refresh token
    keeps working, and each grant answers a new access token."""

    def __init__(self, expires_in: int) -> None:
        self.expires_in = expires_in
        self.grants = 0

    def refresh(self, refresh_token: str, *, audience: str | None = None,
                scope: str | None = None) -> dict[str, Any]:
        self.grants += 1
        return {"access_token": f"access-token-{self.grants}", "token_type": "Bearer",
                "expires_in": self.expires_in}


def _non_rotating(fake: Any, tmp_path: Path, expires_in: int) -> tuple[Refresher, NonRotatingProvider,
                                                                        Clock, Session]:
    clock = Clock(1_700_000_000.0)
    config = Config.from_settings(settings_for(fake))
    provider = NonRotatingProvider(expires_in)
    refresher = _file_refresher(config, provider, tmp_path / "locks", clock)
    now = int(clock())
    session = Session("h.e.s", "access-token-0", now + 3600, "rt-that-never-rotates", now, now, None,
                      {"sub": "auth0|alice"})
    return refresher, provider, clock, session


def test_a_forced_refresh_of_a_non_rotating_refresh_token_gets_a_new_access_token(fake, tmp_path):
    """Was: with a refresh token that does not rotate, the single-flight key (a hash of the refresh
    token) is the same at every refresh, so a refresh forced within RESULT_TTL (120 s) of the last one
    (``refresh_access_token`` after the user's roles changed, ``api_session``'s retry on
    ``invalid_token``) is answered from the cached result: the old access token, no grant."""
    refresher, provider, clock, session = _non_rotating(fake, tmp_path, expires_in=3600)
    first = refresher.ensure_fresh(session, force=True).session
    assert first is not None and first.access_token == "access-token-1"
    clock.advance(30)  # the user's permissions change; the view forces a refresh
    second = refresher.ensure_fresh(first, force=True).session
    assert second is not None
    assert provider.grants == 2, "no grant was made"
    assert second.access_token == "access-token-2", "the old access token came back as the new one"


def test_a_non_rotating_refresh_token_never_serves_an_expired_access_token(fake, tmp_path):
    """Was (same cause): access tokens shorter-lived than RESULT_TTL + refresh_leeway and a
    refresh token that does not rotate: the refresh due after the token expired finds the previous
    refresh's cached result and hands the app that expired token as freshly refreshed."""
    refresher, provider, clock, session = _non_rotating(fake, tmp_path, expires_in=90)
    first = refresher.ensure_fresh(session, force=True).session  # expires 90 s from now
    assert first is not None
    clock.advance(100)  # expired 10 s ago: due, and past expiry
    outcome = refresher.ensure_fresh(first)
    assert outcome.session is not None
    assert outcome.session.expires_at is not None and outcome.session.expires_at > clock.now, \
        "an expired access token was served as refreshed"
    assert provider.grants == 2


# -- a clock that jumps ---------------------------------------------------------------------------------
def test_a_clock_stepped_back_does_not_stretch_the_refresh_backoff(fake):
    """Was: the backoff after a failed refresh is an absolute wall-clock time (``_note_failure``):
    when the clock is stepped back (NTP correction, a VM restored), every session whose refresh had
    failed waits for the whole step, not the 1 s it was given: an expired token gets 503s with
    ``Retry-After`` of an hour, though the provider is back."""
    clock = Clock(1_700_000_000.0)
    config = Config.from_settings(settings_for(fake, refresh_leeway=0))
    refresher = Refresher(config, OIDCClient(config), LocalCoordinator(clock),
                          Sealer(config.secret, "refresh"), clock=clock)
    fake.refresh_tokens["rt-alice"] = "auth0|alice"
    now = int(clock())
    session = Session("h.e.s", "old", now - 7200, "rt-alice", now - 7300, now, None,
                      {"sub": "auth0|alice", "iss": fake.issuer})  # expired before and after the step
    fake.token_mode = "500"
    with pytest.raises(ProviderUnavailable) as failed:
        refresher.ensure_fresh(session)
    assert failed.value.retry_after == 1
    fake.token_mode = "ok"
    clock.advance(-3600)  # the clock is stepped back an hour
    clock.advance(5)  # longer than the 1 s backoff
    try:
        outcome = refresher.ensure_fresh(session)
    except ProviderUnavailable as exc:
        pytest.fail(f"503 with Retry-After {exc.retry_after} s, the provider not asked")
    assert outcome.changed and fake.counts["grant:refresh_token"] == 2


# -- hostile files in the directory --------------------------------------------------------------------
def test_a_fifo_at_a_result_name_does_not_hang_the_request(tmp_path):
    """Was (only our own uid can plant one): ``FileCoordinator._cached`` opens whatever is at
    the result name with a blocking ``O_RDONLY``: a FIFO there blocks the worker's thread for ever
    (no timeout, no lock held, every request of that session stuck), where any file that is not a
    regular file should count as no result."""
    directory = LockDirectory(str(tmp_path / "locks"), "auth0wsgi:AbCdEfGhIjKl:")
    coordinator = FileCoordinator(directory)
    fifo = tmp_path / "locks" / f"{directory.prefix}{KEY}.result"
    os.mkfifo(fifo, 0o600)
    answers: list[bytes] = []
    worker = threading.Thread(target=lambda: answers.append(
        coordinator.run_once(KEY, lambda: b"fresh", timeout=1)), daemon=True)
    worker.start()
    worker.join(2)  # real time: the worker thread either answers or is stuck in open()
    hung = worker.is_alive()
    if hung:  # let it go: a writer opening the FIFO ends the reader's open, then EOF
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert not hung, "the request hung on a FIFO in refresh_lock_dir"
    assert answers == [b"fresh"]


# -- two cookies of one browser racing -----------------------------------------------------------------
def test_a_touched_cookie_that_arrives_after_a_refresh_never_spends_its_refresh_token_twice(fake):
    """A slow request read the cookie just before its access token became due and wrote it back
    touched (rolling expiry), after a quicker request of the same browser refreshed; the browser
    kept the slow one, which held the rotated-out refresh token, whose result is kept two minutes:
    after two idle minutes the next refresh spent that token again, and Auth0 ends the session. A
    touch within TOUCH_QUIET_SECONDS of the token being due is now a refresh instead."""
    clock = Clock()
    fake.access_token_ttl = 600
    app = _browser(fake, clock)
    log_in(app)
    both_start_with = session_cookies(app)
    clock.advance(539)  # 61 s left: not due yet, and a touch is due (> 5 min since the login)
    _token(app)  # the slow request: read now, answers last
    slow_leaves_with = session_cookies(app)
    assert fake.counts["grant:refresh_token"] == 1  # refreshed early rather than merely touched
    hold(app, both_start_with)
    clock.advance(1)  # 60 s left: due
    _token(app)  # the quick request takes the slow one's refresh
    assert fake.counts["grant:refresh_token"] == 1
    hold(app, slow_leaves_with)  # the browser keeps the response that arrived last
    clock.advance(180)  # the user reads for three minutes
    response = app.get("/x", headers=JSON, expect_errors=True)
    assert fake.refresh_reuses == 0, "the rotated-out refresh token was spent again"
    assert response.status_int == 200


def test_a_session_far_from_its_refresh_is_still_touched(fake):
    """Far from its refresh, a touch is a touch: no grant."""
    clock = Clock()
    fake.access_token_ttl = 3600
    app = _browser(fake, clock)
    log_in(app)
    before = session_cookies(app)
    clock.advance(600)  # a touch is due; the token has 50 minutes left
    _token(app)
    assert session_cookies(app) != before and fake.counts["grant:refresh_token"] == 0


# -- the back-channel logout list ------------------------------------------------------------------------
def test_a_logout_written_after_the_lock_dir_was_recreated_reaches_the_other_worker_at_once(tmp_path):
    """Was: ``refresh_lock_dir`` removed while running (a temp-dir cleaner, ``rm -rf``) is created
    again by the first worker that writes: a back-channel logout lands in the new directory. Another
    worker's next request finds its list gone from the old directory, reopens the directory
    (``_missing``) but not the list, and serves the logged-out session once more."""
    clock = Clock(1_800_000_000.0)
    path = str(tmp_path / "locks")

    def worker() -> FileRevocations:
        return FileRevocations(LockDirectory(path, "auth0wsgi:AbCdEfGhIjKl:"), ("s" * 40,), 7 * 86400,
                               clock=clock)

    receiver, other = worker(), worker()
    now = int(clock.now)
    session = Session("x", None, None, None, now - 60, now - 60, "sid-1", {"sub": "auth0|alice"})
    assert not other.is_revoked(session)
    shutil.rmtree(path)
    receiver.revoke(sid="sid-1", sub=None, at=now)  # the provider's back-channel logout
    assert other.is_revoked(session), "the logged-out session was served by the other worker"


def test_a_clock_stepped_back_does_not_stretch_the_memory_of_a_refusal(fake):
    """Another API's refusal is remembered a minute (REFUSAL_MEMORY), by the wall clock: a clock
    stepped back an hour kept it for the hour, though the provider's policy was fixed."""
    from auth0_wsgi.audiences import Target
    from tests.support.mrrt import BILLING

    clock = Clock(1_700_000_000.0)
    config = Config.from_settings(settings_for(fake, additional_audiences=BILLING))
    refresher = Refresher(config, OIDCClient(config), LocalCoordinator(clock),
                          Sealer(config.secret, "refresh"), clock=clock)
    fake.refresh_tokens["rt-alice"] = "auth0|alice"
    now = int(clock())
    session = Session("h.e.s", "primary", now + 3600, "rt-alice", now - 60, now, None,
                      {"sub": "auth0|alice", "iss": fake.issuer})
    refused = refresher.ensure(session, Target(BILLING))
    assert refused.error is not None and fake.counts["grant:refresh_token"] == 1
    fake.mrrt_audiences = {BILLING}  # the policy is fixed
    clock.advance(-3600)  # the clock is stepped back an hour
    clock.advance(5)
    outcome = refresher.ensure(refused.session or session, Target(BILLING))
    assert fake.counts["grant:refresh_token"] == 2, "the provider was not asked again"
    assert outcome.error is None


# -- a logout list that cannot be written ------------------------------------------------------------------
def test_a_back_channel_logout_the_list_cannot_take_is_a_503_and_its_retry_ends_the_session(fake):
    """A full disk (or a lock held too long) under the file logout list was a 500 with a traceback at
    the back-channel route: it is a 503, and the provider's retry of the same token, once the disk
    has room, ends the session."""
    from tests.support.logout_tokens import logout_token

    app = webtest.TestApp(Auth0Middleware(echo_app, **settings_for(fake)), extra_environ=addressed_as())
    log_in(app)
    token = logout_token(fake)
    with _files_limited_to(1):  # the list already holds its header: it cannot grow
        answer = app.post("/backchannel-logout", {"logout_token": token}, expect_errors=True)
    assert answer.status_int == 503 and answer.headers.get("Retry-After")
    assert "Traceback" not in answer.text
    app.get("/x", headers=JSON, status=200)  # nothing was recorded
    app.post("/backchannel-logout", {"logout_token": token}, status=200)  # the provider's retry
    app.get("/x", headers=JSON, status=401)


def test_signing_out_everywhere_when_the_list_cannot_take_it_is_a_503(fake):
    app = webtest.TestApp(Auth0Middleware(echo_app, **settings_for(fake)), extra_environ=addressed_as())
    log_in(app)
    with _files_limited_to(1):
        answer = app.get("/logout", {"everywhere": "1"}, headers={"Sec-Fetch-Site": "same-origin"},
                         expect_errors=True)
    assert answer.status_int == 503 and answer.headers.get("Retry-After")
    app.get("/x", headers=JSON, status=200)  # nothing was ended, as the user is told
