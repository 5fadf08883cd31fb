"""gunicorn (sync workers) on a free loopback port, and the memory of its workers."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, free_port, pinned


class Gunicorn:
    def __init__(self, app: str, env: dict[str, str], workers: int = 2, port: int | None = None,
                 cpus: str | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [*pinned(cpus), sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(workers), "--worker-class", "sync", "--no-control-socket",
                   "--log-level", "warning", "--graceful-timeout", "5"]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},  # noqa: S603
                                        stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL)
        self._workers = workers

    def wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            if len(self.worker_pids()) >= self._workers and _answers(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start within {timeout} s:\n{self.log()}")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:  # no CONFIG_PROC_CHILDREN: scan /proc for our children
            pids = []
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
            return pids

    def worker_memory_mb(self) -> list[dict[str, float]]:
        """Per worker: peak RSS (VmHWM) and current RSS (VmRSS), in MiB."""
        rows = []
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            values = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status.splitlines()
                      if line.startswith(("VmHWM:", "VmRSS:"))}
            rows.append({"pid": pid, "peak_rss_mb": values.get("VmHWM", 0.0),
                         "rss_mb": values.get("VmRSS", 0.0)})
        return rows

    def worker_cpu_seconds(self) -> float:
        """User + system CPU time of the workers so far (the master only supervises)."""
        return sum(_cpu_seconds(pid) for pid in self.worker_pids())

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def __enter__(self) -> Gunicorn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_TICKS = os.sysconf("SC_CLK_TCK")



def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int | str) -> float:
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


class MachineLoad:
    """How much of the machine other people's processes used while we measured.

    Everything busy on the machine (``/proc/stat``) minus what this process, its children (the
    servers, Redis) and the reaped ones (wrk) used: processes that start and end between two
    snapshots (someone's test run) are counted too. The kernel's own network work for our traffic
    lands in "others" as well, so a few percent is the floor.
    """

    def __init__(self) -> None:
        self._start = self._snapshot()

    def share(self) -> float:
        """Of the machine's capacity since the last call (0..1), what others used; restarts."""
        now = self._snapshot()
        (wall0, busy0, ours0), (wall1, busy1, ours1) = self._start, now
        self._start = now
        capacity = (wall1 - wall0) * (os.cpu_count() or 1)
        return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / capacity if capacity > 0 else 0.0

    @staticmethod
    def _snapshot() -> tuple[float, float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / _TICKS  # all but idle and iowait
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = sum(_cpu_seconds(pid) for pid in _our_tree()) + children.ru_utime + children.ru_stime
        return time.monotonic(), busy, ours


def _our_tree() -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(_stat(stat.parent.name)[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = [os.getpid()], [os.getpid()]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _answers(port: int) -> bool:
    """Any HTTP answer at all (a 401 included) means the server is up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False
