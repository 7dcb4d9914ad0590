"""Lifeguard's local health multiplier: a node that misses its own acks slows itself down.

Missed acks or missing nacks usually mean *this* node is slow or overloaded, so instead of
accusing others it stretches its probe interval and probe timeout by ``score + 1``.
"""

from __future__ import annotations


class Awareness:
    def __init__(self, max_multiplier: int) -> None:
        self.max_multiplier = max(1, max_multiplier)
        self.score = 0

    def apply(self, delta: int) -> None:
        self.score = min(max(self.score + delta, 0), self.max_multiplier - 1)

    def scale(self, duration: float) -> float:
        return duration * (self.score + 1)
