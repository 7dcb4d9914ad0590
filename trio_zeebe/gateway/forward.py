"""Running a job command on a partition's leader, locally or forwarded from another broker.

Every gateway routes a command to the broker leading its partition. That broker runs it through
:meth:`PartitionProcessor.submit` behind a per-partition in-flight bound (back-pressure), and
turns every refusal into a :class:`ForwardReply` status, so the sending gateway can tell "not
proposed, safe to retry elsewhere" (not leader, still catching up, back-pressure) from "outcome
unknown" (leadership lost while the command was pending).
"""

from __future__ import annotations

import logging
from enum import StrEnum

import attrs

from ..codec import wire
from ..partitions.manager import PartitionManager
from ..processing.processor import NotServing
from ..raft.applied import LeadershipLost
from ..raft.config import Backpressure, NotLeader, ProposalDropped
from ..transport.api import Peer

log = logging.getLogger("trio_zeebe.gateway.forward")


class Status(StrEnum):
    OK = "ok"
    NOT_LEADER = "not_leader"  # not proposed; ``leader`` is the replica's hint
    NOT_SERVING = "not_serving"  # leads but still applying its backlog; not proposed
    DROPPED = "dropped"  # refused before proposing (e.g. leadership transfer); not proposed
    BACKPRESSURE = "backpressure"  # Raft's uncommitted tail or our in-flight bound is full
    LOST = "lost"  # leadership lost while pending: the command may or may not have been applied
    NO_PARTITION = "no_partition"  # this broker has no replica of the partition


RETRY_ELSEWHERE = frozenset({Status.NOT_LEADER, Status.NOT_SERVING, Status.DROPPED})
"""Refusals that guarantee the command was not proposed."""


@wire("g.fwd?")
@attrs.frozen
class ForwardCommand:
    """Broker to broker: run ``command`` (an encoded engine record) on ``partition``."""

    partition: int
    command: bytes


@wire("g.fwd")
@attrs.frozen
class ForwardReply:
    status: str
    result: bytes = b""  # the state machine's answer when status is "ok"
    leader: int | None = None
    message: str = ""


class LeaderExecutor:
    """Runs commands on this broker's partition leaders with a bound on those in flight."""

    def __init__(self, partitions: PartitionManager, max_inflight: int) -> None:
        self.partitions = partitions
        self.max_inflight = max_inflight
        self.inflight: dict[int, int] = {}
        self.refused = 0

    async def on_forward(self, peer: Peer, message: ForwardCommand) -> ForwardReply:
        return await self.execute(message.partition, message.command)

    async def execute(self, pid: int, command: bytes) -> ForwardReply:
        processor = self.partitions.processor(pid)
        node = self.partitions.node_id
        if processor is None:
            return ForwardReply(
                Status.NO_PARTITION, message=f"partition {pid} is not on node {node}"
            )
        count = self.inflight.get(pid, 0)
        if count >= self.max_inflight:
            self.refused += 1
            return ForwardReply(
                Status.BACKPRESSURE,
                message=f"partition {pid} has {count} requests in flight at node {node} "
                f"(network.max_inflight_per_partition = {self.max_inflight})",
            )
        self.inflight[pid] = count + 1
        try:
            result = await processor.submit(command)
        except NotServing:
            return ForwardReply(
                Status.NOT_SERVING, message=f"partition {pid}: leader {node} is catching up"
            )
        except NotLeader as exc:
            return ForwardReply(
                Status.NOT_LEADER,
                leader=exc.leader,
                message=f"node {node} does not lead partition {pid} (leader: {exc.leader})",
            )
        except LeadershipLost as exc:
            return ForwardReply(Status.LOST, message=str(exc))
        except Backpressure as exc:
            return ForwardReply(Status.BACKPRESSURE, message=f"partition {pid}: {exc}")
        except ProposalDropped as exc:
            return ForwardReply(Status.DROPPED, message=f"partition {pid}: {exc}")
        finally:
            left = self.inflight[pid] - 1
            if left:
                self.inflight[pid] = left
            else:
                del self.inflight[pid]
        return ForwardReply(Status.OK, result)
