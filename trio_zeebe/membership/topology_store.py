"""The cluster topology a broker keeps on disk across restarts.

File ``<data>/topology.meta``: 4-byte magic, 1-byte format version, CRC32 of the body, then the
msgpack body. Replaced atomically whenever the topology changes. A corrupt or unreadable file is
reported and ignored: the topology is then re-learned from peers.
"""

from __future__ import annotations

import logging
import struct
import zlib
from typing import Any

import attrs

from .. import codec
from ..disk import Disk, replace_atomically

log = logging.getLogger("trio_zeebe.membership")

MAGIC = b"TZTP"
VERSION = 1
_HEADER = struct.Struct(">4sBI")
FILE_NAME = "topology.meta"


@attrs.frozen
class PersistedTopology:
    cluster_name: str
    members: tuple[tuple[int, str], ...] = ()
    """(node_id, internal address) of every member known when last written."""
    extra: dict[str, Any] = attrs.field(factory=dict)
    """Room for later components (e.g. the partition distribution), kept verbatim."""


def encode_topology(topology: PersistedTopology) -> bytes:
    body = codec.packb(
        {
            "cluster_name": topology.cluster_name,
            "members": [list(m) for m in topology.members],
            "extra": topology.extra,
        }
    )
    return _HEADER.pack(MAGIC, VERSION, zlib.crc32(body)) + body


def decode_topology(data: bytes) -> PersistedTopology:
    """Raises ValueError describing what is wrong."""
    if len(data) < _HEADER.size:
        raise ValueError("file is too short")
    magic, version, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("not a topology file")
    if version != VERSION:
        raise ValueError(f"unsupported format version {version}")
    body = data[_HEADER.size :]
    if zlib.crc32(body) != crc:
        raise ValueError("checksum mismatch")
    try:
        obj = codec.unpackb(body)
        members = tuple((int(m[0]), str(m[1])) for m in obj["members"])
        return PersistedTopology(str(obj["cluster_name"]), members, dict(obj.get("extra", {})))
    except (codec.DecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed body: {exc}") from None


class TopologyStore:
    def __init__(self, disk: Disk, directory: str) -> None:
        self.disk = disk
        self.directory = directory
        self.path = f"{directory}/{FILE_NAME}"
        self._last: bytes | None = None

    def load(self) -> PersistedTopology | None:
        try:
            if not self.disk.exists(self.path):
                return None
            data = self.disk.read(self.path)
        except OSError as exc:
            log.warning("ignoring persisted topology %s: cannot read it: %s", self.path, exc)
            return None
        try:
            topology = decode_topology(data)
        except ValueError as exc:
            log.warning(
                "ignoring persisted topology %s: %s; it will be re-learned from peers",
                self.path,
                exc,
            )
            return None
        self._last = data
        return topology

    async def save(self, topology: PersistedTopology) -> bool:
        """Write if changed; False (and a log line) when the disk refused."""
        data = encode_topology(topology)
        if data == self._last:
            return True
        try:
            self.disk.makedirs(self.directory)
            await replace_atomically(self.disk, self.path, data)
        except OSError as exc:  # DiskError, or a plain OSError from rename/makedirs
            log.error("cannot persist topology to %s: %s", self.path, exc)
            return False
        self._last = data
        return True
