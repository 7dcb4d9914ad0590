"""MetaStore: the Raft hard state (term, vote, ...) of one partition in one small file.

File format: ``b"TZMETA1\\n"`` | crc32 u32 (little endian) of the body | body (JSON object).
The file is always replaced atomically (:func:`trio_zeebe.disk.replace_atomically`), so a crash
leaves either the old or the new state.  Unknown JSON keys are kept in ``extra`` so a newer
version's fields survive a round trip through an older one.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from typing import Any

import attrs
import trio

from trio_zeebe.disk import Disk, replace_atomically

__all__ = ["MetaCorruptionError", "MetaState", "MetaStore"]

_MAGIC = b"TZMETA1\n"
_CRC = struct.Struct("<I")


class MetaCorruptionError(Exception):
    """The metadata file exists but cannot be trusted."""


@attrs.frozen
class MetaState:
    """What must survive a restart before Raft may answer a vote or acknowledge anything
    (``term``/``vote`` mirror ``trio_zeebe.raft.messages.HardState``)."""

    term: int = 0
    vote: int | None = None
    snapshot_id: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, eq=True, hash=False)


def encode(state: MetaState) -> bytes:
    body_obj: dict[str, Any] = dict(state.extra)
    body_obj.update(term=state.term, vote=state.vote, snapshot_id=state.snapshot_id)
    body = json.dumps(body_obj, sort_keys=True, separators=(",", ":")).encode()
    return _MAGIC + _CRC.pack(zlib.crc32(body)) + body


def decode(raw: bytes, path: str) -> MetaState:
    head = len(_MAGIC) + _CRC.size
    if len(raw) < head or not raw.startswith(_MAGIC):
        raise MetaCorruptionError(f"metadata file {path} is corrupt: bad header")
    (crc,) = _CRC.unpack_from(raw, len(_MAGIC))
    body = raw[head:]
    if zlib.crc32(body) != crc:
        raise MetaCorruptionError(f"metadata file {path} is corrupt: checksum mismatch")
    try:
        obj = json.loads(body)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        term = obj.pop("term", 0)
        vote = obj.pop("vote", None)
        snapshot_id = obj.pop("snapshot_id", None)
        if not isinstance(term, int) or isinstance(term, bool) or term < 0:
            raise ValueError(f"bad term {term!r}")
        if vote is not None and (not isinstance(vote, int) or isinstance(vote, bool)):
            raise ValueError(f"bad vote {vote!r}")
        if snapshot_id is not None and not isinstance(snapshot_id, str):
            raise ValueError(f"bad snapshot_id {snapshot_id!r}")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise MetaCorruptionError(f"metadata file {path} is corrupt: {exc}") from exc
    return MetaState(term, vote, snapshot_id, obj)


class MetaStore:
    """Load and atomically save one :class:`MetaState` file."""

    def __init__(self, disk: Disk, path: str) -> None:
        self.disk = disk
        self.path = path
        self._lock = trio.Lock()
        self._saved: MetaState | None = None
        self.saves = 0

    def load(self) -> MetaState:
        """The stored state; defaults when the file does not exist yet."""
        self.disk.makedirs(os.path.dirname(self.path) or ".")
        if not self.disk.exists(self.path):
            state = MetaState()
        else:
            state = decode(self.disk.read(self.path), self.path)
        self._saved = state
        return state

    async def save(self, state: MetaState) -> None:
        """Durably replace the stored state (returns after the fsyncs).  A save equal to the
        last completed one is skipped."""
        async with self._lock:
            if state == self._saved:
                return
            self._saved = None  # unknown while the replace is in progress
            await replace_atomically(self.disk, self.path, encode(state))
            self._saved = state
            self.saves += 1
