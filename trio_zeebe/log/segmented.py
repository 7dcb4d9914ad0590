"""SegmentedLog: the durable write-ahead log of Raft entries for one partition.

Segment files ``<first index, 20 digits>.log`` in one directory hold framed records (see
``record.py``).  Appends are plain writes; :meth:`SegmentedLog.flush` is the group commit that
makes everything appended so far durable with one fsync.

Durability semantics
--------------------
``durable_index`` (and the return value of ``flush()``) is the last index whose record is
durable on disk AND is the current content of the log.  It only grows when a flush's fsync has
returned.  Truncating from index ``i`` (conflict truncation, or ``reset``) lowers it to at
most ``i - 1`` at once, even if a flush is in flight: the new entries at ``>= i`` count only
after a later flush.  Until that flush, a power loss may bring back the old entries at ``>= i``
(never a mix that breaks the log: segments removed by the truncation are made gone with a
directory fsync before the truncated file is fsynced, and no new segment is started while a
truncation is unflushed).  After ``open()`` nothing counts as durable until the first
``flush()`` (the recovered bytes may still sit only in the page cache after a process crash).

After ``reset(index, term)`` ``durable_index`` is ``index``: the entries up to it are covered by
the snapshot, which the caller must have made durable first.

Known limit: a new segment's directory entry is made durable after the previous segment's
content in the same flush, but a real file system may persist the entry earlier on its own; a
power loss that then tears the previous segment's unsynced tail is reported as corruption
(never silently accepted).  Segments are not preallocated.

An fsync failure leaves the page cache in an unknown state, so the log then refuses all further
work (``DiskError``); the broker must restart and recover from disk.
"""

from __future__ import annotations

import logging
import os
import re
from array import array
from collections.abc import Sequence

import trio

from trio_zeebe.disk import Disk, DiskError, FileHandle
from trio_zeebe.log.record import (
    EntryLike,
    LogCorruptionError,
    LogRecord,
    encode_batch,
    has_valid_frame,
    scan,
)

__all__ = ["DEFAULT_SEGMENT_BYTES", "SegmentedLog"]

logger = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024
_SEGMENT_RE = re.compile(r"^(\d{20})\.log$")


def segment_name(first_index: int) -> str:
    return f"{first_index:020d}.log"


class _Segment:
    __slots__ = ("first", "offsets", "path", "size", "terms")

    def __init__(self, first: int, path: str) -> None:
        self.first = first
        self.path = path
        self.offsets = array("Q")  # byte offset of each record
        self.terms = array("Q")  # term of each record
        self.size = 0

    @property
    def last(self) -> int:
        return self.first + len(self.offsets) - 1


def _sync(
    disk: Disk,
    directory: str,
    handles: list[FileHandle],
    paths: list[str],
    removed: bool,
    created: bool,
) -> None:
    """The blocking part of a flush (runs on a worker thread in production)."""
    if removed:
        # Removed segments must be gone for good before a truncated file's new content is
        # durable, or a power loss could splice stale segments onto the new content.
        disk.fsync_dir(directory)
    for h in handles:
        disk.fsync(h)
    for p in paths:
        h = disk.open_append(p)
        try:
            disk.fsync(h)
        finally:
            h.close()
    if created or paths:
        disk.fsync_dir(directory)


class SegmentedLog:
    """Segmented write-ahead log.  Create with :meth:`open`."""

    def __init__(self, disk: Disk, directory: str, segment_bytes: int) -> None:
        if segment_bytes <= 0:
            raise ValueError(f"segment_bytes must be positive, got {segment_bytes}")
        self.disk = disk
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._segments: list[_Segment] = []
        self._handle: FileHandle | None = None  # of the last segment
        self._force_roll = False  # next append must start a new segment
        self._first = 1
        self._last = 0
        self._last_term = 0
        self._durable = 0
        # Changes since the last flush started:
        self._dirty: dict[str, FileHandle] = {}
        self._removed = False
        self._created = False
        self._unsynced_paths: list[str] = []  # recovered segments never fsynced by us
        self._trunc_seq = 0  # bumped by every truncation/reset
        self._trunc_synced_seq = 0  # the last truncation a completed flush covered
        self._trunc_floor: int | None = None  # lowest truncation point during a flush
        self._flush_lock = trio.Lock()
        self._flushing = False
        self._retired: list[FileHandle] = []
        self._failed: DiskError | None = None
        # Recovery report and counters.
        self.recovered: list[LogRecord] = []
        self.torn_tail_bytes = 0
        self.torn_tail_truncated = False
        self.flushes = 0

    # -- recovery --------------------------------------------------------------------

    @classmethod
    def open(
        cls, disk: Disk, directory: str, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> SegmentedLog:
        """Open (or create) the log in ``directory``, validating every record.

        The recovered entries are in ``log.recovered`` (also via :meth:`entries`).  A torn tail
        of the last segment is cut off (``torn_tail_truncated``, ``torn_tail_bytes``); any other
        damage raises :class:`LogCorruptionError` naming the file and byte offset.
        """
        log = cls(disk, directory, segment_bytes)
        disk.makedirs(directory)
        names = sorted(n for n in disk.listdir(directory) if _SEGMENT_RE.match(n))
        expect: int | None = None
        prev_term = 0
        for k, name in enumerate(names):
            first = int(name[:20])
            path = os.path.join(directory, name)
            if expect is not None and first != expect:
                raise LogCorruptionError(
                    path, 0, f"segment starts at index {first}, expected {expect}"
                )
            buf = disk.read(path)
            res = scan(buf, first, path)
            if res.problem is not None:
                if k != len(names) - 1:
                    raise LogCorruptionError(path, res.end, f"{res.problem} in an older segment")
                if has_valid_frame(buf, res.end + 1):
                    raise LogCorruptionError(
                        path, res.end, f"{res.problem}, with valid records after it"
                    )
                log.torn_tail_bytes = len(buf) - res.end
                log.torn_tail_truncated = True
                logger.warning(
                    "log %s: torn tail at byte offset %d (%s); truncated %d bytes",
                    path,
                    res.end,
                    res.problem,
                    len(buf) - res.end,
                )
            if res.records and res.records[0].term < prev_term:
                raise LogCorruptionError(path, 0, "term goes backwards across segments")
            seg = _Segment(first, path)
            seg.offsets.extend(res.offsets)
            seg.terms.extend(r.term for r in res.records)
            seg.size = res.end
            log._segments.append(seg)
            log.recovered.extend(res.records)
            if res.records:
                prev_term = res.records[-1].term
            expect = seg.last + 1
        if log._segments:
            last = log._segments[-1]
            log._first = log._segments[0].first
            log._last = last.last
            log._last_term = prev_term
            log._handle = disk.open_append(last.path)
            if log.torn_tail_truncated:
                log._handle.truncate(last.size)
                log._dirty[last.path] = log._handle
                log._trunc_seq += 1
            log._unsynced_paths = [s.path for s in log._segments[:-1]]
            log._dirty[last.path] = log._handle
            log._durable = log._first - 1
        return log

    # -- queries ---------------------------------------------------------------------

    @property
    def first_index(self) -> int:
        """Index of the first entry still in the log (``last_index + 1`` when empty)."""
        return self._first

    @property
    def last_index(self) -> int:
        return self._last

    @property
    def last_term(self) -> int:
        return self._last_term

    @property
    def durable_index(self) -> int:
        return self._durable

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def term_at(self, index: int) -> int | None:
        """Term of the entry at ``index``, or None if it is not in the log."""
        seg = self._segment_of(index)
        return None if seg is None else seg.terms[index - seg.first]

    def _segment_of(self, index: int) -> _Segment | None:
        if index < self._first or index > self._last:
            return None
        for seg in reversed(self._segments):
            if seg.first <= index:
                return seg
        return None

    def read(self, lo: int, hi: int) -> list[LogRecord]:
        """Entries with ``lo <= index < hi`` (clamped to the log), read back from disk."""
        lo, hi = max(lo, self._first), min(hi, self._last + 1)
        out: list[LogRecord] = []
        for seg in self._segments:
            if hi <= lo:
                break
            if seg.last < lo or not seg.offsets:
                continue
            start = seg.offsets[lo - seg.first]
            n = min(hi, seg.last + 1) - lo
            end = (
                seg.offsets[lo - seg.first + n]
                if lo - seg.first + n < len(seg.offsets)
                else seg.size
            )
            res = scan(self.disk.read(seg.path, start, end - start), lo, seg.path)
            if res.problem is not None or len(res.records) != n:
                raise LogCorruptionError(seg.path, start + res.end, f"on read: {res.problem}")
            out.extend(res.records)
            lo += n
        return out

    def entries(self) -> list[LogRecord]:
        """The whole log from ``first_index`` (read back from disk)."""
        return self.read(self._first, self._last + 1)

    # -- writing ---------------------------------------------------------------------

    def _check_ok(self) -> None:
        if self._failed is not None:
            raise DiskError(
                self._failed.errno, f"log unusable after a failed fsync: {self._failed}"
            )

    def append(self, entries: Sequence[EntryLike]) -> None:
        """Write ``entries`` (no fsync).  If the first index is ``<= last_index`` the log is
        first truncated from that index (Raft conflict truncation).  Indexes must be
        contiguous and follow on from the log, terms must not decrease (ValueError)."""
        if not entries:
            return
        self._check_ok()
        first = entries[0].index
        if first > self._last + 1 or first < self._first:
            raise ValueError(
                f"append at index {first} does not fit log [{self._first}, {self._last}]"
            )
        prev_term = self._last_term if first == self._last + 1 else self._term_before(first)
        data, offsets, terms = encode_batch(entries, first, prev_term)
        if first <= self._last:
            self.truncate_suffix(first)
        seg = self._writable_segment(first)
        assert self._handle is not None
        self._handle.write(data)
        base = seg.size
        seg.offsets.extend(base + o for o in offsets)
        seg.terms.extend(terms)
        seg.size += len(data)
        self._dirty[seg.path] = self._handle
        self._last = seg.last
        self._last_term = terms[-1]

    def _term_before(self, index: int) -> int:
        t = self.term_at(index - 1)
        return 0 if t is None else t

    def _writable_segment(self, next_index: int) -> _Segment:
        """The segment the next append goes to, rolling over to a new file when full."""
        if self._segments and not self._force_roll:
            seg = self._segments[-1]
            full = seg.size >= self.segment_bytes and seg.offsets
            # No new segment while a truncation is unflushed: a power loss could otherwise
            # bring back the truncated file's old, longer content next to the new segment.
            if not full or self._trunc_seq != self._trunc_synced_seq:
                return seg
        self._force_roll = False
        seg = _Segment(next_index, os.path.join(self.directory, segment_name(next_index)))
        if self._handle is not None:
            self._retire(self._handle)
        self._handle = self.disk.open_append(seg.path)
        if self._handle.size:  # a leftover file of that name (cannot be part of the log)
            self._handle.truncate(0)
        self._segments.append(seg)
        self._created = True
        self._dirty[seg.path] = self._handle
        return seg

    def _retire(self, handle: FileHandle) -> None:
        self._retired.append(handle)
        self._close_retired()

    def _close_retired(self) -> None:
        if self._flushing:
            return
        pending = set(map(id, self._dirty.values()))
        keep = []
        for h in self._retired:
            if id(h) in pending:
                keep.append(h)
            else:
                h.close()
        self._retired = keep

    def _note_truncation(self, index: int) -> None:
        self._trunc_seq += 1
        self._durable = min(self._durable, index - 1)
        if self._flushing:
            self._trunc_floor = (
                index if self._trunc_floor is None else min(self._trunc_floor, index)
            )

    def _remove_segment(self, seg: _Segment) -> None:
        if self._handle is not None and self._segments and self._segments[-1] is seg:
            self._retire(self._handle)
            self._handle = None
        self._dirty.pop(seg.path, None)
        self._close_retired()
        if seg.path in self._unsynced_paths:
            self._unsynced_paths.remove(seg.path)
        self.disk.remove(seg.path)
        self._removed = True

    def truncate_suffix(self, index: int) -> None:
        """Drop every entry at ``index`` and after (no fsync; see module docstring)."""
        self._check_ok()
        if index > self._last:
            return
        if index < self._first:
            raise ValueError(f"cannot truncate at {index}: log starts at {self._first}")
        self._note_truncation(index)
        # Later segments go first (newest first), then the surviving one is cut.
        while len(self._segments) > 1 and self._segments[-1].first >= index:
            self._remove_segment(self._segments[-1])
            self._segments.pop()
        seg = self._segments[-1]
        pos = index - seg.first
        if pos == len(seg.offsets):
            # The cut fell exactly on a segment boundary.  Do not append to ``seg``: until the
            # removal of its successors is durable, a power loss brings them back behind it.
            self._force_roll = True
        else:
            if self._handle is None:
                self._handle = self.disk.open_append(seg.path)
            cut = seg.offsets[pos]
            self._handle.truncate(cut)
            del seg.offsets[pos:]
            del seg.terms[pos:]
            seg.size = cut
            self._dirty[seg.path] = self._handle
        self._last = index - 1
        self._last_term = self._term_before(index)

    def compact(self, upto_index: int) -> None:
        """Delete whole segments whose entries are all ``<= upto_index`` (covered by a
        snapshot).  The segment holding ``upto_index + 1`` and the last segment stay."""
        self._check_ok()
        while len(self._segments) > 1 and self._segments[1].first <= upto_index + 1:
            self._remove_segment(self._segments.pop(0))
        if self._segments:
            self._first = self._segments[0].first

    def reset(self, index: int, term: int) -> None:
        """Drop the whole log; the next append must be at ``index + 1`` (after a snapshot at
        ``index``/``term`` was installed and made durable)."""
        self._check_ok()
        self._note_truncation(min(index, self._last) + 1)
        while self._segments:
            self._remove_segment(self._segments.pop(0))
        self._first, self._last, self._last_term = index + 1, index, term
        self._writable_segment(index + 1)
        self._durable = index
        if self._trunc_floor is not None:
            self._trunc_floor = min(self._trunc_floor, index + 1)

    # -- group commit ----------------------------------------------------------------

    async def flush(self) -> int:
        """Make everything appended so far durable with one fsync; return ``durable_index``.

        Safe to call from many tasks: callers queue on a fair lock, and a caller whose entries
        were covered by the fsync that ran while it waited returns without another fsync.
        """
        async with self._flush_lock:
            self._check_ok()
            if self._dirty or self._removed or self._created or self._unsynced_paths:
                await self._flush_once()
            return self._durable

    async def _flush_once(self) -> None:
        handles = list(self._dirty.values())
        paths = self._unsynced_paths
        removed, created = self._removed, self._created
        self._dirty = {}
        self._unsynced_paths = []
        self._removed = self._created = False
        target, seq = self._last, self._trunc_seq
        self._trunc_floor = None
        self._flushing = True
        ok = False
        try:
            await self.disk.run_grouped(
                _sync, self.disk, self.directory, handles, paths, removed, created
            )
            ok = True
        except OSError as exc:
            self._failed = exc if isinstance(exc, DiskError) else DiskError(exc.errno, str(exc))
            logger.error("log %s: fsync failed, log disabled: %s", self.directory, exc)
            raise self._failed from exc
        finally:
            self._flushing = False
            if not ok and self._failed is None:
                # Cancelled: we do not know what became durable; sync it all again next time.
                for h in handles:
                    self._dirty.setdefault(h.path, h)
                self._unsynced_paths += paths
                self._removed |= removed
                self._created |= created
            self._close_retired()
        floor = self._trunc_floor
        self._trunc_floor = None
        done = target if floor is None else min(target, floor - 1)
        self._durable = max(self._durable, done)
        self._trunc_synced_seq = seq
        self.flushes += 1

    def close(self) -> None:
        """Close file handles (no flush)."""
        if self._handle is not None:
            self._retired.append(self._handle)
            self._handle = None
        self._dirty = {}
        self._close_retired()
