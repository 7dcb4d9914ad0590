"""Real broker processes (tests, benchmarks): ``python -m trio_zeebe node`` over mutual TLS.

Configs come from the dev-cluster writer; timings are shortened through environment overrides.
Everything that waits polls with a deadline (through each broker's gateway, as ``status`` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import trio

from ..client import Client, ClientError, Topology
from ..config import load_config
from ..devcluster import write_configs


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


FAST_MEMBERSHIP = {
    "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__PROBE_INTERVAL": "200ms",
    "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__PROBE_TIMEOUT": "100ms",
    "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__FAILURE_TIMEOUT": "2s",
    "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__GOSSIP_INTERVAL": "100ms",
    "TRIO_ZEEBE_BROKER_CLUSTER__MEMBERSHIP__SYNC_INTERVAL": "2s",
}
SMALL_DISK_SPACE = {
    # Tests run on shared, often nearly full disks: refuse only when nearly nothing is left.
    "TRIO_ZEEBE_BROKER_DATA__DISK__FREE_SPACE_PROCESSING": "8MB",
    "TRIO_ZEEBE_BROKER_DATA__DISK__FREE_SPACE_REPLICATION": "4MB",
}
FAST_RAFT = {
    "TRIO_ZEEBE_BROKER_CLUSTER__RAFT__HEARTBEAT_INTERVAL": "100ms",
    "TRIO_ZEEBE_BROKER_CLUSTER__RAFT__ELECTION_TIMEOUT": "1s",
}


def terminate(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM (graceful) to every process still running, then wait for each; one that has
    not exited ``timeout`` seconds into its wait gets SIGKILL."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Brokers:
    def __init__(
        self,
        directory: Path,
        *,
        brokers: int = 3,
        partitions: int = 1,
        replication_factor: int = 1,
        env: dict[str, str] | None = None,
        tls: bool = True,
    ) -> None:
        self.directory = directory
        self.tls = tls
        self.size = brokers
        self.env = {**FAST_MEMBERSHIP, **SMALL_DISK_SPACE, **(env or {})}
        self.configs = write_configs(
            directory,
            brokers=brokers,
            partitions=partitions,
            replication_factor=replication_factor,
            tls=tls,
        )
        self.ca = str(directory / "certs" / "ca.pem")
        self.loaded = [load_config(p, environ={}) for p in self.configs]
        self.gateways = [f"127.0.0.1:{c.network.gateway_port}" for c in self.loaded]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.killed: set[int] = set()
        self.cwd = repo_root()

    def data_dir(self, node_id: int) -> Path:
        c = self.loaded[node_id]
        return c.path(c.data.directory)

    def start(self, node_id: int, **env: str) -> None:
        self.killed.discard(node_id)
        log = (self.directory / f"broker-{node_id}.log").open("ab")
        self.procs[node_id] = subprocess.Popen(
            [sys.executable, "-m", "trio_zeebe", "node", "--config", str(self.configs[node_id])],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env, **env},
            cwd=self.cwd,
        )
        log.close()

    def log(self, node_id: int) -> str:
        return (self.directory / f"broker-{node_id}.log").read_text(errors="replace")

    def client(self, node_id: int, timeout: float = 2.0) -> Client:
        return Client(
            [self.gateways[node_id]],
            ca=self.ca if self.tls else None,
            insecure=not self.tls,
            connect_timeout=1,
            request_timeout=timeout,
        )

    async def topology(self, node_id: int) -> Topology | None:
        """The topology as broker ``node_id`` sees it; None while it does not answer."""
        try:
            async with self.client(node_id, timeout=1) as client:
                return await client.topology()
        except ClientError:
            return None

    async def states(self, node_id: int) -> dict[int, str] | None:
        """node id -> state as broker ``node_id`` sees it; None while it does not answer."""
        topology = await self.topology(node_id)
        return None if topology is None else {b.node_id: b.state for b in topology.brokers}

    def kill(self, node_id: int) -> None:
        """SIGKILL: no goodbye, no final write."""
        self.killed.add(node_id)
        self.procs[node_id].kill()
        self.procs[node_id].wait()

    def check_running(self) -> None:
        for i, proc in self.procs.items():
            if i in self.killed:
                continue
            assert proc.poll() is None, f"broker {i} exited:\n{self.log(i)[-2000:]}"

    async def wait_all_alive(self, limit: float) -> None:
        everyone = {i: "alive" for i in range(self.size)}
        with trio.fail_after(limit):
            while True:
                seen = [await self.states(i) for i in range(self.size)]
                if all(s == everyone for s in seen):
                    return
                self.check_running()
                await trio.sleep(0.05)

    def terminate_all(self, timeout: float = 15) -> None:
        """SIGTERM (graceful) and wait; the exit codes are returned by ``procs``."""
        terminate(self.procs.values(), timeout)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
