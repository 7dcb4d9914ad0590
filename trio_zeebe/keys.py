"""The layout of every key the cluster hands out, as Zeebe's: partition id in the top bits.

A key is ``partition << KEY_BITS | counter``: 13 bits of partition id (1..8191 in practice)
above 51 bits of a per-partition counter that starts at 1 (so partition 1's first key is
2251799813685249, as in Zeebe). Whoever holds a key can route a command for it to its partition
without asking anybody: ``partition_of(key)``. Messages have no key yet when they are
published: they are routed by the hash of their correlation key, ``message_partition``.
"""

from __future__ import annotations

PARTITION_BITS = 13
KEY_BITS = 51
MAX_PARTITION = (1 << PARTITION_BITS) - 1
MAX_COUNTER = (1 << KEY_BITS) - 1
_COUNTER_MASK = MAX_COUNTER


def make_key(partition: int, counter: int) -> int:
    """The key for ``counter`` on ``partition`` (ValueError outside the layout's ranges)."""
    if not 0 <= partition <= MAX_PARTITION:
        raise ValueError(f"partition must be in 0..{MAX_PARTITION}, got {partition}")
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"counter must be in 0..{MAX_COUNTER}, got {counter}")
    return (partition << KEY_BITS) | counter


def partition_of(key: int) -> int:
    """The partition a key was made on (what a gateway routes by)."""
    return key >> KEY_BITS


def counter_of(key: int) -> int:
    """The per-partition counter part of a key."""
    return key & _COUNTER_MASK


def first_key(partition: int) -> int:
    """The first key a partition hands out (its counter starts at 1)."""
    return make_key(partition, 1)


# --- routing by correlation key -------------------------------------------------------------


def message_partition(correlation_key: str, partition_count: int) -> int:
    """The partition a message with this correlation key lives on (1-based), Zeebe's
    ``SubscriptionUtil.getSubscriptionPartitionId``: the gateway routes PublishMessage with it
    and an instance routes its message subscriptions with it, so both meet on one partition.

    ``h = 31 * h + b`` over the key's UTF-8 bytes taken as signed bytes, in 32-bit two's
    complement, then ``|h rem P| + 1`` (``rem`` truncating toward zero, as Java's ``%``). This
    equals Java's ``String.hashCode`` only for ASCII keys. Characters UTF-8 cannot encode (lone
    surrogates) count as ``?``, as Java's encoder replaces them.
    """
    if partition_count < 1:
        raise ValueError(f"partition_count must be at least 1, got {partition_count}")
    h = 0
    for byte in correlation_key.encode("utf-8", "replace"):
        h = (31 * h + (byte - 256 if byte > 127 else byte)) & 0xFFFFFFFF
    if h > 0x7FFFFFFF:
        h -= 1 << 32
    return abs(h) % partition_count + 1
