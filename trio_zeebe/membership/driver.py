"""Trio driver of the SWIM core: feeds it messages and ticks, sends what it says, fans out events.

The driver owns no protocol logic. Incoming SWIM messages are stepped straight into the core by
the transport's handler; one ticker task sleeps until the core's next deadline (the deadline is
moved earlier whenever a step makes the core want to act sooner). Events go to subscribers over
bounded memory channels; a subscriber that falls behind loses events (counted and logged) rather
than stalling failure detection for everyone. The known members are persisted through
:class:`TopologyStore` whenever they change, and read back at start as extra contact points.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import trio

from ..transport.api import Network, Peer
from .core import SwimCore
from .events import Event, MemberAdded, MemberRemoved
from .messages import Ack, Gossip, Member, Nack, Ping, PingReq, Sync, SyncReply
from .topology_store import PersistedTopology, TopologyStore

log = logging.getLogger("trio_zeebe.membership")

SWIM_MESSAGES = (Ping, PingReq, Ack, Nack, Gossip, Sync, SyncReply)
SUBSCRIBER_BUFFER = 1024


class MembershipService:
    def __init__(
        self,
        core: SwimCore,
        network: Network,
        *,
        cluster_name: str,
        contact_points: Iterable[str] = (),
        store: TopologyStore | None = None,
    ) -> None:
        self.core = core
        self.network = network
        self.cluster_name = cluster_name
        self.contact_points = [a for a in contact_points if a != core.local.address]
        self.store = store
        self.dropped_events = 0
        self._subscribers: list[trio.MemorySendChannel[Event]] = []
        self._sleep: trio.CancelScope | None = None
        self._topology_dirty = trio.Event()
        # Every member ever seen (latest address per node id). A dead member stays: it is still
        # a cluster member that will come back, and a useful contact point after a restart.
        self._known: dict[int, str] = {core.local.node_id: core.local.address}
        for message_type in SWIM_MESSAGES:
            network.on(message_type, self._on_message)

    # -- public -------------------------------------------------------------------------

    def subscribe(self, buffer: int = SUBSCRIBER_BUFFER) -> trio.MemoryReceiveChannel[Event]:
        send, receive = trio.open_memory_channel[Event](buffer)
        self._subscribers.append(send)
        return receive

    def members(self) -> dict[int, Member]:
        return self.core.members()

    def known(self) -> dict[int, str]:
        """node id -> address of every member ever seen (dead ones included)."""
        return dict(sorted(self._known.items()))

    def set_properties(self, properties: Mapping[str, str]) -> None:
        self.core.set_properties(properties)
        self._after_input()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        contacts = list(self.contact_points)
        if self.store is not None:
            persisted = self.store.load()
            if persisted is not None and persisted.cluster_name == self.cluster_name:
                self._known.update({n: a for n, a in persisted.members if n not in self._known})
                known = [a for _, a in persisted.members if a != self.core.local.address]
                contacts += [a for a in known if a not in contacts]
                log.info("loaded persisted topology: %d other member(s)", len(known))
            elif persisted is not None:
                log.warning(
                    "ignoring persisted topology of cluster %r (this is %r)",
                    persisted.cluster_name,
                    self.cluster_name,
                )
        self.core.join(contacts)
        self._flush()
        self._topology_dirty.set()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._ticker)
            if self.store is not None:
                nursery.start_soon(self._persister)
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                for send in self._subscribers:
                    send.close()

    # -- internals ----------------------------------------------------------------------

    async def _on_message(self, peer: Peer, message: Any) -> None:
        self.core.step(message, trio.current_time())
        self._after_input()

    def _after_input(self) -> None:
        self._flush()
        if self._sleep is not None:
            self._sleep.deadline = min(self._sleep.deadline, self.core.next_deadline())

    async def _ticker(self) -> None:
        while True:
            deadline = self.core.next_deadline()
            if not math.isfinite(deadline):
                deadline = trio.current_time() + 1.0
            with trio.CancelScope(deadline=deadline) as scope:
                self._sleep = scope
                await trio.sleep_forever()
            self._sleep = None
            self.core.tick(trio.current_time())
            self._flush()

    def _flush(self) -> None:
        outputs = self.core.take_outputs()
        for send in outputs.sends:
            self.network.send(send.address, send.message)
        for event in outputs.events:
            if isinstance(event, MemberAdded | MemberRemoved):
                log.info(
                    "%s: node %d at %s",
                    type(event).__name__,
                    event.member.node_id,
                    event.member.address,
                )
                self._topology_dirty.set()
            self._publish(event)

    def _publish(self, event: Event) -> None:
        for send in self._subscribers:
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                self.dropped_events += 1
                if self.dropped_events & (self.dropped_events - 1) == 0:  # log at powers of two
                    log.warning(
                        "membership subscriber is behind: %d events dropped", self.dropped_events
                    )
            except trio.BrokenResourceError:
                pass
        self._subscribers = [s for s in self._subscribers if not _closed(s)]

    async def _persister(self) -> None:
        assert self.store is not None
        while True:
            await self._topology_dirty.wait()
            self._topology_dirty = trio.Event()
            members = sorted(self._known.items())
            await self.store.save(PersistedTopology(self.cluster_name, tuple(members)))


def _closed(channel: trio.MemorySendChannel[Event]) -> bool:
    return channel.statistics().open_receive_channels == 0
