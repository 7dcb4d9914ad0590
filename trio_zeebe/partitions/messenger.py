"""Inter-partition commands between brokers: a leader's send reaches the target's leader.

The processor of a partition leader hands each pending inter-partition command to
:meth:`PartitionMessenger.deliver` (see :mod:`trio_zeebe.processing.sideeffects`). The messenger
finds the target partition's leader (Raft's view where this broker has a replica, else the
gossiped leader table): on this broker the command goes straight to the local processor, else
it travels as :class:`InterPartitionCommand` over the peer transport. The receiving broker
proposes it to the partition's log as an INTER record (an envelope kind no client can produce)
if it leads the partition and serves; otherwise it answers "not leader" and the sender tries
again on its back-off schedule. Receivers are idempotent (the engine's contract), so a resend
after a lost answer does no harm.
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs

from ..codec import wire
from ..processing.processor import PartitionProcessor
from ..raft.errors import LeadershipLost, NotLeader, ProposalDropped
from ..transport.api import Network, Peer, TransportError

log = logging.getLogger("trio_zeebe.partitions.messenger")

DELIVER_TIMEOUT = 5.0


@wire("p.inter")
@attrs.frozen
class InterPartitionCommand:
    """Broker to broker: log ``payload`` on ``partition`` as an inter-partition record."""

    partition: int
    payload: bytes


@wire("p.inter.r")
@attrs.frozen
class InterPartitionReply:
    """``accepted``: committed and applied on the partition; else ``leader`` is the hint."""

    accepted: bool
    leader: int | None = None
    message: str = ""


class _Partitions(Protocol):
    node_id: int
    addresses: dict[int, str]

    def leader_of(self, partition_id: int) -> int | None: ...

    def processor(self, partition_id: int) -> PartitionProcessor | None: ...


class PartitionMessenger:
    """Delivers inter-partition commands for every local processor; answers other brokers'."""

    def __init__(self, partitions: _Partitions, network: Network) -> None:
        self.partitions = partitions
        self.network = network
        self.delivered = 0
        self.refused = 0
        network.on(InterPartitionCommand, self._on_command)

    async def deliver(self, partition: int, payload: bytes) -> bool:
        node = self.partitions.leader_of(partition)
        if node is None:
            return False
        if node == self.partitions.node_id:
            reply = await self._submit(partition, payload)
        else:
            address = self.partitions.addresses.get(node)
            if address is None:
                return False
            try:
                answer = await self.network.request(
                    address, InterPartitionCommand(partition, payload), timeout=DELIVER_TIMEOUT
                )
            except TransportError as exc:
                log.debug("partition %d at node %d: %s", partition, node, exc)
                return False
            if not isinstance(answer, InterPartitionReply):
                return False
            reply = answer
        if reply.accepted:
            self.delivered += 1
        else:
            self.refused += 1
            log.debug("partition %d refused an inter-partition command: %s", partition, reply)
        return reply.accepted

    async def _on_command(self, peer: Peer, message: InterPartitionCommand) -> InterPartitionReply:
        return await self._submit(message.partition, message.payload)

    async def _submit(self, partition: int, payload: bytes) -> InterPartitionReply:
        processor = self.partitions.processor(partition)
        if processor is None:
            return InterPartitionReply(False, message=f"no replica of partition {partition}")
        try:
            await processor.submit_inter(payload)
        except NotLeader as exc:
            return InterPartitionReply(False, exc.leader, "not the leader")
        except (ProposalDropped, LeadershipLost) as exc:
            return InterPartitionReply(False, message=str(exc))
        return InterPartitionReply(True)
