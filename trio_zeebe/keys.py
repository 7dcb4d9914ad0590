"""The layout of every key the cluster hands out, as Zeebe's: partition id in the top bits.

A key is ``partition << KEY_BITS | counter``: 13 bits of partition id (1..8191 in practice)
above 51 bits of a per-partition counter that starts at 1 (so partition 1's first key is
2251799813685249, as in Zeebe). Whoever holds a key can route a command for it to its partition
without asking anybody: ``partition_of(key)``.
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
