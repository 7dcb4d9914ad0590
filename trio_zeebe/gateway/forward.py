"""Running a command on a partition's leader, locally or forwarded from another broker.

Every gateway routes a command (a payload: the engine's command type byte and the client's
request bytes) to the broker leading its partition. That broker runs it through
:meth:`PartitionProcessor.submit_many` behind a per-partition in-flight bound (back-pressure),
and turns every refusal into a :class:`ForwardReply` status (:mod:`.refusals`), so the sending
gateway can tell "not proposed, safe to retry elsewhere" (not leader, still catching up,
back-pressure) from "outcome unknown" (leadership lost while the command was pending). The
answer bytes travel back as the state machine produced them.

Every forward carries a timeout: the leader stops waiting for an answer after it (an answer the
engine defers, CreateProcessInstanceWithResult, may never come: a terminated instance sends
none) and replies TIMEOUT, so no request outlives the gateway that asked.
"""

from __future__ import annotations

import logging

import attrs
import trio

from ..codec import wire
from ..partitions.manager import PartitionManager
from ..raft.errors import NotLeader
from ..transport.api import Peer
from .refusals import Status, refusal

log = logging.getLogger("trio_zeebe.gateway.forward")


@wire("g.fwd?")
@attrs.frozen
class ForwardCommands:
    """Broker to broker: run each ``(partition, payload)`` and answer within ``timeout`` s.

    A gateway sends the commands for one leader's broker that are waiting at the same moment
    in one request (see :class:`~.batching.ForwardBatcher`).
    """

    commands: tuple[tuple[int, bytes], ...]
    timeout: float = 15.0


@wire("g.fwd")
@attrs.frozen
class ForwardReply:
    status: str
    result: bytes = b""  # the state machine's answer bytes when status is "ok"
    leader: int | None = None
    message: str = ""


@wire("g.fwds")
@attrs.frozen
class ForwardReplies:
    replies: tuple[ForwardReply, ...]  # one per command, in order


class LeaderExecutor:
    """Runs commands on this broker's partition leaders with a bound on those in flight."""

    def __init__(self, partitions: PartitionManager, max_inflight: int) -> None:
        self.partitions = partitions
        self.max_inflight = max_inflight
        self.inflight: dict[int, int] = {}
        self.refused = 0

    async def on_forward(self, peer: Peer, message: ForwardCommands) -> ForwardReplies:
        commands = message.commands
        by_partition: dict[int, list[int]] = {}
        for i, (pid, _) in enumerate(commands):
            by_partition.setdefault(pid, []).append(i)
        replies: list[ForwardReply] = [_NOT_RUN] * len(commands)

        async def run(pid: int, positions: list[int]) -> None:
            answers = await self.execute_many(pid, [commands[i][1] for i in positions])
            for i, reply in zip(positions, answers, strict=True):
                replies[i] = reply

        with trio.move_on_after(max(0.0, message.timeout)):
            if len(by_partition) == 1:
                [(pid, positions)] = by_partition.items()
                await run(pid, positions)
            else:
                async with trio.open_nursery() as nursery:
                    for pid, positions in by_partition.items():
                        nursery.start_soon(run, pid, positions)
        return ForwardReplies(tuple(replies))

    async def execute(self, pid: int, command: bytes, timeout: float) -> ForwardReply:  # noqa: ASYNC109
        """Run one command on a local leader; TIMEOUT when no answer came within ``timeout``."""
        with trio.move_on_after(timeout):
            (reply,) = await self.execute_many(pid, [command])
            return reply
        return _TIMED_OUT

    async def execute_many(self, pid: int, commands: list[bytes]) -> list[ForwardReply]:
        """Run commands on partition ``pid`` (proposed together); a reply for each."""
        processor = self.partitions.processor(pid)
        node = self.partitions.node_id
        if processor is None:
            absent = ForwardReply(
                Status.NO_PARTITION, message=f"partition {pid} is not on node {node}"
            )
            return [absent] * len(commands)
        count = self.inflight.get(pid, 0)
        room = max(0, self.max_inflight - count)
        taken, refused = commands[:room], len(commands) - room
        busy: list[ForwardReply] = []
        if refused > 0:
            self.refused += refused
            busy = [
                ForwardReply(
                    Status.BACKPRESSURE,
                    message=f"partition {pid} has {count} requests in flight at node {node} "
                    f"(network.max_inflight_per_partition = {self.max_inflight})",
                )
            ] * refused
        if not taken:
            return busy
        self.inflight[pid] = count + len(taken)
        try:
            results = await processor.submit_many(taken)
        except NotLeader as exc:
            return [_refusal(exc, pid, node)] * len(taken) + busy
        finally:
            left = self.inflight[pid] - len(taken)
            if left:
                self.inflight[pid] = left
            else:
                del self.inflight[pid]
        replies = [
            _refusal(r, pid, node) if isinstance(r, Exception) else ForwardReply(Status.OK, r)
            for r in results
        ]
        return replies + busy


_NOT_RUN = ForwardReply(Status.TIMEOUT, message="no answer within the forward's timeout")
_TIMED_OUT = _NOT_RUN


def _refusal(exc: Exception, pid: int, node: int) -> ForwardReply:
    status, message, leader = refusal(exc, pid, node)
    return ForwardReply(status, leader=leader, message=message)
