"""Where a wrapped worker's CPU goes: per thread, idle and under load, in and out of the app call.

    .venv/bin/python benchmarks/cpu_probe.py [--duration 8] [--rounds 3] [--idle 10] [--cases ...]

Starts the fake provider, redis-server and one gunicorn server (2 sync workers, pinned to the last
CPU like run.py) per case: ``bare``, ``cookie``, ``redis`` (``session_cache = tracking``, the
default) and ``redis-off`` (``session_cache = off``), each app wrapped by :func:`probed`, which
measures the thread CPU time spent inside the app call and in the cyclic garbage collector. Then:

- idle: every worker's CPU over ``--idle`` seconds with no request, per thread, and the background
  threads' voluntary context switches (wake-ups);
- load: interleaved rounds with the Python load generator (run.py's), and per request: the workers'
  CPU (``/proc/PID/task/*/stat``), split into the main thread and the background threads, the CPU
  inside the app call, the GC's share, and the context switches of each.

``--steps`` also times each step of the hot path inside the workers (wall time per call, medians;
each wrapper adds ~0.2 µs); a case ``redis+MODULE:NAME`` serves the Redis store through the app
``NAME`` of ``MODULE`` (a candidate change, patched into the benchmark app before it is made in the
library). Prints a table; writes benchmarks/results/cpu-probe-*.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BODY = b"Hello, world!\n"
PROBE_PATH = "/__probe"
_stats = {"requests": 0, "app_ns": 0, "gc_ns": 0}
_steps: dict[str, list[int]] = {}  # PROBE_STEPS=1: wall ns of each timed step, per call (last 20,000)


def _timed(name: str, function: Any) -> Any:
    samples = _steps.setdefault(name, [])

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter_ns()
        try:
            return function(*args, **kwargs)
        finally:
            samples.append(time.perf_counter_ns() - began)
            if len(samples) > 40_000:
                del samples[:20_000]
    return timed


def _time_steps(middleware: Any) -> None:
    """Wraps the steps of a cached authenticated request (each wrapper adds ~0.2 µs to its step)."""
    from auth0_wsgi import context

    store = middleware.store
    store.load = _timed("store.load", store.load)
    from auth0_wsgi import cookies

    cookies.read_cookies = _timed("cookies.read_cookies", cookies.read_cookies)
    for name in ("_cookie_id", "_signature", "record_key", "_read", "_decode"):
        if hasattr(store, name):
            setattr(store, name, _timed(f"store.{name}", getattr(store, name)))
    backend = getattr(store, "backend", None)
    if backend is not None and hasattr(backend, "read"):
        backend.read = _timed("backend.read", backend.read)
        records = getattr(backend, "records", None)
        if records is not None:
            records.get = _timed("records.get", records.get)
    context.RequestContext.refresh = _timed("context.refresh", context.RequestContext.refresh)
    middleware.app = _timed("inner app", middleware.app)
_gc_started = [0]


def _gc_callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.thread_time_ns()
    elif _gc_started[0]:
        _stats["gc_ns"] += time.thread_time_ns() - _gc_started[0]
        _gc_started[0] = 0


def _build() -> Any:
    from benchmarks import apps

    which = os.environ.get("PROBE_INNER", "wrapped")
    if which == "bare":
        inner = apps.bare
    elif which == "wrapped":
        inner = apps.wrapped
    else:  # a candidate change: an app of benchmarks.apps (or a module of yours) that patches it
        module, _, name = which.rpartition(":")
        inner = getattr(__import__(module or "benchmarks.apps", fromlist=[name]), name)
    if os.environ.get("PROBE_STEPS") and inner is not apps.bare:
        _time_steps(inner)
    inner = _timed("middleware call", inner) if os.environ.get("PROBE_STEPS") else inner
    gc.callbacks.append(_gc_callback)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == PROBE_PATH:
            steps = {name: {"n": len(v), "median_ns": statistics.median(v) if v else 0,
                            "mean_ns": statistics.fmean(v) if v else 0} for name, v in _steps.items()}
            if environ.get("QUERY_STRING") == "reset":
                for samples in _steps.values():
                    samples.clear()
            body = json.dumps({**_stats, "pid": os.getpid(), "steps": steps}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        began = time.thread_time_ns()
        try:
            return inner(environ, start_response)
        finally:
            _stats["app_ns"] += time.thread_time_ns() - began
            _stats["requests"] += 1
    return app


def __getattr__(name: str) -> Any:
    if name == "probed":
        app = _build()
        globals()["probed"] = app
        return app
    raise AttributeError(name)


# -- the driver ------------------------------------------------------------------------------------
def _threads(pid: int) -> dict[int, dict[str, float]]:
    """Per thread of ``pid``: CPU seconds and context switches."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu_ns = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except OSError:
            continue
        switches = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))}
        found[int(task.name)] = {"cpu": on_cpu_ns / 1e9,  # schedstat: ns on a CPU (stat has 10 ms ticks)
                                 "vcs": switches.get("voluntary_ctxt_switches", 0),
                                 "ncs": switches.get("nonvoluntary_ctxt_switches", 0)}
    return found


def _snapshot(server: Any) -> dict[str, float]:
    """Sums over the workers: main thread and background threads (CPU s, voluntary/involuntary cs)."""
    total = {"main_cpu": 0.0, "bg_cpu": 0.0, "main_vcs": 0, "bg_vcs": 0, "main_ncs": 0, "bg_ncs": 0,
             "bg_threads": 0}
    for pid in server.worker_pids():
        for tid, row in _threads(pid).items():
            kind = "main" if tid == pid else "bg"
            total[f"{kind}_cpu"] += row["cpu"]
            total[f"{kind}_vcs"] += row["vcs"]
            total[f"{kind}_ncs"] += row["ncs"]
            total["bg_threads"] += kind == "bg"
    return total


def _probe(server: Any) -> dict[str, int]:
    """The probe counters summed over the workers (each GET reaches one worker: ask until both)."""
    import requests

    seen: dict[int, dict[str, int]] = {}
    for _ in range(200):
        row = requests.get(server.url + PROBE_PATH, timeout=5).json()
        seen[row["pid"]] = row
        if len(seen) >= len(server.worker_pids()):
            break
    return {k: sum(r[k] for r in seen.values()) for k in ("requests", "app_ns", "gc_ns")}


def _per_request(load: Any, others: float, snap0: dict[str, float], snap1: dict[str, float],
                 probe0: dict[str, int], probe1: dict[str, int]) -> dict[str, float]:
    n = max(1, load.requests)
    row = {"rps": load.rps, "requests": load.requests, "bad": load.bad, "others": others,
           "main_cpu_us": (snap1["main_cpu"] - snap0["main_cpu"]) / n * 1e6,
           "bg_cpu_us": (snap1["bg_cpu"] - snap0["bg_cpu"]) / n * 1e6,
           "app_us": (probe1["app_ns"] - probe0["app_ns"]) / 1e3
           / max(1, probe1["requests"] - probe0["requests"]),
           "gc_us": (probe1["gc_ns"] - probe0["gc_ns"]) / n / 1e3}
    row["cpu_us"] = row["main_cpu_us"] + row["bg_cpu_us"]
    for key in ("main_vcs", "main_ncs", "bg_vcs", "bg_ncs"):
        row[key] = (snap1[key] - snap0[key]) / n
    return row


def _steps_of(server: Any) -> dict[str, float]:
    """PROBE_STEPS: the median µs of each timed step, median over the workers."""
    import requests

    seen: dict[int, dict[str, Any]] = {}
    for _ in range(200):
        row = requests.get(server.url + PROBE_PATH, timeout=5).json()
        seen[row["pid"]] = row["steps"]
        if len(seen) >= len(server.worker_pids()):
            break
    names = {name for steps in seen.values() for name in steps}
    return {name: statistics.median(s[name]["median_ns"] for s in seen.values() if name in s) / 1e3
            for name in names}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import RedisServer, free_port, log_in, typical_provider, write_json
    from benchmarks.loadgen import PythonLoad
    from benchmarks.run import middleware_env
    from benchmarks.servers import Gunicorn, MachineLoad

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cases", default="bare,cookie,redis,redis-off")
    parser.add_argument("--app", default="benchmarks.cpu_probe:probed")
    parser.add_argument("--steps", action="store_true",
                        help="also time each step of the hot path in the workers (adds ~0.2 µs a step)")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")
    cpus = os.cpu_count() or 1
    server_cpus, load_cpus = str(cpus - 1), ",".join(str(c) for c in range(max(1, cpus - 1)))
    loadgen = PythonLoad(2, args.connections, load_cpus)
    result: dict[str, Any] = {"cases": cases, "idle": {}, "rounds": []}
    try:
        with ExitStack() as stack:
            fake = stack.enter_context(typical_provider())
            redis = stack.enter_context(RedisServer(load_cpus))
            servers: dict[str, Gunicorn] = {}
            for case in cases:
                port = free_port()
                store = "cookie" if case in ("bare", "bare-cookie", "cookie") else redis.url
                env = middleware_env(fake.issuer, port, store)
                if args.steps:
                    env["PROBE_STEPS"] = "1"
                env["PROBE_INNER"] = "bare" if case.startswith("bare") else "wrapped"
                if case.startswith("redis+"):  # redis+NAME: the Redis store with a candidate change
                    env["PROBE_INNER"] = case.partition("+")[2]
                if case == "redis-off":
                    env["AUTH0_SESSION_CACHE"] = "off"
                servers[case] = stack.enter_context(Gunicorn(args.app, env, 2, port, server_cpus))
            for server in servers.values():
                server.wait_until_up()
            cookies = {case: log_in(servers[case].url).cookie for case in cases
                       if not case.startswith("bare")}
            # bare gets the Redis store's cookie (82 bytes), bare-cookie the cookie store's (~2 KB)
            cookies["bare"] = cookies.get("redis", next(iter(cookies.values()), ""))
            if "bare-cookie" in cases:
                cookies["bare-cookie"] = cookies["cookie"]
            for case in cases:  # warm-up (also starts each worker's listeners)
                loadgen.run(servers[case].url + "/", {"Cookie": cookies[case]}, 2)
            time.sleep(1)
            # Idle: all servers at once, nothing sent.
            before = {case: _snapshot(s) for case, s in servers.items()}
            time.sleep(args.idle)
            for case, server in servers.items():
                after = _snapshot(server)
                result["idle"][case] = {k: after[k] - before[case][k] for k in after if k != "bg_threads"}
                result["idle"][case]["bg_threads"] = after["bg_threads"]
            machine = MachineLoad()
            for index in range(args.rounds):
                row = {}
                for case in cases if index % 2 == 0 else cases[::-1]:
                    server = servers[case]
                    snap0, probe0 = _snapshot(server), _probe(server)
                    machine.share()
                    load = loadgen.run(server.url + "/", {"Cookie": cookies[case]}, args.duration)
                    others = machine.share()
                    snap1, probe1 = _snapshot(server), _probe(server)
                    row[case] = _per_request(load, others, snap0, snap1, probe0, probe1)
                    r = row[case]
                    print(f"round {index + 1} {case:<10} {r['rps']:6.0f} req/s  "
                          f"CPU {r['cpu_us']:5.1f} µs/req (main {r['main_cpu_us']:5.1f}, "
                          f"bg {r['bg_cpu_us']:4.1f})  in app {r['app_us']:5.1f}  gc {r['gc_us']:4.1f}  "
                          f"cs/req main {r['main_vcs']:.2f}+{r['main_ncs']:.2f} "
                          f"bg {r['bg_vcs']:.3f}+{r['bg_ncs']:.3f}  bad {r['bad']}  "
                          f"others {others * 100:.0f}%",
                          flush=True)
                result["rounds"].append(row)
            if args.steps:
                result["steps"] = {case: _steps_of(servers[case]) for case in cases}
    finally:
        loadgen.close()
    print(f"\nidle {args.idle:g} s, 2 workers each:")
    for case, row in result["idle"].items():
        print(f"  {case:<10} CPU main {row['main_cpu'] * 1e3:6.2f} ms  bg {row['bg_cpu'] * 1e3:6.2f} ms "
              f"({row['bg_threads']} bg threads)  wake-ups main {row['main_vcs']}  bg {row['bg_vcs']}")
    print("\nmedians over rounds (per request):")
    for case in cases:
        rows = [r[case] for r in result["rounds"]]
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "bad"}
        result.setdefault("median", {})[case] = med
        print(f"  {case:<10} {med['rps']:6.0f} req/s  CPU {med['cpu_us']:5.1f} µs "
              f"(main {med['main_cpu_us']:5.1f}, bg {med['bg_cpu_us']:4.1f})  in app {med['app_us']:5.1f}  "
              f"gc {med['gc_us']:4.1f}  cs main {med['main_vcs']:.2f}+{med['main_ncs']:.2f} "
              f"bg {med['bg_vcs']:.3f}+{med['bg_ncs']:.3f}")
    for case, steps in result.get("steps", {}).items():
        print(f"\nsteps of {case} in the workers (median µs per call):")
        for name, us in sorted(steps.items(), key=lambda item: -item[1]):
            print(f"  {us:7.2f}  {name}")
    print(f"\nJSON: {write_json('cpu-probe', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
