"""What run.py and hot_path.py share: the fake provider, a real login, Redis, other cookies, the machine."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

from benchmarks.apps import BODY  # noqa: E402
from benchmarks.typical import make_typical  # noqa: E402
from tests.support.fake_provider import AUDIENCE, CLIENT_ID, CLIENT_SECRET, FakeProvider  # noqa: E402
from tests.support.servers import free_port, serve  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "benchmark-secret-" + "x" * 32
# Cookies a real site carries beside ours (analytics, consent, CSRF, a load balancer's…), so that the
# Cookie header is ~3.5 KB with the session: finding our cookie must not depend on being alone.
OTHER_COOKIES = (
    "_ga=GA1.1.1234567890.1715678901; _ga_ABCDEF1234=GS1.1.1715678901.3.1.1715679999.0.0.0; "
    "_gid=GA1.2.987654321.1715678901; _fbp=fb.1.1715678901234.1234567890; "
    "OptanonConsent=isGpcEnabled=0&datestamp=Tue+May+14+2025+10%3A21%3A37+GMT%2B0200&version=202403.1.0"
    "&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=7c5e2e8e-0f7b-1a8d-3f4c-6b9a2e1d0c3b"
    "&interactionCount=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A0; "
    "OptanonAlertBoxClosed=2025-05-14T08:21:37.428Z; csrftoken=" + "Zq" * 32 + "; "
    "AWSALB=" + "A1b2C3d4E5f6G7h8" * 10 + "; AWSALBCORS=" + "A1b2C3d4E5f6G7h8" * 10 + "; "
    "intercom-id-abcd1234=7c5e2e8e-0f7b-1a8d-3f4c-6b9a2e1d0c3b; "
    "intercom-session-abcd1234=" + "WkdGMmNXRk9a" * 12 + "; "
    "ajs_anonymous_id=%227c5e2e8e-0f7b-1a8d-3f4c-6b9a2e1d0c3b%22; ajs_user_id=%22u_12345%22; "
    "hubspotutk=7c5e2e8e0f7b1a8d3f4c6b9a2e1d0c3b; __hstc=123456789.7c5e2e8e0f7b1a8d3f4c6b9a2e1d0c3b"
    ".1715678901234.1715678901234.1715678901234.1; __hssrc=1; theme=dark; lang=en-GB; "
    "recently_viewed=%5B%22p-1042%22%2C%22p-2201%22%2C%22p-3310%22%2C%22p-4471%22%2C%22p-5582%22%5D"
)


def middleware_settings(issuer: str, base_url: str, session_store: str = "cookie") -> dict[str, Any]:
    return {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "base_url": base_url, "secret": SECRET, "audience": AUDIENCE, "session_store": session_store}


@contextmanager
def typical_provider() -> Iterator[FakeProvider]:
    """The test suite's fake provider on a free loopback port, issuing typical Auth0 sessions."""
    fake = FakeProvider()
    with serve(fake) as url:
        fake.issuer = url + "/"
        make_typical(fake)
        yield fake


def with_other_cookies(session_cookie: str) -> str:
    """A ~3.5 KB Cookie header: other cookies first and last, ours in the middle."""
    first, _, rest = OTHER_COOKIES.partition("; OptanonAlertBoxClosed")
    return f"{first}; {session_cookie}; OptanonAlertBoxClosed{rest}"


def machine() -> dict[str, Any]:
    import gunicorn

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,  # noqa: S607
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"nproc": os.cpu_count(), "cpu": model or platform.processor(),
            "python": platform.python_version(), "gunicorn": gunicorn.__version__,
            "platform": platform.platform(), "commit": commit}


def pinned(cpus: str | None) -> list[str]:
    """The prefix that runs a command on the given CPUs (``taskset -c 1``), or nothing."""
    return ["taskset", "-c", cpus] if cpus else []


def write_json(kind: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class Login:
    cookie: str  # the Cookie header a browser sends afterwards: our cookie(s) only
    set_cookie_lengths: tuple[int, ...]  # of each session Set-Cookie header value of the callback


def log_in(base_url: str, cookie_name: str = "auth0_session") -> Login:
    """A real login over HTTP: /login, the provider's /authorize, /callback; returns the session."""
    browser = requests.Session()
    login = browser.get(base_url + "/login", params={"return_to": "/"}, allow_redirects=False, timeout=10)
    assert login.status_code == 302, login.text
    answer = requests.get(login.headers["Location"], allow_redirects=False, timeout=10)
    callback = browser.get(answer.headers["Location"], allow_redirects=False, timeout=10)
    assert callback.status_code == 302, callback.text
    ours = [v for v in callback.raw.headers.getlist("Set-Cookie")
            if v.split("=", 1)[0] == cookie_name or v.startswith(cookie_name + ".")]
    pairs = [c.split(";", 1)[0] for c in ours]
    session = Login("; ".join(p for p in pairs if not p.endswith("=")), tuple(len(c) for c in ours))
    check = requests.get(base_url + "/", headers={"Cookie": session.cookie}, timeout=10)
    assert check.status_code == 200 and check.content == BODY, (check.status_code, check.text[:200])
    assert "Set-Cookie" not in check.headers, "an unchanged session must not be re-sent"
    return session


class RedisServer:
    """Debian's redis-server on a free loopback port, in the foreground, no persistence."""

    def __init__(self, cpus: str | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is missing (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [*pinned(cpus), "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # noqa: S603
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
