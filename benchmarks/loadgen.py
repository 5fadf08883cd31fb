"""The load generators: ``wrk`` when installed, else a Python one (processes x threads, http.client).

Both send ``GET /`` with the same headers at a fixed concurrency for a fixed time, and give the
same figures: requests/s, p50/p99 latency, and how many answers were not 2xx (or failed).
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from benchmarks.common import pinned

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx answers and socket errors

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Wrk:
    name = "wrk"

    def __init__(self, threads: int, connections: int, cpus: str | None = None) -> None:
        self.threads, self.connections, self.cpus = threads, connections, cpus

    @staticmethod
    def available() -> bool:
        return shutil.which("wrk") is not None

    def describe(self) -> str:
        where = f" on CPU {self.cpus}" if self.cpus else ""
        return f"wrk -t{self.threads} -c{self.connections} --latency{where}"

    def run(self, url: str, headers: dict[str, str], seconds: float) -> Load:
        command = [*pinned(self.cpus), "wrk", f"-t{self.threads}", f"-c{self.connections}",
                   f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True,  # noqa: S603
                             timeout=seconds + 30).stdout
        return parse_wrk(out)


def parse_wrk(out: str) -> Load:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not found:
            raise ValueError(f"no {percent}% latency in wrk's output:\n{out}")
        return float(found.group(1)) * _UNITS[found.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not rps or not total:
        raise ValueError(f"unexpected wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non_2xx.group(1)) if non_2xx else 0
    # A read error is a connection the sync worker closed after answering: not a failure.
    bad += sum(int(errors.group(i)) for i in (1, 3, 4)) if errors else 0
    return Load(float(rps.group(1)), latency("50"), latency("99"), int(total.group(1)), bad)


class PythonLoad:
    """``processes`` processes of ``connections / processes`` threads, one request per connection
    (gunicorn's sync workers close every connection after the response anyway)."""

    name = "python"

    def __init__(self, processes: int, connections: int, cpus: str | None = None) -> None:
        self.processes = max(1, processes)
        self.connections = connections
        self.cpus = cpus
        self._pool = multiprocessing.get_context("spawn").Pool(
            self.processes, initializer=_pin, initargs=({int(c) for c in cpus.split(",")} if cpus else None,))

    def describe(self) -> str:
        threads = self.connections // self.processes
        return f"python (http.client) {self.processes} processes x {threads} threads" + (
            f" on CPU {self.cpus}" if self.cpus else "")

    def run(self, url: str, headers: dict[str, str], seconds: float) -> Load:
        threads = max(1, self.connections // self.processes)
        parts = self._pool.starmap(_drive, [(url, headers, threads, seconds)] * self.processes)
        latencies = sorted(ms for part in parts for ms in part[0])
        elapsed = max(part[2] for part in parts)
        if not latencies:
            return Load(0.0, 0.0, 0.0, 0, sum(part[1] for part in parts))
        return Load(len(latencies) / elapsed, statistics.median(latencies),
                    latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                    len(latencies), sum(part[1] for part in parts))

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _pin(cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


def _drive(url: str, headers: dict[str, str], threads: int, seconds: float) -> tuple[list[float], int, float]:
    """One process: ``threads`` threads sending requests until ``seconds`` have passed."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    latencies: list[list[float]] = [[] for _ in range(threads)]
    bad = [0] * threads
    start = time.perf_counter()
    deadline = start + seconds

    def loop(index: int) -> None:
        ok, failures = latencies[index], 0
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            connection = http.client.HTTPConnection(host, port, timeout=5)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if 200 <= response.status < 300:
                    ok.append((time.perf_counter() - began) * 1e3)
                else:
                    failures += 1
            except (OSError, http.client.HTTPException):
                failures += 1
            finally:
                connection.close()
        bad[index] = failures

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [ms for part in latencies for ms in part], sum(bad), time.perf_counter() - start
