"""Waking long-polling ActivateJobs requests as soon as a matching job appears on any partition.

Leaders tell every gateway (every broker) which job types just became activatable, in a one-way
:class:`JobsAvailable` message sent from the processor's ``on_jobs_available`` listeners (a state
machine with the :class:`~trio_zeebe.processing.sideeffects.JobNotices` capability); a gateway
wakes every activation waiting for one of those types, and each woken request tries activation
again. A waiting request sleeps on an event until a notice, its probe interval (a notice can be
lost with a connection) or its own deadline.

A replica that just became the serving leader announces "anything" (``types`` None on the
wire: every waiter retries), so a request that could not reach the old leader learns about jobs
the new one can hand out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import attrs
import trio

from ..codec import wire
from ..partitions.manager import PartitionManager
from ..transport.api import Network, Peer

log = logging.getLogger("trio_zeebe.gateway.longpoll")

COALESCE = 0.005  # seconds between two broadcasts for one partition


@wire("g.jobs!")
@attrs.frozen
class JobsAvailable:
    """Leader to gateways: jobs of these types became activatable on ``partition``; None: a
    new leader, any type may have jobs."""

    partition: int
    types: tuple[str, ...] | None


class Waiters:
    """Activation requests waiting for a job type, each an event set on a notice."""

    def __init__(self) -> None:
        self._by_type: dict[str, set[trio.Event]] = {}
        self.notices = 0

    def register(self, job_type: str) -> trio.Event:
        event = trio.Event()
        self._by_type.setdefault(job_type, set()).add(event)
        return event

    def unregister(self, job_type: str, event: trio.Event) -> None:
        events = self._by_type.get(job_type)
        if events is not None:
            events.discard(event)
            if not events:
                del self._by_type[job_type]

    def wake(self, types: Iterable[str] | None) -> None:
        self.notices += 1
        if types is None:
            waiting, self._by_type = self._by_type, {}
            for events in waiting.values():
                for event in events:
                    event.set()
            return
        for job_type in types:
            for event in self._by_type.pop(job_type, ()):
                event.set()

    def waiting(self, job_type: str | None = None) -> int:
        if job_type is not None:
            return len(self._by_type.get(job_type, ()))
        return sum(len(v) for v in self._by_type.values())

    async def on_notice(self, peer: Peer, message: JobsAvailable) -> None:
        self.wake(message.types)


class Announcer:
    """Listens to every local processor: after each applied entry, the serving leader wakes
    local waiters at once and broadcasts the job types that became activatable to every other
    broker it knows, coalesced to one message per partition per :data:`COALESCE` seconds."""

    def __init__(self, partitions: PartitionManager, network: Network, waiters: Waiters) -> None:
        self.partitions = partitions
        self.network = network
        self.waiters = waiters
        self.sent = 0
        self._pending: dict[int, set[str] | None] = {}
        self._flush: dict[int, trio.Event] = {}
        self.listeners: list[Callable[[int, set[str] | None], None]] = []
        """Also told (e.g. the job pusher), with the partition id."""

    def partition_started(self, pid: int, nursery: trio.Nursery) -> None:
        processor = self.partitions.processor(pid)
        if processor is None:
            return
        processor.on_jobs_available.append(lambda types: self.announce(pid, types))
        self._flush[pid] = trio.Event()
        nursery.start_soon(self._broadcaster, pid)

    def announce(self, pid: int, types: set[str] | None) -> None:
        self.waiters.wake(types)
        for listener in self.listeners:
            listener(pid, types)
        if types is None or (pid in self._pending and self._pending[pid] is None):
            self._pending[pid] = None
        else:
            self._pending.setdefault(pid, set()).update(types)  # type: ignore[union-attr]
        event = self._flush.get(pid)
        if event is not None:
            event.set()

    async def _broadcaster(self, pid: int) -> None:
        while True:
            await self._flush[pid].wait()
            self._flush[pid] = trio.Event()
            if pid in self._pending:
                types = self._pending.pop(pid)
                message = JobsAvailable(pid, None if types is None else tuple(sorted(types)))
                me = self.partitions.node_id
                for node, address in list(self.partitions.addresses.items()):
                    if node != me:
                        self.network.send(address, message)
                        self.sent += 1
            await trio.sleep(COALESCE)
