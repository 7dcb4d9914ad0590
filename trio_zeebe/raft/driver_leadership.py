"""Leadership controls of the Raft driver and the announcements of role changes.

A mixin of :class:`trio_zeebe.raft.driver.RaftDriver`, kept apart so the driver fits in one
reading: what membership and a graceful stop ask of this node's Raft role (campaign, forget the
leader, hand over leadership), and who is told when the role changes (failing waiting proposals
when leadership is lost, the ``watch_roles`` channels).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import trio

from .applied import LeadershipLost
from .config import Role, SoftState
from .core import RaftCore

log = logging.getLogger("trio_zeebe.raft")


class LeadershipMixin:
    # State owned and initialised by RaftDriver; declared here for the type checker only.
    partition: int
    node_id: int
    voters: tuple[int, ...]
    core: RaftCore | None
    soft_state: SoftState
    _role_watchers: list[trio.MemorySendChannel[SoftState]]

    if TYPE_CHECKING:  # defined by RaftDriver

        def _wake(self) -> None: ...

        def _fail_all(self, error: Exception) -> None: ...

    def transfer_leadership(self, to: int) -> None:
        if self.core is not None:
            self.core.transfer_leadership(to)
            self._wake()

    async def hand_over_leadership(self, within: float) -> bool:
        """Graceful stop: transfer leadership to the most up-to-date follower; True if done."""
        core = self.core
        if core is None or not self.is_leader or len(self.voters) == 1:
            return False
        progress = core.status().get("progress", {})
        candidates = sorted(progress.items(), key=lambda kv: (-kv[1]["match"], kv[0]))
        if not candidates:
            return False
        target = candidates[0][0]
        core.transfer_leadership(target)
        self._wake()
        with trio.move_on_after(within):
            watcher = self.watch_roles()
            async with watcher:
                # Done when another node is known to lead: clients can be sent there at once.
                while self.soft_state.leader in (None, self.node_id):
                    await watcher.receive()
        return self.soft_state.leader not in (None, self.node_id)

    def forget_leader(self) -> None:
        """Drop the leader lease (membership says the leader is gone), so this node votes now."""
        if self.core is not None:
            self.core.forget_leader()
            self._wake()

    def silence(self) -> float:
        """Seconds since this follower last heard from a leader."""
        return trio.current_time() - self.core.last_leader_contact if self.core else math.inf

    def campaign(self) -> None:
        """Stand for election now (e.g. membership says the leader is dead)."""
        if self.core is not None:
            self.core.campaign()
            self._wake()

    def watch_roles(self, buffer: int = 64) -> trio.MemoryReceiveChannel[SoftState]:
        send, receive = trio.open_memory_channel[SoftState](buffer)
        self._role_watchers.append(send)
        return receive

    @property
    def is_leader(self) -> bool:
        return self.soft_state.role is Role.LEADER

    def _on_soft_state(self, soft: SoftState) -> None:
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
        if previous.role is Role.LEADER and soft.role is not Role.LEADER:
            # Fail at once rather than at the client's timeout (Zeebe #42720).
            self._fail_all(LeadershipLost(f"leader stepped down (new leader: {soft.leader})"))
        alive = []
        for watcher in self._role_watchers:
            try:
                watcher.send_nowait(soft)
            except trio.WouldBlock:
                pass  # a watcher that does not keep up misses intermediate states
            except trio.BrokenResourceError:
                continue
            alive.append(watcher)
        self._role_watchers = alive
