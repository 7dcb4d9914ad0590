"""Trio driver of the SWIM core: feeds it messages and ticks, sends what it says, fans out events.

The driver owns no protocol logic. Incoming SWIM messages are stepped straight into the core by
the transport's handler; one ticker task sleeps until the core's next deadline (the deadline is
moved earlier whenever a step makes the core want to act sooner). Events go to subscribers over
bounded memory channels; a subscriber that falls behind loses events (counted and logged) rather
than stalling failure detection for everyone. Every member ever seen is persisted through
:class:`TopologyStore` whenever that set changes, and read back at start as extra contact points,
so a broker whose configured contact points are all down still finds its cluster.
"""

from __future__ import annotations

import logging
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
# A failed topology write is retried (the disk may come back); the next change retries too.
PERSIST_RETRY = 1.0
# On shutdown a pending topology change gets this long to reach the disk.
FINAL_SAVE_TIMEOUT = 2.0


class MembershipService:
    """Runs a :class:`SwimCore` on a :class:`Network` (see the module docstring).

    Owns the core (only the transport's message handler and the ticker task step it), the
    subscribers' channels, the set of members ever seen and its persisting task. ``run`` is its
    whole lifetime; :meth:`leave` announces a graceful departure.
    """

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
        self._stopped = False
        self._extra: dict[str, Any] = {}
        # Every member ever seen (latest address per node id). A dead member stays: it is still
        # a cluster member that will come back, and a useful contact point after a restart.
        self._known: dict[int, str] = {core.local.node_id: core.local.address}
        for message_type in SWIM_MESSAGES:
            network.on(message_type, self._on_message)

    # -- public -------------------------------------------------------------------------

    def subscribe(self, buffer: int = SUBSCRIBER_BUFFER) -> trio.MemoryReceiveChannel[Event]:
        """Events from now on; the channel ends (EndOfChannel) when the service stops."""
        send, receive = trio.open_memory_channel[Event](buffer)
        if self._stopped:
            send.close()
        else:
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

    def leave(self) -> None:
        """Tell every member we are leaving (they drop us at once) and stop probing."""
        self.core.leave()
        self._after_input()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        contacts = list(self.contact_points)
        if self.store is not None:
            contacts += [a for a in self._load_persisted() if a not in contacts]
        self.core.join(contacts)
        self._flush()
        self._topology_dirty.set()
        try:
            async with trio.open_nursery() as nursery:
                if self.store is not None:
                    nursery.start_soon(self._persister)
                task_status.started()
                await self._ticker()  # returns once the core has left the cluster
                nursery.cancel_scope.cancel()
        finally:
            # Late deliveries (the transport may outlive us) must not reach a stopped core.
            self._stopped = True
            self._sleep = None
            for send in self._subscribers:
                send.close()
            self._subscribers = []

    # -- internals ----------------------------------------------------------------------

    def _load_persisted(self) -> list[str]:
        assert self.store is not None
        persisted = self.store.load()
        if persisted is None:
            return []
        if persisted.cluster_name != self.cluster_name:
            log.warning(
                "ignoring persisted topology of cluster %r (this is %r)",
                persisted.cluster_name,
                self.cluster_name,
            )
            return []
        me = self.core.local.node_id
        # Our own old entry is skipped: its address may have changed (ephemeral ports).
        others = [(n, a) for n, a in persisted.members if n != me]
        for node_id, address in others:
            self._known.setdefault(node_id, address)
        self._extra = dict(persisted.extra)
        log.info("loaded persisted topology: %d other member(s)", len(others))
        return [a for _, a in others if a != self.core.local.address]

    async def _on_message(self, peer: Peer, message: Any) -> None:
        if self._stopped:
            return
        self.core.step(message, trio.current_time())
        self._after_input()

    def _after_input(self) -> None:
        self._flush()
        sleep = self._sleep
        if sleep is not None:
            sleep.deadline = min(sleep.deadline, self.core.next_deadline())

    async def _ticker(self) -> None:
        while not self.core.has_left:
            with trio.CancelScope(deadline=self.core.next_deadline()) as scope:
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
                member = event.member
                log.info("%s: node %d at %s", type(event).__name__, member.node_id, member.address)
                if self._known.get(member.node_id) != member.address:
                    self._known[member.node_id] = member.address
                    self._topology_dirty.set()
            self._publish(event)

    def _publish(self, event: Event) -> None:
        closed = False
        for send in self._subscribers:
            try:
                send.send_nowait(event)
            except trio.WouldBlock:
                self.dropped_events += 1
                if self.dropped_events & (self.dropped_events - 1) == 0:  # log at powers of two
                    log.warning(
                        "membership subscriber is behind: %d events dropped", self.dropped_events
                    )
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                closed = True
        if closed:
            self._subscribers = [s for s in self._subscribers if not _closed(s)]

    def _snapshot(self) -> PersistedTopology:
        return PersistedTopology(self.cluster_name, tuple(sorted(self._known.items())), self._extra)

    async def _persister(self) -> None:
        assert self.store is not None
        try:
            while True:
                await self._topology_dirty.wait()
                self._topology_dirty = trio.Event()
                if not await self.store.save(self._snapshot()):
                    with trio.move_on_after(PERSIST_RETRY):
                        await self._topology_dirty.wait()
                    self._topology_dirty.set()
        finally:
            # Stopping with a change perhaps not on disk (save() skips an unchanged topology
            # without touching the disk): one last bounded attempt.
            with trio.CancelScope(shield=True) as final:
                final.deadline = trio.current_time() + FINAL_SAVE_TIMEOUT
                await self.store.save(self._snapshot())


def _closed(channel: trio.MemorySendChannel[Event]) -> bool:
    return channel.statistics().open_receive_channels == 0
