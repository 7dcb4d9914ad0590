"""Snapshots of a partition's state on disk, and receiving one in resumable chunks.

A snapshot is one file ``snapshots/<index>-<term>.snap`` (20-digit numbers): magic, CRC32 and
length of the body, then the body (the state machine's bytes). It is written to a temporary file,
fsynced and renamed into place (then the directory is fsynced), so a crash leaves the old or the
new snapshot, never half of one. The newest two valid snapshots are kept; a corrupt one is
reported and skipped, so a restart falls back to the previous snapshot (or to the peers).

A follower receives a snapshot into ``snapshots/<index>-<term>.part`` chunk by chunk; the sender
resumes from the offset the receiver reports, so a lost chunk costs one chunk, not the transfer.
A received snapshot is checked like a stored one before it is renamed into place.

Whatever a file holds, reading it raises only :class:`SnapshotCorruptError` (bad content) or
:class:`~trio_zeebe.disk.DiskError` (the disk failed); :meth:`SnapshotStore.latest` skips both.
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from collections.abc import Sequence

import attrs

from ..codec import wire
from ..disk import Disk, DiskError, FileHandle

log = logging.getLogger("trio_zeebe.raft.snapshots")

MAGIC = b"TZSNAP1\n"
_HEADER = struct.Struct(">8sIQ")  # magic, crc32(body), len(body)
_NAME = re.compile(r"^([0-9]{20})-([0-9]{20})\.snap$")
KEEP = 2


class SnapshotCorruptError(ValueError):
    """A snapshot file (or a received one) is not a whole, intact snapshot."""


@attrs.frozen
class SnapshotInfo:
    index: int
    term: int
    path: str
    size: int  # the whole file, header included (what a transfer moves)


@wire("r.snap_chunk")
@attrs.frozen
class SnapshotChunk:
    """Leader -> follower: bytes ``[offset, offset + len(data))`` of snapshot (index, term)."""

    partition: int
    src: int
    term: int
    index: int
    snapshot_term: int
    offset: int
    total: int
    data: bytes


@wire("r.snap_ack")
@attrs.frozen
class SnapshotChunkAck:
    """Follower -> leader: send from ``next_offset``; ``done``: the snapshot is installed."""

    partition: int
    next_offset: int
    done: bool


def encode_snapshot(body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, zlib.crc32(body), len(body)) + body


def snapshot_header(pieces: Sequence[bytes]) -> bytes:
    """The header :func:`encode_snapshot` puts before the concatenation of ``pieces``."""
    crc = 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
    return _HEADER.pack(MAGIC, crc, sum(map(len, pieces)))


def decode_snapshot(data: bytes, path: str) -> bytes:
    if len(data) < _HEADER.size:
        raise SnapshotCorruptError(f"snapshot {path} is corrupt: too short")
    magic, crc, length = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    if magic != MAGIC or length != len(body) or zlib.crc32(body) != crc:
        raise SnapshotCorruptError(f"snapshot {path} is corrupt: bad header or checksum")
    return body


def snapshot_name(index: int, term: int) -> str:
    return f"{index:020d}-{term:020d}.snap"


class SnapshotStore:
    """The snapshots of one partition on one node: saved, verified, pruned, and received."""

    def __init__(self, disk: Disk, directory: str) -> None:
        self.disk = disk
        self.directory = directory
        self._receiving: tuple[int, int, FileHandle] | None = None
        # latest() verifies a whole file; callers ask often (every chunk, every InstallSnapshot)
        # so the answer is kept until this store changes the directory.
        self._latest: SnapshotInfo | None = None
        self._latest_known = False

    def _list(self) -> list[tuple[int, int, str]]:
        if not self.disk.exists(self.directory):
            return []
        found = []
        for name in self.disk.listdir(self.directory):
            m = _NAME.match(name)
            if m:
                found.append((int(m.group(1)), int(m.group(2)), f"{self.directory}/{name}"))
        return sorted(found, reverse=True)

    def latest(self) -> SnapshotInfo | None:
        """The newest snapshot whose checksum holds (corrupt ones are logged and skipped)."""
        if not self._latest_known:
            self._latest = self._find_latest()
            self._latest_known = True
        return self._latest

    def _changed(self) -> None:
        self._latest_known = False

    def _find_latest(self) -> SnapshotInfo | None:
        for index, term, path in self._list():
            try:
                data = self.disk.read(path)
                decode_snapshot(data, path)
            except (SnapshotCorruptError, DiskError) as exc:
                log.error("%s; falling back to an older snapshot", exc)
                continue
            return SnapshotInfo(index, term, path, len(data))
        return None

    def has(self, index: int, term: int) -> bool:
        latest = self.latest()
        return latest is not None and (latest.index, latest.term) >= (index, term)

    def load(self, info: SnapshotInfo) -> bytes:
        try:
            return decode_snapshot(self.disk.read(info.path), info.path)
        except SnapshotCorruptError:
            self._changed()  # rotted since it was verified: the next latest() looks again
            raise

    def read_chunk(self, info: SnapshotInfo, offset: int, size: int) -> bytes:
        return self.disk.read(info.path, offset, size)

    async def save(self, index: int, term: int, body: bytes | Sequence[bytes]) -> SnapshotInfo:
        """Persist ``body`` (whole, or in pieces whose concatenation is the body) atomically.

        The checksum and the writing of a body in pieces run in a worker thread: a big
        snapshot does not hold the trio thread."""
        path = f"{self.directory}/{snapshot_name(index, term)}"
        self.disk.makedirs(self.directory)
        from ..disk import replace_atomically

        if isinstance(body, bytes):
            data: bytes | list[bytes] = encode_snapshot(body)
            size = len(data)
        else:
            pieces = list(body)
            header = await self.disk.run_blocking(snapshot_header, pieces)
            data = [header, *pieces]
            size = len(header) + sum(map(len, pieces))
        await replace_atomically(self.disk, path, data)
        self._changed()
        self._prune()
        return SnapshotInfo(index, term, path, size)

    def _prune(self) -> None:
        for _, _, path in self._list()[KEEP:]:
            self.disk.remove(path)
        self._changed()

    # -- receiving ------------------------------------------------------------------------

    def received(self, index: int, term: int) -> int:
        """Bytes of snapshot (index, term) received so far (0 when another one is pending)."""
        if self._receiving is not None and self._receiving[:2] == (index, term):
            return self._receiving[2].size
        return 0

    async def receive_chunk(self, chunk: SnapshotChunk) -> SnapshotChunkAck:
        """Store one chunk; resumable and idempotent. ``done`` once the snapshot is in place."""
        if self.has(chunk.index, chunk.snapshot_term):
            return SnapshotChunkAck(chunk.partition, chunk.total, True)
        received = self.received(chunk.index, chunk.snapshot_term)
        if chunk.offset != received:
            return SnapshotChunkAck(chunk.partition, received, False)  # resume from here
        if received == 0:
            self._abort_receive()
            self.disk.makedirs(self.directory)
            part = f"{self.directory}/{chunk.index:020d}-{chunk.snapshot_term:020d}.part"
            if self.disk.exists(part):
                self.disk.remove(part)
            self._receiving = (chunk.index, chunk.snapshot_term, self.disk.open_append(part))
        assert self._receiving is not None
        handle = self._receiving[2]
        handle.write(chunk.data)
        if handle.size < chunk.total:
            return SnapshotChunkAck(chunk.partition, handle.size, False)
        await self.disk.run_blocking(self.disk.fsync, handle)
        part = handle.path
        handle.close()
        self._receiving = None
        final = f"{self.directory}/{snapshot_name(chunk.index, chunk.snapshot_term)}"
        try:
            decode_snapshot(self.disk.read(part), part)
        except SnapshotCorruptError as exc:
            log.warning("received %s; asking for it again", exc)
            self.disk.remove(part)
            return SnapshotChunkAck(chunk.partition, 0, False)
        self.disk.rename(part, final)
        await self.disk.run_blocking(self.disk.fsync_dir, self.directory)
        self._changed()
        self._prune()
        return SnapshotChunkAck(chunk.partition, chunk.total, True)

    def _abort_receive(self) -> None:
        if self._receiving is not None:
            handle = self._receiving[2]
            handle.close()
            self.disk.remove(handle.path)
            self._receiving = None
