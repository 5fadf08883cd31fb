"""``scripts/demo`` started by a test on free loopback ports (the ``ports`` and ``start_demo``
fixtures), and what a test reads from it: its output, its URL once ready, the processes it started
and the secrets they were given. Shared by ``test_demo.py`` and ``test_demo_browser.py``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.gunicorn import ROOT
from tests.support.real_idp import require_local_idp
from tests.support.servers import free_port

READY = re.compile(r"^    Open (http://\S+)/ in your browser\.$", re.MULTILINE)
SECRET_VARIABLES = ("AUTH0_CLIENT_SECRET", "AUTH0_SECRET", "LOCAL_IDP_CLIENT_SECRET")


class Demo:
    """One run of ``scripts/demo``: its process and the log of what it printed."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_url(self, timeout: float = 120) -> str:
        return self.wait_for(lambda output: (found := READY.search(output)) and found.group(1), timeout)

    def wait_for(self, ready: Callable[[str], str | None], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ready(self.output())
            if found:
                return found
            if self.process.poll() is not None:
                pytest.fail(f"scripts/demo exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.2)  # real time: waiting for the demo's processes to start
        pytest.fail(f"scripts/demo was not ready within {timeout} s:\n{self.output()[-3000:]}")

    def secrets(self) -> dict[str, str]:
        """The secrets its processes were given (read from their environment), by variable."""
        found: dict[str, str] = {}
        for pid in descendants(self.process.pid):
            environ = _environ(pid)
            found.update({name: environ[name] for name in SECRET_VARIABLES if environ.get(name)})
        return found


@pytest.fixture
def ports() -> dict[str, int]:
    """Free loopback ports for the demo's processes, by the variable that sets each."""
    return {"DEMO_APP_PORT": free_port(), "DEMO_API_PORT": free_port(), "DEMO_IDP_PORT": free_port(),
            "DEMO_BILLING_PORT": free_port()}


@pytest.fixture
def start_demo(ports: dict[str, int]) -> Iterator[Callable[..., Demo]]:
    """Starts ``scripts/demo`` with these arguments (on the test's ports); kills what is left after."""
    require_local_idp()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUTH0_")}
    env.update({key: str(port) for key, port in ports.items()})
    started: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as directory:
        def start(*args: str, **variables: str) -> Demo:
            log = Path(directory) / f"demo-{len(started)}.log"
            with log.open("wb") as sink:
                # its own session, so that what a failing test leaves behind can be killed as a group
                process = subprocess.Popen([str(ROOT / "scripts" / "demo"), *args], cwd=ROOT,
                                           env={**env, **variables},
                                           stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
            started.append(process)
            return Demo(process, log)

        try:
            yield start
        finally:
            for process in started:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)


def descendants(pid: int) -> list[int]:
    """The pids of ``pid``'s children, their children, and so on (read from /proc)."""
    children, todo = _children(), [pid]
    found: list[int] = []
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


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
