"""Election timers: when a follower (or a stuck candidate) stops waiting and campaigns.

The core asks its timer two things: ``reset(now, heard_leader)`` whenever it starts waiting
afresh (``heard_leader`` is True when a live leader was just heard from, which for Zeebe's
priority election restores the target priority), and ``expired(now)`` on every tick.
``deadline`` is the next time at which ``expired`` may change its answer, so a driver can sleep
until then.
"""

from __future__ import annotations

import random
from typing import Protocol


class ElectionTimer(Protocol):
    @property
    def deadline(self) -> float: ...

    def reset(self, now: float, heard_leader: bool) -> None: ...

    def expired(self, now: float) -> bool: ...


class RandomizedElectionTimer:
    """Raft's default: wait a uniformly random time in [ET, 2·ET) (injected rng)."""

    def __init__(self, election_timeout: float, rng: random.Random) -> None:
        self._et = election_timeout
        self._rng = rng
        self.deadline = 0.0

    def reset(self, now: float, heard_leader: bool) -> None:
        self.deadline = now + (self._et + self._rng.random() * self._et)

    def expired(self, now: float) -> bool:
        return now >= self.deadline


class PriorityElectionTimer:
    """Zeebe's priority election (reference §3.3): no randomisation.

    After each election timeout the node campaigns if ``priority >= target``; otherwise it waits
    another timeout and lowers the target by one.  Hearing from a leader restores the initial
    target, so with replication factor 3 the priority-3 node polls after 1·ET, priority 2 after
    2·ET and priority 1 after 3·ET.
    """

    def __init__(self, election_timeout: float, priority: int, target_priority: int) -> None:
        self._et = election_timeout
        self.priority = priority
        self.initial_target = target_priority
        self.target = target_priority
        self.deadline = 0.0

    def reset(self, now: float, heard_leader: bool) -> None:
        if heard_leader:
            self.target = self.initial_target
        self.deadline = now + self._et

    def expired(self, now: float) -> bool:
        while now >= self.deadline:
            if self.priority >= self.target:
                return True
            self.target -= 1
            self.deadline += self._et
        return False
