"""Client proposals on their way into the log and to commit, as the Raft driver keeps them.

Proposals are records (bytes). Those waiting when the driver's loop runs are packed into as
few log entries as ``max_batch_bytes`` allows ("many commands per log entry"). Requests reach a
leader one by one, so under load a leader with :data:`PROPOSAL_WINDOW` entries awaiting commit
holds new proposals back until one commits (or a full batch is waiting) and then appends them
all as one entry: a commit round costs the same for one record as for a hundred. An idle leader
proposes at once.

The records of one :meth:`Proposals.add` call (one ``propose_many``) are never split: they go
into one entry, contiguously and in their order, even past ``max_batch_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import trio

from ..errors import LeadershipLost
from ..messages import NORMAL, Entry

PROPOSAL_WINDOW = 1
"""Uncommitted entries a leader appends before it holds new proposals back (see the module doc)."""

#: Bytes a record costs inside a packed entry on top of its own (msgpack framing, roughly).
RECORD_OVERHEAD = 5


@attrs.frozen
class Position:
    """Where a proposed record landed: entry index and its offset within the entry."""

    index: int
    offset: int


class Proposal:
    """The records of one call, waiting to be appended, then to commit; settled once."""

    __slots__ = (
        "cost",
        "done",
        "error",
        "index",
        "offset",
        "proposed_at",
        "records",
        "size",
        "term",
    )

    def __init__(self, records: Sequence[bytes]) -> None:
        self.records = records
        self.size = sum(map(len, records))
        self.cost = self.size + RECORD_OVERHEAD * len(records)  # its share of a packed entry
        self.done = trio.Event()
        self.error: Exception | None = None
        self.index = 0  # the entry it was appended as, once it was
        self.term = 0
        self.offset = 0  # of its first record within that entry
        self.proposed_at = trio.current_time()

    def positions(self) -> list[Position]:
        return [Position(self.index, self.offset + k) for k in range(len(self.records))]

    def fail(self, error: Exception) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


@attrs.define
class Batch:
    """Proposals that go into one log entry, in order."""

    proposals: list[Proposal]
    records: list[bytes]


class Proposals:
    """Proposals queued for the next append and those appended, waiting for their entry.

    Added by any task (``wake`` tells the driver's loop); taken, placed and settled by the loop
    only, which is the one to call the core.
    """

    def __init__(
        self, wake: Callable[[], None], on_commit: Callable[[float], None] | None = None
    ) -> None:
        self._wake = wake
        self._on_commit = on_commit  # seconds from a proposal to its commit (metrics)
        self.queued: list[Proposal] = []  # for reading: waiting for the next append
        self._queued_bytes = 0
        self._waiting: dict[int, list[Proposal]] = {}  # entry index -> proposals in it

    def add(self, records: Sequence[bytes]) -> Proposal:
        proposal = Proposal(records)
        self.queued.append(proposal)
        self._queued_bytes += proposal.size
        self._wake()
        return proposal

    def due(self, leading: bool, uncommitted: int, max_batch_bytes: int) -> bool:
        """Should the queue go into the log now? (Not leading: it is to be refused at once.)
        ``uncommitted``: entries appended and not yet committed."""
        if not self.queued:
            return False
        if not leading:
            return True
        return uncommitted < PROPOSAL_WINDOW or self._queued_bytes >= max_batch_bytes

    def take(self, max_batch_bytes: int) -> list[Batch]:
        """Empty the queue into batches of at most ``max_batch_bytes`` each (a batch holds at
        least one proposal, and a proposal is never split)."""
        queued, self.queued = self.queued, []
        self._queued_bytes = 0
        batches: list[Batch] = []
        start = 0
        while start < len(queued):
            end, size = start, 0
            while end < len(queued) and (
                end == start or size + queued[end].cost - RECORD_OVERHEAD <= max_batch_bytes
            ):
                size += queued[end].cost
                end += 1
            group = queued[start:end]
            records: list[bytes] = []
            for proposal in group:
                proposal.offset = len(records)
                records += proposal.records
            batches.append(Batch(group, records))
            start = end
        return batches

    def placed(self, batch: Batch, index: int, term: int) -> None:
        """The batch went into the log as entry ``index`` of ``term``."""
        for proposal in batch.proposals:
            proposal.index, proposal.term = index, term
        self._waiting[index] = batch.proposals

    def committed(self, entry: Entry) -> None:
        """``entry`` committed: the proposals appended as it succeed, unless it is another
        leader's entry at that index (theirs was overwritten: the outcome is unknown)."""
        waiting = self._waiting.pop(entry.index, None)
        if not waiting:
            return
        if entry.kind == NORMAL and waiting[0].term == entry.term:
            now = trio.current_time() if self._on_commit is not None else 0.0
            for proposal in waiting:
                proposal.done.set()
                if self._on_commit is not None:
                    self._on_commit(now - proposal.proposed_at)
            return
        self.fail(waiting, LeadershipLost("entry overwritten by a new leader"))

    @staticmethod
    def fail(proposals: Sequence[Proposal], error: Exception) -> None:
        for proposal in proposals:
            proposal.fail(error)

    def fail_batches(self, batches: Sequence[Batch], error: Exception) -> None:
        for batch in batches:
            self.fail(batch.proposals, error)

    def fail_all(self, error: Exception) -> None:
        self.fail(self.queued, error)
        self.queued = []
        self._queued_bytes = 0
        for waiting in self._waiting.values():
            self.fail(waiting, error)
        self._waiting.clear()
