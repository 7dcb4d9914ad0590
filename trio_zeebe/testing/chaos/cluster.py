"""Cluster control for the chaos suite: real broker processes over mutual TLS.

:class:`ChaosCluster` writes the certificates (naming every broker address) and one config per
broker, starts ``python -m trio_zeebe node`` per broker (inside its network namespace when the
run has a :class:`~.netns.NetLab`), and kills (SIGKILL), pauses (SIGSTOP), resumes (SIGCONT) and
restarts them with the same data. It answers what the fault injectors and the checker ask of a
cluster: who leads each partition, whether a broker reports itself healthy, whether the whole
cluster has converged (every broker alive in every view, one leader per partition, every replica
healthy), and which broker processes exited without being told to.

Each broker's wall clock carries the offset in its own file (the broker's test hook,
:mod:`trio_zeebe.wallclock`), zero unless a clock fault sets it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import tomli_w
import trio

from ... import wallclock as clock_offset
from ...client import Client, ClientError, Topology
from ...devcluster import describe_exit, free_ports
from ..processes import FAST_MEMBERSHIP, FAST_RAFT, repo_root, terminate

CLUSTER_NAME = "chaos"
GATEWAY_PORT, INTERNAL_PORT, MONITORING_PORT = 26500, 26502, 9600
ELECTION_TIMEOUT = 1.0  # FAST_RAFT's; the pause fault outlasts it

BROKER_ENV = {
    **FAST_MEMBERSHIP,
    **FAST_RAFT,
    # Small segments and frequent snapshots: compaction and snapshot installs happen in a
    # short run, and the log fits a small file system.
    "TRIO_ZEEBE_BROKER_DATA__LOG_SEGMENT_SIZE": "1MB",
    "TRIO_ZEEBE_BROKER_DATA__SNAPSHOT_ENTRIES": "2000",
    "TRIO_ZEEBE_BROKER_DATA__SNAPSHOT_PERIOD": "30s",
    # The disk space watch, sized for the 256MB file systems of the disk fault (runner.py):
    # below 16MB free (the fault leaves none) the broker reports unhealthy within a second
    # and refuses new commands; a partition that failed on a full disk comes back once 8MB
    # are free again. Zeebe's defaults (2GB, 1GB) would refuse everything from the start.
    "TRIO_ZEEBE_BROKER_DATA__DISK__MONITORING_INTERVAL": "1s",
    "TRIO_ZEEBE_BROKER_DATA__DISK__FREE_SPACE_PROCESSING": "16MB",
    "TRIO_ZEEBE_BROKER_DATA__DISK__FREE_SPACE_REPLICATION": "8MB",
}


@attrs.frozen
class Node:
    node_id: int
    host: str
    gateway_port: int
    internal_port: int
    monitoring_port: int
    config: Path
    data_dir: Path
    clock_file: Path
    log: Path

    @property
    def gateway(self) -> str:
        return f"{self.host}:{self.gateway_port}"

    @property
    def internal(self) -> str:
        return f"{self.host}:{self.internal_port}"


@attrs.frozen
class PartitionView:
    """One broker's own report of one of its partitions."""

    node_id: int
    partition_id: int
    role: str
    term: int
    health: str


class ChaosCluster:
    """``size`` brokers under ``directory``; ``hosts[i]`` is broker i's address (its namespace's
    or 127.0.0.1) and ``prefix[i]`` the command that runs a process there (``ip netns exec``)."""

    def __init__(
        self,
        directory: Path,
        *,
        size: int,
        partitions: int,
        replication_factor: int,
        hosts: Sequence[str] | None = None,
        prefixes: Sequence[Sequence[str]] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.size = size
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.prefixes = [list(p) for p in prefixes] if prefixes else [[] for _ in range(size)]
        self.env = {**BROKER_ENV, **(env or {})}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.down: set[int] = set()  # killed on purpose, not restarted yet
        self.paused: set[int] = set()
        self.reported_exits: set[int] = set()
        directory.mkdir(parents=True, exist_ok=True)
        if hosts is None:
            ports = free_ports(3 * size)
            self.nodes = [
                self._node(i, "127.0.0.1", ports[3 * i + 1], ports[3 * i], ports[3 * i + 2])
                for i in range(size)
            ]
        else:
            self.nodes = [
                self._node(i, h, GATEWAY_PORT, INTERNAL_PORT, MONITORING_PORT)
                for i, h in enumerate(hosts)
            ]
        self.ca = directory / "certs" / "ca.pem"

    def _node(self, i: int, host: str, gateway: int, internal: int, monitoring: int) -> Node:
        d = self.directory
        return Node(
            i,
            host,
            gateway,
            internal,
            monitoring,
            d / f"broker-{i}.toml",
            d / "data" / f"broker-{i}",
            d / f"clock-{i}.offset",
            d / f"broker-{i}.log",
        )

    # -- setup ------------------------------------------------------------------------------

    def write_configs(self) -> None:
        """Certificates naming every broker address, and one config per broker."""
        from ...transport.tls import write_dev_certs

        write_dev_certs(self.directory / "certs", self.size, sorted({n.host for n in self.nodes}))
        contact_points = [n.internal for n in self.nodes]
        for n in self.nodes:
            config: dict[str, Any] = {
                "cluster": {
                    "node_id": n.node_id,
                    "cluster_size": self.size,
                    "partitions_count": self.partitions,
                    "replication_factor": self.replication_factor,
                    "cluster_name": CLUSTER_NAME,
                    "initial_contact_points": contact_points,
                },
                "network": {
                    "host": n.host,
                    "internal_api": {"port": n.internal_port},
                    "gateway": {"port": n.gateway_port},
                    "monitoring": {"port": n.monitoring_port},
                },
                "data": {"directory": str(n.data_dir)},
                "security": {
                    "enabled": True,
                    "certificate_authority": "certs/ca.pem",
                    "certificate_chain": f"certs/node-{n.node_id}.pem",
                    "private_key": f"certs/node-{n.node_id}.key",
                    "gateway": {"enabled": True},
                },
            }
            n.config.write_text(
                f"# chaos broker {n.node_id} of {self.size} (generated)\n" + tomli_w.dumps(config),
                encoding="utf-8",
            )
            clock_offset.write_offset(n.clock_file, 0.0)

    # -- processes ------------------------------------------------------------------------

    def start(self, i: int) -> None:
        node = self.nodes[i]
        self.down.discard(i)
        self.paused.discard(i)
        self.reported_exits.discard(i)
        node.data_dir.mkdir(parents=True, exist_ok=True)
        with node.log.open("ab") as log:
            self.procs[i] = subprocess.Popen(
                [
                    *self.prefixes[i],
                    sys.executable,
                    "-m",
                    "trio_zeebe",
                    "node",
                    "--config",
                    str(node.config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "PYTHONUNBUFFERED": "1",
                    clock_offset.ENV_VAR: str(node.clock_file),
                    **self.env,
                },
                cwd=repo_root(),
            )

    def kill(self, i: int) -> None:
        """SIGKILL (a paused broker dies too): no goodbye, no final write."""
        self.down.add(i)
        self.paused.discard(i)
        proc = self.procs.get(i)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def pause(self, i: int) -> None:
        proc = self.procs.get(i)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            self.paused.add(i)

    def resume(self, i: int) -> None:
        proc = self.procs.get(i)
        if i in self.paused and proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
        self.paused.discard(i)

    def running(self) -> list[int]:
        """Brokers whose process runs and is not paused."""
        return [
            i
            for i, p in sorted(self.procs.items())
            if p.poll() is None and i not in self.paused and i not in self.down
        ]

    def new_exits(self) -> list[tuple[int, str]]:
        """Brokers that exited on their own since the last call (not killed by us)."""
        found = []
        for i, proc in sorted(self.procs.items()):
            code = proc.poll()
            if code is not None and i not in self.down and i not in self.reported_exits:
                self.reported_exits.add(i)
                found.append((i, describe_exit(code)))
        return found

    def log_tail(self, i: int, lines: int = 20) -> list[str]:
        try:
            text = self.nodes[i].log.read_text(errors="replace")
        except OSError:
            return []
        return text.strip().splitlines()[-lines:]

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGCONT, then SIGTERM (graceful), SIGKILL after ``timeout``."""
        for i in list(self.paused):
            self.resume(i)
        terminate(self.procs.values(), timeout)

    def set_clock_offset(self, i: int, seconds: float) -> None:
        clock_offset.write_offset(self.nodes[i].clock_file, seconds)

    # -- views ----------------------------------------------------------------------------

    def client(self, first: int = 0, *, request_timeout: float = 5.0) -> Client:
        """A client knowing every gateway, trying broker ``first``'s first."""
        order = [n.gateway for n in self.nodes[first:] + self.nodes[:first]]
        return Client(order, ca=str(self.ca), connect_timeout=1.0, request_timeout=request_timeout)

    async def topology(self, i: int) -> Topology | None:
        """The topology as broker ``i`` sees it; None while it does not answer."""
        try:
            async with Client(
                [self.nodes[i].gateway], ca=str(self.ca), connect_timeout=1, request_timeout=1
            ) as client:
                return await client.topology()
        except ClientError:
            return None

    async def own_views(self, i: int) -> list[PartitionView] | None:
        """Broker ``i``'s report of its own partitions; None while it does not answer."""
        topology = await self.topology(i)
        if topology is None:
            return None
        return [
            PartitionView(b.node_id, p.partition_id, p.role, p.term, p.health)
            for b in topology.brokers
            if b.node_id == i
            for p in b.partitions
        ]

    async def leaders(self) -> dict[int, int]:
        """partition -> the leader with the highest term among the brokers' own reports."""
        best: dict[int, tuple[int, int]] = {}
        for i in self.running():
            for view in await self.own_views(i) or []:
                if view.role == "leader" and view.term > best.get(view.partition_id, (-1, 0))[0]:
                    best[view.partition_id] = (view.term, i)
        return {pid: node for pid, (_, node) in best.items()}

    async def replicas(self) -> dict[int, list[int]]:
        """partition -> brokers holding a replica (from the brokers' own reports)."""
        out: dict[int, list[int]] = {}
        for i in self.running():
            for view in await self.own_views(i) or []:
                out.setdefault(view.partition_id, []).append(i)
        return out

    async def health(self, i: int) -> int | None:
        """Broker ``i``'s ``/health`` status code (204 or 503); None when it does not answer."""
        node = self.nodes[i]
        return await http_status(node.host, node.monitoring_port, "/health")

    async def convergence_problem(self) -> str | None:
        """What keeps the cluster from having converged, or None when it has: every broker runs,
        sees every other alive, reports all its partitions healthy, answers /health 204, and
        every partition has exactly one leader and ``replication_factor`` replicas."""
        if len(self.running()) < self.size:
            return f"brokers running: {self.running()}"
        roles: dict[int, list[PartitionView]] = {}
        for i in range(self.size):
            topology = await self.topology(i)
            if topology is None:
                return f"broker {i} does not answer"
            states = {b.node_id: b.state for b in topology.brokers}
            if any(states.get(j) != "alive" for j in range(self.size)):
                return f"broker {i} sees {states}"
            for b in topology.brokers:
                if b.node_id == i:
                    for p in b.partitions:
                        view = PartitionView(i, p.partition_id, p.role, p.term, p.health)
                        roles.setdefault(p.partition_id, []).append(view)
            status = await self.health(i)
            if status != 204:
                return f"broker {i} /health answers {status}"
        for pid in range(1, self.partitions + 1):
            views = roles.get(pid, [])
            leaders = [v.node_id for v in views if v.role == "leader"]
            unhealthy = [v.node_id for v in views if v.health != "healthy"]
            if len(leaders) != 1:
                return f"partition {pid} has leaders {leaders}"
            if len(views) != self.replication_factor or unhealthy:
                return (
                    f"partition {pid}: replicas {[v.node_id for v in views]}, unhealthy {unhealthy}"
                )
        return None


async def http_status(host: str, port: int, path: str, timeout: float = 2.0) -> int | None:  # noqa: ASYNC109
    """The status code of ``GET path`` (HTTP/1.0), or None when there is no answer in time."""
    with trio.move_on_after(timeout):
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError:
            return None
        async with stream:
            try:
                await stream.send_all(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                head = b""
                while b"\r\n" not in head and len(head) < 4096:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        break
                    head += chunk
            except (OSError, trio.BrokenResourceError):
                return None
        parts = head.split(b" ", 2)
        if len(parts) >= 2 and parts[1].isdigit():
            return int(parts[1])
    return None
