"""This node's Raft role as the rest of the broker sees it, and who is told when it changes.

The driver's loop announces every :class:`SoftState` the core reports; :class:`Leadership`
keeps the latest one (what ``driver.soft_state`` answers), logs changes of role or leader and
passes them to the ``watch_roles`` channels. It also holds the graceful hand-over's rules:
which follower to hand over to, and when the hand-over is done.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import trio

from ..progress import Progress
from ..ready import Role, SoftState

log = logging.getLogger("trio_zeebe.raft")


class Leadership:
    """The latest role, leader and term of this node in one partition, and its watchers."""

    def __init__(self, partition: int, node_id: int) -> None:
        self.partition = partition
        self.node_id = node_id
        self.soft_state = SoftState(Role.FOLLOWER, None, 0)
        self._watchers: list[trio.MemorySendChannel[SoftState]] = []

    @property
    def is_leader(self) -> bool:
        return self.soft_state.role is Role.LEADER

    @property
    def led_elsewhere(self) -> bool:
        """Another node is known to lead (clients can be sent there)."""
        return self.soft_state.leader not in (None, self.node_id)

    def watch(self, buffer: int = 64) -> trio.MemoryReceiveChannel[SoftState]:
        send, receive = trio.open_memory_channel[SoftState](buffer)
        self._watchers.append(send)
        return receive

    def announce(self, soft: SoftState) -> bool:
        """The core's new soft state; True if this node just stopped leading."""
        previous = self.soft_state
        self.soft_state = soft
        if soft.role is not previous.role or soft.leader != previous.leader:
            log.info(
                "partition %d: node %d is %s in term %d (leader %s)",
                self.partition,
                self.node_id,
                soft.role.value,
                soft.term,
                soft.leader,
            )
        alive = []
        for watcher in self._watchers:
            try:
                watcher.send_nowait(soft)
            except trio.WouldBlock:
                pass  # a watcher that does not keep up misses intermediate states
            except trio.BrokenResourceError:
                continue
            alive.append(watcher)
        self._watchers = alive
        return previous.role is Role.LEADER and soft.role is not Role.LEADER

    def stopped(self) -> None:
        """The driver stopped: it leads nothing, whatever its core last said."""
        self.soft_state = SoftState(Role.FOLLOWER, None, self.soft_state.term)
        for watcher in self._watchers:
            watcher.close()

    @staticmethod
    def successor(progress: Mapping[int, Progress]) -> int | None:
        """The follower to hand over to: the most up to date (lowest id among equals)."""
        if not progress:
            return None
        return min(progress.items(), key=lambda kv: (-kv[1].match, kv[0]))[0]

    async def wait_for_successor(self) -> None:
        """Until another node is known to lead."""
        watcher = self.watch()
        async with watcher:
            while not self.led_elsewhere:
                await watcher.receive()
