"""The in-process benchmarks still run against the code as it is (a change to what they reach into,
such as the cookie's seal, broke one once and no test saw it). Not a timing: speed is measured in
benchmarks/ (docs/benchmarks.md), never asserted here. hot_path.py asserts by itself that the hot
path never calls the provider."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    written = re.search(r"^JSON: (\S+)$", done.stdout, re.MULTILINE)
    if written:  # a result file of a run this small is worth nothing
        Path(written.group(1)).unlink(missing_ok=True)
    return done.stdout


def test_the_hot_path_benchmark_runs_and_breaks_the_path_down():
    output = _run("benchmarks/hot_path.py", "--number", "5", "--repeat", "1", "--no-redis")
    assert "cookie store, session cookie only" in output
    assert "decrypt (Sealer.unseal" in output and "decoded-session cache hit" in output


def test_the_hostile_input_benchmark_runs():
    output = _run("benchmarks/hostile_input.py")
    assert "unclosed-quotes-and-escapes" in output
