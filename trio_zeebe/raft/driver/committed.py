"""What a partition's Raft driver hands to the layer above: committed entries and restores.

The processor reads one stream, in log order: a :class:`Restore` of the snapshot to start from
(if any), then one :class:`Committed` per committed entry, with a :class:`Restore` wherever the
leader made this node install a snapshot. Entries carry records (bytes) packed with
:func:`pack_records`; one entry usually holds many client commands.
"""

from __future__ import annotations

from collections import deque

import attrs
import trio

from ... import codec
from ..messages import NOOP, NORMAL, Entry
from ..snapshots import SnapshotInfo


def pack_records(records: list[bytes]) -> bytes:
    return codec.packb(records)


def unpack_records(data: bytes) -> list[bytes]:
    records = codec.unpackb(data)
    if not isinstance(records, list):
        raise codec.DecodeError("entry data is not a list of records")
    return records


@attrs.frozen
class Committed:
    """A committed entry, in log order; NOOP entries (a new leader's first) have no records."""

    index: int
    term: int
    records: list[bytes]
    noop: bool = False
    #: ``trio.current_time()`` when the driver learnt the commit (processing latency metrics).
    committed_at: float = 0.0


@attrs.frozen
class Restore:
    """Rebuild the state machine from this snapshot, then continue with later entries."""

    snapshot: SnapshotInfo


Applied = Committed | Restore

#: Items the channel to the consumer holds before the backlog takes over.
COMMITTED_BUFFER = 1024


class CommittedFeed:
    """The stream of :data:`Applied` items from the driver's loop to one consumer.

    The loop never waits for the consumer: items go to a backlog that :meth:`pump` (a task of
    the driver) moves into a bounded channel as the consumer takes them. Without a consumer
    (nobody called :meth:`open`) nothing is kept.
    """

    def __init__(self) -> None:
        self._send: trio.MemorySendChannel[Applied] | None = None
        self._backlog: deque[Applied] = deque()
        self._ready = trio.Event()

    def open(self, buffer: int = COMMITTED_BUFFER) -> trio.MemoryReceiveChannel[Applied]:
        send, receive = trio.open_memory_channel[Applied](buffer)
        self._send = send
        return receive

    def restore(self, snapshot: SnapshotInfo) -> None:
        if self._send is not None:
            self._backlog.append(Restore(snapshot))
            self._ready.set()

    def entries(self, entries: list[Entry]) -> None:
        """Committed entries, in order (CONFIG entries are Raft's own and not passed on)."""
        if self._send is None:
            return
        backlog = self._backlog
        now = trio.current_time()
        for entry in entries:
            if entry.kind == NORMAL:
                records = unpack_records(entry.data)
                backlog.append(Committed(entry.index, entry.term, records, committed_at=now))
            elif entry.kind == NOOP:
                backlog.append(Committed(entry.index, entry.term, [], True, committed_at=now))
        if backlog:
            self._ready.set()

    async def pump(self) -> None:
        """Moves the backlog into the channel; a consumer that went away drops the stream."""
        self._ready.set()  # whatever was queued before the pump started
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            while self._backlog and self._send is not None:
                item = self._backlog.popleft()
                try:
                    await self._send.send(item)
                except trio.BrokenResourceError:
                    self._send = None
                    self._backlog.clear()

    def close(self) -> None:
        if self._send is not None:
            self._send.close()
