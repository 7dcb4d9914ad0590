"""A whole cluster of real :class:`~trio_zeebe.broker.Broker` objects in one process.

Each broker gets a :class:`SimDisk` and a :class:`SimNetwork` endpoint instead of files and
sockets, and no client listeners; everything else (membership, partitions, Raft drivers) is the
production code. Run under ``trio.testing.MockClock(autojump_threshold=0)``; one seed decides
every random choice, including trio's scheduling order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import trio

from ..broker import Broker
from ..config import BrokerConfig, config_from_dict
from ..engine.statemachine import StateMachine
from ..raft.ready import Role
from ..transport.api import Peer
from .disk import SimDisk, SimDiskProcess, contain_dead_process_errors
from .raft_group import SimNodes


def sim_config(
    node_id: int,
    brokers: int,
    partitions: int,
    replication_factor: int,
    overrides: dict[str, Any] | None = None,
) -> BrokerConfig:
    cluster: dict[str, Any] = {
        "node_id": node_id,
        "cluster_size": brokers,
        "partitions_count": partitions,
        "replication_factor": replication_factor,
        "cluster_name": "sim",
        "initial_contact_points": [f"broker-{i}:26502" for i in range(brokers)],
    }
    raw: dict[str, Any] = {
        "cluster": cluster,
        "network": {"host": f"broker-{node_id}"},
        "data": {"directory": f"/data/broker-{node_id}", "log_segment_size": "1MB"},
        "security": {"enabled": False, "gateway": {"enabled": False}},
    }
    for section, values in (overrides or {}).items():
        target = raw.setdefault(section, {})
        for key, value in values.items():
            if isinstance(value, dict):
                target.setdefault(key, {}).update(value)
            else:
                target[key] = value
    return config_from_dict(raw)


class SimCluster(SimNodes):
    """``brokers`` real :class:`Broker` objects on one :class:`SimNetwork`, each with its own
    :class:`SimDisk`; ``crash``/``start``/``partition`` are the faults, ``leaders`` the view."""

    def __init__(
        self,
        seed: int,
        brokers: int = 3,
        partitions: int = 3,
        replication_factor: int = 3,
        *,
        overrides: dict[str, Any] | None = None,
        state_machine: Callable[[int], StateMachine] | None = None,
    ) -> None:
        super().__init__(seed, brokers)
        self.state_machine = state_machine
        self.configs = {
            i: sim_config(i, brokers, partitions, replication_factor, overrides)
            for i in range(brokers)
        }
        self.disks = {i: SimDisk() for i in range(brokers)}
        self.brokers: dict[int, Broker] = {}
        self.starts = 0
        self._processes: dict[int, SimDiskProcess] = {}  # each broker's view of its disk

    def address(self, node: int) -> str:
        return self.configs[node].internal_address

    async def _run_node(self, node: int, task_status: trio.TaskStatus[None]) -> None:
        self.starts += 1
        process = self._processes[node] = self.disks[node].process()
        # A crashed broker's tasks unwind after the crash (trio cancels them at their next
        # checkpoint): what its disk calls raise meanwhile is no error of the run.
        with contain_dead_process_errors(process):
            endpoint = self.net.endpoint(Peer(node, self.address(node)))
            broker = Broker(
                self.configs[node],
                disk=process,
                network=endpoint,
                serve_clients=False,
                rng=random.Random(self.rng.getrandbits(64)),
                # Monotonic across restarts, like the wall clock a real broker uses.
                incarnation=self.starts * 1_000_000,
                state_machine=self.state_machine,
                clock=trio.current_time,
            )
            self.brokers[node] = broker
            async with trio.open_nursery() as nursery:
                await nursery.start(broker.run)
                task_status.started()

    def crash(self, node: int, *, power_loss: bool = True) -> None:
        """Kill the broker at once: from now on nothing it still runs reaches its disk or the
        network; with ``power_loss`` its disk also loses what was not synced."""
        self._processes[node].kill()
        self._kill(node)
        # A killed process loses its data-directory lock at once, before its tasks unwind.
        self.disks[node].release_locks()
        if power_loss:
            self.disks[node].crash(random.Random(self.rng.getrandbits(64)), tear=True)

    async def stop_gracefully(self, node: int) -> None:
        await self.brokers[node].shutdown()
        self.crash(node, power_loss=False)

    # -- queries --------------------------------------------------------------------------

    def leaders(self) -> dict[int, int]:
        """partition id -> node id of its current leader (highest term wins), running nodes."""
        best: dict[int, tuple[int, int]] = {}
        for node in self.running:
            manager = self.brokers[node].partitions
            if manager is None:
                continue
            for pid, part in manager.local.items():
                driver = part.driver
                if driver is None or driver.soft_state.role is not Role.LEADER:
                    continue
                term = driver.soft_state.term
                if pid not in best or term > best[pid][0]:
                    best[pid] = (term, node)
        return {pid: node for pid, (_, node) in sorted(best.items())}

    def leader_counts(self) -> dict[int, int]:
        counts = {node: 0 for node in self.running}
        for node in self.leaders().values():
            counts[node] = counts.get(node, 0) + 1
        return counts
