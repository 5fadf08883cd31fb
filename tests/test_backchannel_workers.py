"""A back-channel logout under a real gunicorn: every worker of the host refuses the session at once."""

from __future__ import annotations

from pathlib import Path

import requests

from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET, FakeProvider
from tests.support.flows import SECRET
from tests.support.gunicorn import gunicorn
from tests.support.http import JSON
from tests.support.logout_tokens import logout_token
from tests.support.servers import free_port

ATTEMPTS = 200  # requests to spread over the workers: the kernel picks which one accepts


def _environment(fake: FakeProvider, port: int, lock_dir: Path) -> dict[str, str]:
    """The defaults under test (cookie store, no revocation_store), with a refresh_lock_dir of its own."""
    return {"AUTH0_ISSUER": fake.issuer, "AUTH0_CLIENT_ID": CLIENT_ID, "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
            "AUTH0_BASE_URL": f"http://127.0.0.1:{port}", "AUTH0_SECRET": SECRET, "AUTH0_AUDIENCE": AUDIENCE,
            "AUTH0_REFRESH_LOCK_DIR": str(lock_dir), "AUTH0_REVOCATION_STORE": ""}


def _workers_seeing_a_user(url: str, cookie: str) -> dict[int, bool]:
    """pid of each worker that answered ``/health`` (public) -> whether it saw a logged-in user."""
    seen: dict[int, bool] = {}
    for _ in range(ATTEMPTS):
        body = requests.get(url + "/health", headers={**JSON, "Cookie": cookie}, timeout=10).json()
        seen.setdefault(body["pid"], False)
        seen[body["pid"]] |= "REMOTE_USER" in body
        if len(seen) == 2 and _enough(seen):
            break
    return seen


def _enough(seen: dict[int, bool]) -> bool:
    return all(seen.values()) or not any(seen.values())


def test_a_backchannel_logout_is_refused_by_every_gunicorn_worker(fake, tmp_path):
    port = free_port()
    with gunicorn("tests/testing.ini", port, _environment(fake, port, tmp_path / "locks"), workers=2) as url:
        http = requests.Session()
        assert http.get(url + "/login", timeout=10).status_code == 200  # through the provider and back
        cookie = "auth0_session=" + http.cookies["auth0_session"]
        before = _workers_seeing_a_user(url, cookie)
        assert len(before) == 2 and all(before.values()), before  # both serve the session

        token = logout_token(fake)
        response = requests.post(url + "/backchannel-logout", data={"logout_token": token}, timeout=10)
        assert response.status_code == 200, response.text

        after = _workers_seeing_a_user(url, cookie)
        assert len(after) == 2, after  # both workers answered...
        assert not any(after.values()), after  # ...and neither knew the user any more
        for _ in range(20):
            assert requests.get(url + "/x", headers={**JSON, "Cookie": cookie}, timeout=10).status_code == 401
        for _ in range(10):  # the replay is refused whichever worker gets it
            replay = requests.post(url + "/backchannel-logout", data={"logout_token": token}, timeout=10)
            assert replay.status_code == 400
