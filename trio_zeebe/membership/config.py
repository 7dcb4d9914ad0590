"""Tunables of the SWIM + Lifeguard core; defaults are Zeebe's (``cluster.membership.*``).

Suspicion timeout rule (Lifeguard, bounded by Zeebe's ``failure_timeout``): a suspicion starts at
``failure_timeout`` and shrinks with independent confirmations (log scale) towards
``min(failure_timeout, suspicion_mult * max(1, log10(n)) * probe_interval)``; see
:mod:`trio_zeebe.membership.suspicion`.  With ``dynamic_suspicion`` off it is a flat
``failure_timeout`` (Zeebe's behaviour).
"""

from __future__ import annotations

import attrs


def _positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"membership.{attribute.name} must be > 0, got {value!r}")


def _at_least_one(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"membership.{attribute.name} must be >= 1, got {value!r}")


@attrs.frozen
class SwimConfig:
    probe_interval: float = attrs.field(default=1.0, validator=_positive)
    probe_timeout: float = attrs.field(default=0.1, validator=_positive)
    # One direct probe plus (suspect_probes - 1) indirect helpers, as Zeebe counts it.
    suspect_probes: int = attrs.field(default=3, validator=_at_least_one)
    failure_timeout: float = attrs.field(default=10.0, validator=_positive)
    gossip_interval: float = attrs.field(default=0.25, validator=_positive)
    gossip_fanout: int = attrs.field(default=2, validator=_at_least_one)
    sync_interval: float = attrs.field(default=10.0, validator=_positive)
    broadcast_updates: bool = False
    broadcast_disputes: bool = True
    # Lifeguard's buddy system: tell a suspected member directly (Zeebe's default is off).
    notify_suspect: bool = True
    retransmit_mult: int = attrs.field(default=4, validator=_at_least_one)
    # 1 disables the local health multiplier.
    awareness_max_multiplier: int = attrs.field(default=8, validator=_at_least_one)
    suspicion_mult: int = attrs.field(default=4, validator=_at_least_one)
    dynamic_suspicion: bool = True
    # Updates piggybacked on one message.
    max_piggyback: int = attrs.field(default=16, validator=_at_least_one)
    # How long a dead member's record blocks stale gossip from re-adding it.
    tombstone_timeout: float = attrs.field(default=30.0, validator=_positive)

    @property
    def indirect_probes(self) -> int:
        return self.suspect_probes - 1

    def without_lifeguard(self) -> SwimConfig:
        """Plain SWIM (as Zeebe runs it): no health multiplier, flat timeout, no buddy notice."""
        return attrs.evolve(
            self, awareness_max_multiplier=1, dynamic_suspicion=False, notify_suspect=False
        )
