"""Tunables of the SWIM + Lifeguard core: the broker's ``cluster.membership`` section.

This class *is* that TOML section (:mod:`trio_zeebe.config` uses it as is): each knob's default
and check are written here once. Defaults are Zeebe's (reference §1.1) except ``notify_suspect``
(Lifeguard's buddy system, on here); the Lifeguard and tombstone knobs are this project's.

Suspicion timeout rule (Lifeguard, bounded by Zeebe's ``failure_timeout``): a suspicion starts at
``failure_timeout`` and shrinks with independent confirmations (log scale) towards
``min(failure_timeout, suspicion_mult * max(1, log10(n)) * probe_interval)``; see
:mod:`trio_zeebe.membership.suspicion`.  With ``dynamic_suspicion`` off it is a flat
``failure_timeout`` (Zeebe's behaviour).
"""

from __future__ import annotations

import attrs

from trio_zeebe.knobs import KnobError, duration, number


@attrs.frozen
class SwimConfig:
    """How often a member probes, gossips and syncs, and when a silent member is suspected,
    then declared dead."""

    broadcast_updates: bool = False
    """After marking a member SUSPECT, also send that update to every member."""
    broadcast_disputes: bool = True
    """A refutation (own incarnation bumped) goes to every member."""
    notify_suspect: bool = True
    """Lifeguard's buddy system: tell a suspected member directly so it can refute."""
    gossip_interval: float = duration(0.25)
    gossip_fanout: int = number(2)
    probe_interval: float = duration(1.0)
    probe_timeout: float = duration(0.1)
    """A direct probe's timeout (an indirect probe gets twice as long)."""
    suspect_probes: int = number(3)
    """One direct probe plus (suspect_probes - 1) indirect helpers, as Zeebe counts it."""
    failure_timeout: float = duration(10.0)
    """SUSPECT -> DEAD after this long (the upper bound of a Lifeguard suspicion)."""
    sync_interval: float = duration(10.0)
    """Anti-entropy: a full member list exchange with one member this often."""
    retransmit_mult: int = number(4)
    """An update is piggybacked on retransmit_mult * ceil(log10(n + 1)) messages."""
    awareness_max_multiplier: int = number(8)
    """Lifeguard's local health: probe timeouts stretch up to this factor (1: off)."""
    suspicion_mult: int = number(4)
    """Lifeguard: the lower bound of a suspicion in probe intervals (scaled by log10(n))."""
    dynamic_suspicion: bool = True
    """Lifeguard: confirmations from other members shorten a suspicion (off: flat timeout)."""
    max_piggyback: int = number(16)
    """Updates piggybacked on one message."""
    tombstone_timeout: float = duration(30.0)
    """How long a dead member's record blocks stale gossip from re-adding it."""

    def __attrs_post_init__(self) -> None:
        if self.probe_timeout >= self.probe_interval:
            raise KnobError("probe_timeout", "must be shorter than probe_interval")

    @property
    def indirect_probes(self) -> int:
        return self.suspect_probes - 1

    def without_lifeguard(self) -> SwimConfig:
        """Plain SWIM (as Zeebe runs it): no health multiplier, flat timeout, no buddy notice."""
        return attrs.evolve(
            self, awareness_max_multiplier=1, dynamic_suspicion=False, notify_suspect=False
        )
