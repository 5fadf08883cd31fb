"""A Sentinel failover under load: the master is killed while requests run. Only 503s with
Retry-After while there is no master, never a 500, never another user's session; the app finds the
new master by itself, and the sessions replication had caught survive."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
import requests

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.support.flows import SECRET, settings_for
from tests.support.gunicorn import gunicorn
from tests.support.http import JSON
from tests.support.redis_sets import redis_sentinel
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.slow
USERS = 6
RECOVERED_FOR = 1.0  # seconds of nothing but 200s after the failover: the app has found the new master
DEADLINE = 40  # seconds: the run stops by itself whatever happens


def test_a_killed_sentinel_master_gives_503s_then_recovers_without_a_restart(fake):
    with redis_sentinel() as sentinels:
        sentinels.wait_until_failover_ready()
        port = free_port()
        middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=sentinels.url,
                                                              base_url=f"http://127.0.0.1:{port}"))
        with serve(middleware, port) as url:
            users = _log_in_users(fake, url)
            # Replication is asynchronous: wait until the replica has every session (WAIT 1 replica),
            # so that "what replication had caught" is all of them.
            assert redis.Redis(port=sentinels.master_port).execute_command("WAIT", 1, 5000) == 1
            outcomes: list[tuple[str, float]] = []
            stop = threading.Event()
            threads = [threading.Thread(target=_client, args=(url, sub, http, outcomes, stop))
                       for sub, http in users]
            for thread in threads:
                thread.start()
            time.sleep(0.5)  # real time: requests run against the first master
            killed_at = time.monotonic()
            sentinels.kill_master()
            recovered = _wait_for_recovery(outcomes, killed_at)
            stop.set()
            for thread in threads:
                thread.join(30)
        assert sentinels.current_master_port() == sentinels.replica_port
    kinds = {outcome for outcome, _ in outcomes}
    assert kinds <= {"ok", "503"}, kinds  # no 500, no other user, no lost session (401)
    assert "503" in kinds  # the failover was seen, and answered as such
    assert recovered, "no run of 200s after the failover"


def test_under_gunicorn_a_killed_sentinel_master_gives_503s_then_recovers(fake, tmp_path):
    """Four workers, each with its own Redis pool and invalidation listener, and session_cache =
    tracking: whatever a worker had cached is not served while its listener is away."""
    with redis_sentinel() as sentinels:
        sentinels.wait_until_failover_ready()
        port = free_port()
        with gunicorn("tests/testing.ini", port, _environment(fake, port, tmp_path / "locks", sentinels.url),
                      workers=4) as url:
            users = _log_in_users(fake, url)
            assert redis.Redis(port=sentinels.master_port).execute_command("WAIT", 1, 5000) == 1
            outcomes: list[tuple[str, float]] = []
            stop = threading.Event()
            threads = [threading.Thread(target=_client, args=(url, sub, _copy(http), outcomes, stop))
                       for sub, http in users for _ in range(2)]  # two requests at a time per user
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # real time: requests run against the first master, from every worker
            killed_at = time.monotonic()
            sentinels.kill_master()
            recovered = _wait_for_recovery(outcomes, killed_at)
            stop.set()
            for thread in threads:
                thread.join(30)
        assert sentinels.current_master_port() == sentinels.replica_port
    kinds = {outcome for outcome, _ in outcomes}
    assert kinds <= {"ok", "503"}, kinds  # no 500, no other user, no lost session, no dropped request
    assert "503" in kinds and sum(o == "ok" for o, t in outcomes if t < killed_at) > 0
    assert recovered, "no run of 200s after the failover"


def _environment(fake: FakeProvider, port: int, lock_dir: Path, redis_url: str) -> dict[str, str]:
    return {"AUTH0_ISSUER": fake.issuer, "AUTH0_CLIENT_ID": CLIENT_ID, "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
            "AUTH0_BASE_URL": f"http://127.0.0.1:{port}", "AUTH0_SECRET": SECRET, "AUTH0_AUDIENCE": AUDIENCE,
            "AUTH0_REFRESH_LOCK_DIR": str(lock_dir), "AUTH0_SESSION_STORE": redis_url}


def _copy(http: requests.Session) -> requests.Session:
    """Another browser tab: the same cookies, a connection pool of its own (one per thread)."""
    tab = requests.Session()
    tab.cookies.update(http.cookies)
    return tab


def _log_in_users(fake: FakeProvider, url: str) -> list[tuple[str, requests.Session]]:
    users = []
    for i in range(USERS):
        fake.sub = f"auth0|user{i}"
        http = requests.Session()
        assert http.get(url + "/login?return_to=/me", timeout=10).json()["REMOTE_USER"] == fake.sub
        users.append((fake.sub, http))
    return users


def _client(url: str, sub: str, http: requests.Session, outcomes: list[tuple[str, float]],
            stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            response = http.get(url + "/data", headers=JSON, timeout=20)
        except requests.RequestException as exc:
            outcomes.append((type(exc).__name__, time.monotonic()))
            continue
        if response.status_code == 200:
            outcome = "ok" if response.json().get("REMOTE_USER") == sub else "another user"
        elif response.status_code == 503 and response.headers.get("Retry-After"):
            outcome = "503"
            time.sleep(0.05)  # real time: a client honouring Retry-After, scaled down
        else:  # a 500, a 401 (a lost session), a 503 without Retry-After...
            outcome = f"{response.status_code} {response.headers.get('Retry-After')!r}"
        outcomes.append((outcome, time.monotonic()))


def _wait_for_recovery(outcomes: list[tuple[str, float]], killed_at: float) -> bool:
    """True once, after a 503, only 200s came for RECOVERED_FOR seconds."""
    deadline = killed_at + DEADLINE
    while time.monotonic() < deadline:
        time.sleep(0.2)  # real time: the sentinels elect and promote the replica
        after = [(o, t) for o, t in list(outcomes) if t > killed_at]
        last_failure = max((t for o, t in after if o != "ok"), default=None)
        if last_failure is not None and time.monotonic() - last_failure > RECOVERED_FOR \
                and any(t > last_failure for o, t in after):
            return True
    return False
