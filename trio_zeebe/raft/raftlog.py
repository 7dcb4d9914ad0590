"""The core's view of the Raft log: the entries after the snapshot and how far each is along.

:class:`RaftLog` holds the entries the core knows (those after the latest snapshot, durable or
not) and four positions along them: ``durable`` (the driver reported them fsynced), the first
entry not yet handed to the driver for persisting, ``commit`` (known committed) and ``applied``
(handed out as committed). The driver's stable storage mirrors what was handed out; this class
does the bookkeeping of that hand-over, the core decides what to append and what is committed.

A running byte total (``_cum[k]`` = size of the first ``k`` entries) lets the leader cut a batch of
at most ``max_batch_bytes`` and measure the uncommitted tail with a bisect instead of a loop.
Terms never decrease along the log, so "last index with term <= t" is a bisect as well.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from trio_zeebe.raft.messages import Entry

#: Bytes charged per entry on top of its data (framing), so empty entries still count.
ENTRY_OVERHEAD = 16


def _term_of(e: Entry) -> int:
    return e.term


class RaftLog:
    """Entries after the snapshot (``snap_index``, ``snap_term``) plus the hand-over positions.

    Invariants: ``snap_index <= applied <= min(commit, durable)`` and ``durable <= last_index``;
    entries from ``unstable`` on have not been handed out for persisting yet. Built from what
    the driver read back from disk, so everything it starts with is durable.
    """

    __slots__ = (
        "_cum",
        "_entries",
        "applied",
        "commit",
        "durable",
        "snap_index",
        "snap_term",
        "unstable",
    )

    def __init__(self, snap_index: int, snap_term: int, entries: Sequence[Entry]) -> None:
        self.snap_index = snap_index
        self.snap_term = snap_term
        self._entries: list[Entry] = []
        self._cum: list[int] = [0]
        self.append(entries)
        self.commit = snap_index
        self.applied = snap_index  # last index handed out in Ready.committed
        self.durable = self.last_index
        self.unstable = self.last_index + 1  # first index not yet handed out in Ready.entries

    # -- reading ---------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return self.snap_index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snap_term

    @property
    def first_index(self) -> int:
        return self.snap_index + 1

    def term(self, index: int) -> int | None:
        """Term at ``index``; None if compacted away (below the snapshot) or beyond the end."""
        off = index - self.snap_index - 1
        if off < 0:
            return self.snap_term if off == -1 else None
        entries = self._entries
        return entries[off].term if off < len(entries) else None

    def entry(self, index: int) -> Entry:
        return self._entries[index - self.snap_index - 1]

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries ``lo <= index < hi`` (``lo`` must be > snap_index)."""
        base = self.snap_index + 1
        return self._entries[lo - base : hi - base]

    def bytes_between(self, lo: int, hi: int) -> int:
        """Charged size of entries ``lo <= index < hi`` (both within the log)."""
        base = self.snap_index + 1
        return self._cum[hi - base] - self._cum[lo - base]

    def batch_end(self, lo: int, max_bytes: int) -> int:
        """Exclusive end of a batch starting at ``lo`` of at most ``max_bytes`` (>= one entry)."""
        k0 = lo - self.snap_index - 1
        cum = self._cum
        k = bisect_right(cum, cum[k0] + max_bytes, k0 + 1) - 1
        if k <= k0:
            k = k0 + 1
        return self.snap_index + 1 + min(k, len(self._entries))

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int | None]:
        """The last index ``<= index`` whose term is ``<= term``, with that term.

        Returns ``(snap_index - 1, None)`` when the answer lies inside the snapshot (unknown).
        """
        index = min(index, self.last_index)
        k = bisect_right(self._entries, term, 0, max(index - self.snap_index, 0), key=_term_of)
        if k > 0:
            return self.snap_index + k, self._entries[k - 1].term
        if self.snap_term <= term:
            return self.snap_index, self.snap_term
        return self.snap_index - 1, None

    # -- changing ----------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """Entries that follow the last one directly, terms not going back."""
        if not entries:
            return
        first, last = entries[0], entries[-1]
        if first.index != self.last_index + 1 or last.index != first.index + len(entries) - 1:
            raise ValueError(f"entries {first.index}..{last.index} do not follow {self.last_index}")
        if first.term < self.last_term:
            raise ValueError(f"entry {first.index} has term {first.term} < {self.last_term}")
        self._entries.extend(entries)
        self._cum.extend(
            accumulate((len(e.data) + ENTRY_OVERHEAD for e in entries), initial=self._cum[-1])
        )
        del self._cum[-len(entries) - 1]  # accumulate repeated the old total as its first value

    def append_from_leader(self, entries: Sequence[Entry]) -> None:
        """A leader's entries (consecutive, the first one following a matching entry): skip
        those already held, cut the log at the first conflict, append the rest."""
        last = self.last_index
        k = 0
        if entries[0].index <= last:
            n = len(entries)
            while (
                k < n
                and entries[k].index <= last
                and self.term(entries[k].index) == entries[k].term
            ):
                k += 1
            if k == n:
                return
            conflict = entries[k].index
            if conflict <= last:
                if conflict <= self.commit:
                    raise AssertionError(f"leader overwrites committed entry {conflict}")
                self._truncate_from(conflict)
        self.append(entries[k:] if k else entries)

    def _truncate_from(self, index: int) -> None:
        """Drop entries ``>= index``: they are no longer durable, and get handed out anew."""
        k = max(index - self.snap_index - 1, 0)
        del self._entries[k:]
        del self._cum[k + 1 :]
        self.unstable = min(self.unstable, index)
        self.durable = min(self.durable, index - 1)

    def take_unstable(self) -> list[Entry]:
        """The entries not handed out for persisting yet (now they are)."""
        last = self.last_index
        if self.unstable > last:
            return []
        entries = self.slice(self.unstable, last + 1)
        self.unstable = last + 1
        return entries

    def persisted(self, index: int, term: int) -> bool:
        """The durable log ends at ``index`` (term ``term``); True if that is news. A stale
        point (its entry was overwritten meanwhile) is ignored."""
        if index <= self.durable or self.term(index) != term:
            return False
        self.durable = index
        return True

    def take_committed(self) -> list[Entry]:
        """The entries committed *and* durable here that were not handed out yet (now they are)."""
        hi = min(self.commit, self.durable)
        if hi <= self.applied:
            return []
        entries = self.slice(self.applied + 1, hi + 1)
        self.applied = hi
        return entries

    def compact(self, index: int) -> None:
        """Forget entries ``<= index`` (applied, in the log); the snapshot now ends there."""
        if index > self.applied:
            raise ValueError(f"cannot compact to {index}: only {self.applied} applied")
        if index <= self.snap_index:
            return
        t = self.term(index)
        if t is None:
            raise ValueError(f"cannot compact to {index}: not in the log")
        k = index - self.snap_index
        del self._entries[:k]
        del self._cum[:k]
        self.snap_index, self.snap_term = index, t

    def reset(self, snap_index: int, snap_term: int) -> None:
        """Replace everything by an installed snapshot ending at ``snap_index``."""
        self._entries = []
        self._cum = [0]
        self.snap_index, self.snap_term = snap_index, snap_term
        self.commit = self.applied = self.durable = snap_index
        self.unstable = snap_index + 1
