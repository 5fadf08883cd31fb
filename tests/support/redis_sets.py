"""A real 3-master Redis Cluster and a real Sentinel set (one master, one replica, three sentinels),
on free loopback ports in temporary directories, started by the tests and stopped after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.support.servers import free_port, require_component

SERVICE = "auth0test"
# the fixture (tests/conftest.py) that gives each kind of Redis: tests parametrize over these names
REDIS_FIXTURES = {"redis": "redis_url", "redis-cluster": "redis_cluster_url",
                  "redis-sentinel": "redis_sentinel_url"}
# As fixture params: one node in the fast loop; a Cluster and a Sentinel set (~500 more runs, ~22 s)
# are marked slow, so ./scripts/test -m "not slow" stays under a minute and CI still runs them all.
REDIS_PARAMS = [pytest.param("redis", id="redis"),
                pytest.param("redis-cluster", id="redis-cluster", marks=pytest.mark.slow),
                pytest.param("redis-sentinel", id="redis-sentinel", marks=pytest.mark.slow)]
DOWN_AFTER_MS = 1000  # a killed master is seen down after 1 s; the failover follows within ~2 s


class _Process:
    def __init__(self, args: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        stdin=subprocess.DEVNULL)

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def _wait(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)  # real time: waiting for redis-server processes
    raise RuntimeError(f"{what} did not happen within {seconds} s")


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too: Redis refuses ports above 55535."""
    while True:
        port = free_port()
        if port <= 55535:
            try:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                continue


def _require() -> None:
    require_component(shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None,
                      "redis-server and redis-cli (apt-get install redis-server)")


def _server(port: int, directory: Path, *extra: str) -> _Process:
    process = _Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", *extra], directory)
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    _wait(lambda: bool(client.ping()), f"redis-server on port {port} answering")
    return process


class ClusterSet:
    def __init__(self, directory: Path) -> None:
        self.ports = [_cluster_port() for _ in range(3)]
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self._directory = directory
        self._processes: list[_Process] = []

    def start(self) -> ClusterSet:
        for port in self.ports:
            node = self._directory / str(port)
            node.mkdir()
            self._processes.append(_server(port, node, "--cluster-enabled", "yes", "--cluster-config-file",
                                           f"nodes-{port}.conf", "--cluster-node-timeout", "2000"))
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True,
                       timeout=60)
        clients = [redis.Redis(port=p) for p in self.ports]
        _wait(lambda: all(b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO") for c in clients),
              "cluster_state:ok on every node")
        return self

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.ports[0])

    def reshard(self, source: int, target: int, slots: int) -> None:
        """Moves ``slots`` hash slots (and their keys) from the node on port ``source`` to ``target``,
        as an operator does: clients meanwhile get MOVED and ASK redirections."""
        ids = {port: redis.Redis(port=port).execute_command("CLUSTER", "MYID").decode()
               for port in (source, target)}
        subprocess.run(["redis-cli", "--cluster", "reshard", f"127.0.0.1:{source}", "--cluster-from",
                        ids[source], "--cluster-to", ids[target], "--cluster-slots", str(slots),
                        "--cluster-yes", "--cluster-pipeline", "10"],
                       check=True, capture_output=True, timeout=120)

    def add_master(self) -> int:
        """A fourth node joins as a master without slots (as ``redis-cli --cluster add-node``); its port."""
        port = _cluster_port()
        node = self._directory / str(port)
        node.mkdir()
        self._processes.append(_server(port, node, "--cluster-enabled", "yes", "--cluster-config-file",
                                       f"nodes-{port}.conf", "--cluster-node-timeout", "2000"))
        subprocess.run(["redis-cli", "--cluster", "add-node", f"127.0.0.1:{port}",
                        f"127.0.0.1:{self.ports[0]}"], check=True, capture_output=True, timeout=60)
        new_id = redis.Redis(port=port).execute_command("CLUSTER", "MYID")
        clients = [redis.Redis(port=p) for p in self.ports]
        _wait(lambda: all(new_id in c.execute_command("CLUSTER", "NODES") for c in clients),
              "every node knowing the new master")
        _wait(lambda: b"cluster_state:ok" in redis.Redis(port=port).execute_command("CLUSTER", "INFO"),
              "cluster_state:ok on the new master")
        self.ports.append(port)
        return port

    def move_slot(self, slot: int, target: int) -> None:
        """Moves one hash slot and its keys to the node on port ``target``, as ``redis-cli --cluster
        reshard`` does it slot by slot (IMPORTING, MIGRATING, MIGRATE, SETSLOT NODE everywhere)."""
        source = self.client().nodes_manager.get_node_from_slot(slot).port
        nodes = {port: redis.Redis(port=port) for port in self.ports}
        ids = {port: nodes[port].execute_command("CLUSTER", "MYID") for port in (source, target)}
        nodes[target].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
        nodes[source].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
        while keys := nodes[source].execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            nodes[source].execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
        for port in [target, source, *(p for p in self.ports if p not in (source, target))]:
            nodes[port].execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])

    def stop(self) -> None:
        for process in self._processes:
            process.stop()


class SentinelSet:
    def __init__(self, directory: Path) -> None:
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.url = ("redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
                    + f"/{SERVICE}/0")
        self._directory = directory
        self.master: _Process | None = None
        self._others: list[_Process] = []

    def start(self) -> SentinelSet:
        self.master = _server(self.master_port, self._directory)
        self._others.append(_server(self.replica_port, self._directory, "--replicaof", "127.0.0.1",
                                    str(self.master_port)))
        replica = redis.Redis(port=self.replica_port)
        _wait(lambda: replica.info("replication").get("master_link_status") == "up", "replication up")
        for port in self.sentinel_ports:
            config = self._directory / f"sentinel-{port}.conf"
            config.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor {SERVICE} 127.0.0.1 "
                              f"{self.master_port} 2\nsentinel down-after-milliseconds {SERVICE} "
                              f"{DOWN_AFTER_MS}\nsentinel failover-timeout {SERVICE} 5000\n")
            self._others.append(_Process(["redis-server", str(config), "--sentinel"], self._directory))
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port, socket_connect_timeout=0.2)
            _wait(lambda s=sentinel: bool(s.sentinel_master(SERVICE)), "a sentinel monitoring the master")
        return self

    def wait_until_failover_ready(self) -> None:
        """Sentinels find each other by their hello messages (every 2 s): a failover needs a quorum."""
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port, socket_connect_timeout=0.2)
            _wait(lambda s=sentinel: int(s.sentinel_master(SERVICE)["num-other-sentinels"]) >= 2
                  and int(s.sentinel_master(SERVICE)["num-slaves"]) >= 1, "sentinels seeing each other")

    def kill_master(self) -> None:
        assert self.master is not None
        self.master.stop(kill=True)

    def current_master_port(self) -> int:
        sentinel = redis.Redis(port=self.sentinel_ports[0])
        return int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1])

    def stop(self) -> None:
        for process in [*self._others, *([self.master] if self.master else [])]:
            process.stop()


@contextmanager
def redis_cluster() -> Iterator[ClusterSet]:
    _require()
    with tempfile.TemporaryDirectory(prefix="auth0-cluster-") as directory:
        cluster = ClusterSet(Path(directory))
        try:
            yield cluster.start()
        finally:
            cluster.stop()


@contextmanager
def redis_sentinel() -> Iterator[SentinelSet]:
    _require()
    with tempfile.TemporaryDirectory(prefix="auth0-sentinel-") as directory:
        sentinels = SentinelSet(Path(directory))
        try:
            yield sentinels.start()
        finally:
            sentinels.stop()
