"""What a broker publishes about itself in its SWIM member properties (reference §1.5).

Every broker gossips its client (gateway) address and, per partition it replicates, its Raft role,
term and health, so any broker can answer ``status`` and route to partition leaders.  Membership
properties are ``dict[str, str]``; this module owns two keys:

``gateway``
    the broker's gateway (client API) address, ``host:port``.
``partitions``
    comma-separated ``<partition_id>:<role>:<term>:<health>`` entries sorted by partition id, with
    role ``L`` (leader), ``F`` (follower) or ``I`` (inactive) and health ``H`` (healthy),
    ``U`` (unhealthy) or ``D`` (dead); e.g. ``"1:L:4:H,2:F:4:H,3:I:0:D"`` (about 8 bytes per
    partition, so 100 partitions stay well under a gossip datagram).  Empty string: none.

Other keys are left to other components and ignored here.  Decoding a peer's properties never
raises: malformed entries (and a gateway address that is not a valid ``host:port``) are skipped
and described in :attr:`BrokerInfoProps.problems`.  Pure: no trio, no I/O.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import attrs

from ..transport.api import split_address

__all__ = [
    "BrokerInfoProps",
    "PartitionHealth",
    "PartitionRole",
    "PartitionStatus",
    "decode_broker_info",
    "encode_broker_info",
]

GATEWAY_KEY = "gateway"
PARTITIONS_KEY = "partitions"
MAX_PARTITION_ID = 8192  # 13 key bits, as cluster.partitions_count allows
MAX_TERM = 2**63 - 1
MAX_ADDRESS_LENGTH = 300
MAX_PROBLEMS = 3  # described individually; the rest are only counted


class PartitionRole(StrEnum):
    """A broker's role in one partition, as it publishes it (``status`` shows the value)."""

    LEADER = "leader"
    FOLLOWER = "follower"  # a candidate too: it is not serving
    INACTIVE = "inactive"  # not running (restarting, dead, or its broker is dead)


class PartitionHealth(StrEnum):
    """Whether a broker's replica of a partition works."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # restarting, or its processor halted (Raft still replicates)
    DEAD = "dead"  # stopped for good on a corrupt log; the other replicas serve


# One letter each on the wire (gossip stays small).
_ROLE_CODE = {PartitionRole.LEADER: "L", PartitionRole.FOLLOWER: "F", PartitionRole.INACTIVE: "I"}
_HEALTH_CODE = {
    PartitionHealth.HEALTHY: "H",
    PartitionHealth.UNHEALTHY: "U",
    PartitionHealth.DEAD: "D",
}
_ROLE_OF = {v: k for k, v in _ROLE_CODE.items()}
_HEALTH_OF = {v: k for k, v in _HEALTH_CODE.items()}
# Only ASCII digits: str.isdigit() would accept other scripts' digits and int() would parse them.
_ENTRY = re.compile(r"([0-9]{1,5}):([LFI]):([0-9]{1,19}):([HUD])")


def _partition_id(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 1 <= value <= MAX_PARTITION_ID:
        raise ValueError(f"{attribute.name} must be an int in 1..{MAX_PARTITION_ID}, got {value!r}")


def _term(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= MAX_TERM:
        raise ValueError(f"{attribute.name} must be a non-negative int, got {value!r}")


@attrs.frozen
class PartitionStatus:
    """One broker's view of its own replica of one partition."""

    partition_id: int = attrs.field(validator=_partition_id)
    role: PartitionRole = attrs.field(converter=PartitionRole)
    term: int = attrs.field(validator=_term)
    health: PartitionHealth = attrs.field(converter=PartitionHealth)


@attrs.frozen
class BrokerInfoProps:
    """Decoded (or to-be-encoded) broker info.

    ``problems`` is filled only by :func:`decode_broker_info`: short descriptions of what was
    wrong in a peer's properties (at most :data:`MAX_PROBLEMS`, then a count), for the caller to
    log once per change.  Empty means the properties were well formed.
    """

    gateway: str
    partitions: tuple[PartitionStatus, ...] = ()
    problems: tuple[str, ...] = ()

    def partition(self, partition_id: int) -> PartitionStatus | None:
        for p in self.partitions:
            if p.partition_id == partition_id:
                return p
        return None


def encode_partitions(statuses: Iterable[PartitionStatus]) -> str:
    """The ``partitions`` property value.  ValueError if a partition is listed twice."""
    ordered = sorted(statuses, key=lambda s: s.partition_id)
    for a, b in itertools.pairwise(ordered):
        if a.partition_id == b.partition_id:
            raise ValueError(f"partition {a.partition_id} listed twice")
    return ",".join(
        f"{s.partition_id}:{_ROLE_CODE[s.role]}:{s.term}:{_HEALTH_CODE[s.health]}" for s in ordered
    )


def encode_broker_info(info: BrokerInfoProps) -> dict[str, str]:
    """The property keys this module owns; merge them into the broker's other properties."""
    return {GATEWAY_KEY: info.gateway, PARTITIONS_KEY: encode_partitions(info.partitions)}


def decode_broker_info(properties: Mapping[str, Any] | object) -> BrokerInfoProps:
    """Whatever is usable in a peer's properties; never raises.

    A missing key means "nothing published yet" (empty gateway / no partitions) and is not a
    problem.  A malformed entry is skipped; a partition listed twice keeps its first entry.
    """
    problems: list[str] = []
    if not isinstance(properties, Mapping):  # a caller's mistake; still an answer, not a crash
        return BrokerInfoProps("", (), (f"properties are a {type(properties).__name__}",))
    gateway = properties.get(GATEWAY_KEY, "")
    raw = properties.get(PARTITIONS_KEY, "")
    if not isinstance(gateway, str) or len(gateway) > MAX_ADDRESS_LENGTH:
        problems.append("gateway address is not a string of at most 300 characters")
        gateway = ""
    elif gateway:
        try:
            split_address(gateway)
        except ValueError as exc:
            problems.append(f"gateway {exc}")
            gateway = ""
    if not isinstance(raw, str):
        problems.append("partitions is not a string")
        raw = ""
    statuses: list[PartitionStatus] = []
    seen: set[int] = set()
    entries = raw.split(",") if raw else []
    if len(entries) > MAX_PARTITION_ID:
        problems.append(f"{len(entries)} partition entries, only the first {MAX_PARTITION_ID} read")
        entries = entries[:MAX_PARTITION_ID]
    for entry in entries:
        m = _ENTRY.fullmatch(entry)
        if m is None:
            problems.append(f"malformed partition entry {entry[:40]!r}")
            continue
        pid, term = int(m[1]), int(m[3])
        if not 1 <= pid <= MAX_PARTITION_ID or term > MAX_TERM:
            problems.append(f"partition entry out of range {entry[:40]!r}")
            continue
        if pid in seen:
            problems.append(f"partition {pid} listed twice")
            continue
        seen.add(pid)
        statuses.append(PartitionStatus(pid, _ROLE_OF[m[2]], term, _HEALTH_OF[m[4]]))
    statuses.sort(key=lambda s: s.partition_id)
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], f"and {extra} more problems"]
    return BrokerInfoProps(gateway, tuple(statuses), tuple(problems))
