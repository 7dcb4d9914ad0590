"""The cluster topology a broker keeps on disk across restarts.

File ``<data>/topology.meta``: 4-byte magic, 1-byte format version, CRC32 of the body, then the
msgpack body. Replaced atomically whenever the topology changes. A corrupt or unreadable file is
reported and ignored: the topology is then re-learned from peers. Decoding goes through the wire
codec's checks (exact types, no extension types, bounded nesting) and checks every member's node
id and address, so whatever bytes the file holds, :func:`decode_topology` raises ValueError only.
"""

from __future__ import annotations

import logging
import struct
import zlib
from typing import Any

import attrs

from .. import codec
from ..disk import Disk, replace_atomically
from ..transport.api import split_address

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
        if type(obj) is not dict:
            raise codec.DecodeError(f"expected a map, got {type(obj).__name__}")
        topology = codec.structure(obj, PersistedTopology)
    except codec.DecodeError as exc:
        raise ValueError(f"malformed body: {exc}") from None
    for node_id, address in topology.members:
        if node_id < 0:
            raise ValueError(f"malformed body: member node id {node_id} is negative")
        try:
            split_address(address)
        except ValueError as exc:
            raise ValueError(f"malformed body: member {node_id}: {exc}") from None
    return topology


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
