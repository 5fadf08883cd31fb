"""``scripts/demo`` as a newcomer runs it: it comes up, a login works through it, and Ctrl-C
(SIGINT) stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.examples import assert_shows_the_api_answer
from tests.support.gunicorn import ROOT
from tests.support.http import HTML
from tests.support.real_idp import login_via_form, require_local_idp
from tests.support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
READY = re.compile(r"^    Open (http://\S+)/ in your browser\.$", re.MULTILINE)


class Demo:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_url(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = READY.search(self.output())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                pytest.fail(f"scripts/demo exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        pytest.fail(f"scripts/demo printed no URL within {timeout} s:\n{self.output()[-3000:]}")


@pytest.fixture
def ports() -> dict[str, int]:
    return {"DEMO_APP_PORT": free_port(), "DEMO_API_PORT": free_port(), "DEMO_IDP_PORT": free_port()}


@pytest.fixture
def demo(ports: dict[str, int]) -> Iterator[Demo]:
    require_local_idp()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUTH0_")}
    env.update({key: str(port) for key, port in ports.items()})
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "demo.log"
        with log.open("wb") as sink:
            # its own session, so that whatever a failing test leaves behind can be killed as a group
            process = subprocess.Popen([str(ROOT / "scripts" / "demo")], cwd=ROOT, env=env, stdout=sink,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        try:
            yield Demo(process, log)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_demo_serves_a_login_and_ctrl_c_stops_everything(demo: Demo, ports: dict[str, int]) -> None:
    url = demo.wait_for_url()
    assert url == f"http://127.0.0.1:{ports['DEMO_APP_PORT']}"
    assert "Log in with any user name (e.g. alice) and any password" in demo.output()

    http = requests.Session()
    login_page = http.get(url + "/profile", headers=HTML, timeout=10)
    assert login_page.url.startswith(f"http://127.0.0.1:{ports['DEMO_IDP_PORT']}/")
    profile = login_via_form(http, login_page, "alice")
    assert '<strong class="name">Alice Example</strong>' in profile.text
    assert_shows_the_api_answer(http.get(url + "/messages", headers=HTML, timeout=10).text, "alice")

    started = _descendants(demo.process.pid)
    commands = [_command(pid) for pid in started]
    app_workers = [c for c in commands if "development.ini" in c and "--workers 3" in c]
    assert len(app_workers) == 4, commands  # the gunicorn master and its 3 workers
    assert any("examples/api/api.ini" in c for c in commands)
    assert any("server.mjs" in c for c in commands)  # node, the provider

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(30) == 130
    assert _still_running(started, within=5) == []
    for port in ports.values():
        with pytest.raises(ConnectionRefusedError):  # nobody listens any more
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert demo.output().rstrip().endswith("demo: stopped.")


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def _descendants(pid: int) -> list[int]:
    children, found, todo = _children(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _still_running(pids: list[int], within: float) -> list[int]:
    """The pids that have not ended (zombies count as ended) after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = [pid for pid in pids if _running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
