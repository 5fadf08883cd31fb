"""Running an app under a real gunicorn (or another server command) on a free loopback port,
owned by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gunicorn(ini: str, port: int, env: dict[str, str], *, workers: int = 2,
             extra_args: tuple[str, ...] = (), ready_path: str = "/health") -> Iterator[str]:
    """``ini`` under gunicorn (``--paste``); anything not ending in ``.ini`` is a ``module:app``."""
    app = ("--paste", ini) if ini.endswith(".ini") else (ini,)
    command = [sys.executable, "-m", "gunicorn", *app, "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--no-control-socket", "--graceful-timeout", "5", *extra_args]
    with server_process(command, port, env, ready_path) as url:
        yield url


@contextmanager
def server_process(command: list[str], port: int, env: dict[str, str],
                   ready_path: str = "/health") -> Iterator[str]:
    """Runs ``command`` (a server listening on ``port``) from the repository root until the block
    ends; yields its base URL once ``ready_path`` answers."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(process, url + ready_path, log)
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_until_up(process: subprocess.Popen, url: str, log) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read().decode()[-3000:]}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)  # real time: waiting for another process to listen
    raise RuntimeError("the server did not start within 30 s")
