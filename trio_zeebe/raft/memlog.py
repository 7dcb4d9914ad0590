"""The core's in-memory view of the Raft log: entries after the snapshot, plus byte accounting.

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


class MemLog:
    __slots__ = ("_cum", "_entries", "snap_index", "snap_term")

    def __init__(self, snap_index: int, snap_term: int, entries: Sequence[Entry]) -> None:
        self.snap_index = snap_index
        self.snap_term = snap_term
        self._entries: list[Entry] = []
        self._cum: list[int] = [0]
        self.append(entries)

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

    def append(self, entries: Sequence[Entry]) -> None:
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

    def truncate_from(self, index: int) -> None:
        """Drop entries ``>= index``."""
        k = max(index - self.snap_index - 1, 0)
        del self._entries[k:]
        del self._cum[k + 1 :]

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

    def compact(self, index: int) -> None:
        """Forget entries ``<= index`` (which must be in the log); the snapshot now ends there."""
        t = self.term(index)
        if t is None:
            raise ValueError(f"cannot compact to {index}: not in the log")
        k = index - self.snap_index
        del self._entries[:k]
        del self._cum[:k]
        self.snap_index, self.snap_term = index, t

    def reset(self, snap_index: int, snap_term: int) -> None:
        """Replace everything by a snapshot ending at ``snap_index``."""
        self._entries = []
        self._cum = [0]
        self.snap_index, self.snap_term = snap_index, snap_term
