"""Load: thousands of authenticated requests, many concurrent clients, 4 gunicorn workers, tokens
rotating all along: zero errors and zero lost sessions. Bounded in count and time; loopback only."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
import requests

from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET
from tests.support.flows import SECRET
from tests.support.gunicorn import gunicorn
from tests.support.http import JSON
from tests.support.servers import free_port

pytestmark = pytest.mark.slow
USERS = 12
THREADS_PER_USER = 3  # like a browser: parallel requests sharing one cookie jar
REQUESTS = 3000
DEADLINE = 120  # seconds: the run stops by itself whatever happens


@pytest.mark.parametrize("store", ["cookie", "redis"])
def test_thousands_of_requests_with_rotating_tokens_lose_nothing(fake, store, request, tmp_path, capsys):
    # Inside the 60 s leeway 1 s after each grant: every session refreshes, again and again, during a
    # run of several seconds (with 3 s, a fast run could end before some sessions were due).
    fake.access_token_ttl = 61
    port = free_port()
    env = {"AUTH0_ISSUER": fake.issuer, "AUTH0_CLIENT_ID": CLIENT_ID, "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
           "AUTH0_SECRET": SECRET, "AUTH0_BASE_URL": f"http://127.0.0.1:{port}", "AUTH0_AUDIENCE": AUDIENCE,
           "AUTH0_REFRESH_LOCK_DIR": str(tmp_path / "locks")}
    if store == "redis":
        env["AUTH0_SESSION_STORE"] = request.getfixturevalue("redis_url")
    with gunicorn("tests/testing.ini", port, env, workers=4, extra_args=("--threads", "4")) as url:
        sessions = []
        for i in range(USERS):
            fake.sub = f"auth0|user{i}"
            http = requests.Session()
            assert http.get(url + "/login?return_to=/me", timeout=10).json()["REMOTE_USER"] == fake.sub
            sessions.append((fake.sub, http))
        results = _hammer(url, sessions)
    errors = [r for r in results if r[1] != "ok"]
    latencies = sorted(r[2] for r in results)
    rate = len(results) / (max(r[3] for r in results) - min(r[3] for r in results) + 1e-9)
    with capsys.disabled():
        print(f"\n[load/{store}] {len(results)} requests, {USERS * THREADS_PER_USER} clients, "
              f"{rate:.0f} req/s, p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, "
              f"{fake.counts['grant:refresh_token']} refresh grants, {len(errors)} errors")
    assert len(results) == REQUESTS
    assert errors == []
    assert fake.counts["grant:refresh_token"] >= USERS  # the tokens really rotated under load


def _hammer(url: str, sessions: list[tuple[str, requests.Session]]) -> list[tuple[str, str, float, float]]:
    results: list[tuple[str, str, float, float]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE
    remaining = [REQUESTS]

    def client(sub: str, http: requests.Session) -> None:
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.monotonic()
            try:
                response = http.get(url + "/data", headers=JSON, timeout=20)
                ok = response.status_code == 200 and response.json().get("REMOTE_USER") == sub
                outcome = "ok" if ok else f"{response.status_code}: {response.text[:100]}"
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with lock:
                results.append((sub, outcome, time.monotonic() - started, started))

    threads = [threading.Thread(target=client, args=session) for session in sessions
               for _ in range(THREADS_PER_USER)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE + 30)
    return results
