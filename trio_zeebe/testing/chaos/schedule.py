"""The seeded fault schedule: which faults, on which targets, when and for how long.

Everything random about the faults comes from ``random.Random(seed)`` here, so a seed names a
schedule exactly (the cluster's state at run time then picks the concrete broker: "the leader
of the second partition" is whoever leads it then). The first faults cover every fault family
once, in a seeded order, so even a short run meets each of them; after that kinds are drawn
by weight. Faults run one at a time, each followed by a quiet gap in which the cluster heals,
except clock offsets: they stay in force in the background while the next faults run (a broker
killed while its clock is off restarts with that clock), never two of them at once.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

import attrs

WARMUP = 5.0  # seconds of plain load before the first fault
GAP = (3.0, 8.0)  # quiet seconds after a fault healed
TAIL = 3.0  # no fault in the last seconds of the run

# kind -> (family, weight)
KINDS: dict[str, tuple[str, float]] = {
    "kill-leader": ("kill", 3.0),
    "kill-follower": ("kill", 2.0),
    "kill-majority": ("kill", 1.0),
    "kill-all": ("kill", 1.0),
    "pause-leader": ("pause", 2.0),
    "pause-follower": ("pause", 1.0),
    "partition-leader": ("partition", 2.0),
    "partition-split": ("partition", 2.0),
    "partition-bridge": ("partition", 1.0),
    "partition-oneway": ("partition", 1.0),
    "disk-full": ("disk", 1.5),
    "clock-forward": ("clock", 1.0),
    "clock-backward": ("clock", 1.0),
}
FAMILIES = ("kill", "pause", "partition", "disk", "clock")
BACKGROUND = ("clock",)  # families whose faults stay in force while the next ones run


@attrs.frozen
class PlannedFault:
    """One fault: ``at`` seconds after the load started (or as soon after as the previous one
    has healed), held ``duration`` seconds. ``pick`` chooses the target among the candidates
    the cluster offers at run time; ``magnitude`` is a clock offset in seconds (clock kinds)."""

    index: int
    at: float
    kind: str
    pick: int
    duration: float
    magnitude: float = 0.0
    background: bool = False  # the next fault does not wait for this one to heal

    def describe(self) -> str:
        extra = f" offset {self.magnitude:+.0f}s" if self.magnitude else ""
        extra += " (in the background)" if self.background else ""
        return f"#{self.index} {self.kind} at {self.at:.1f}s for {self.duration:.1f}s{extra}"


def kinds_of(names: Collection[str]) -> list[str]:
    """Fault kinds selected by kind or family names (``kill``, ``pause-leader``, ...)."""
    chosen = []
    for kind, (family, _) in KINDS.items():
        if kind in names or family in names:
            chosen.append(kind)
    unknown = set(names) - set(KINDS) - set(FAMILIES)
    if unknown:
        raise ValueError(
            f"unknown fault kind(s) {', '.join(sorted(unknown))}; "
            f"kinds: {', '.join(KINDS)}; families: {', '.join(FAMILIES)}"
        )
    return chosen


def plan(
    seed: int, *, seconds: float, kinds: Sequence[str], election_timeout: float
) -> list[PlannedFault]:
    """The faults of a run of ``seconds`` of load."""
    rng = random.Random(seed)
    kinds = [k for k in KINDS if k in kinds]
    if not kinds:
        return []
    families = [f for f in FAMILIES if any(KINDS[k][0] == f for k in kinds)]
    rng.shuffle(families)
    faults: list[PlannedFault] = []
    at = WARMUP
    background_until = 0.0  # when the clock offset in force ends
    while True:
        if families:  # first every family once
            family = families.pop(0)
            kind = rng.choice([k for k in kinds if KINDS[k][0] == family])
        else:
            kind = rng.choices(kinds, weights=[KINDS[k][1] for k in kinds])[0]
        duration, magnitude = _shape(rng, kind, election_timeout)
        background = KINDS[kind][0] in BACKGROUND
        if background:
            at = max(at, background_until)
        if at + duration > seconds - TAIL:
            return faults
        faults.append(
            PlannedFault(
                len(faults),
                round(at, 2),
                kind,
                rng.randrange(1 << 30),
                duration,
                magnitude,
                background,
            )
        )
        if background:
            background_until = at + duration + rng.uniform(*GAP)
            at += rng.uniform(1.0, 3.0)
        else:
            at += duration + rng.uniform(*GAP)


def _shape(rng: random.Random, kind: str, election_timeout: float) -> tuple[float, float]:
    """(duration, magnitude) of one fault of ``kind``."""
    family = KINDS[kind][0]
    if kind == "kill-all":
        return round(rng.uniform(0.5, 3.0), 2), 0.0
    if family == "kill":  # downtime before the restart
        return round(rng.uniform(0.5, 5.0), 2), 0.0
    if family == "pause":  # always longer than an election timeout
        return round(rng.uniform(1.5, 4.0) * election_timeout, 2), 0.0
    if family == "partition":
        return round(rng.uniform(3.0, 12.0), 2), 0.0
    if family == "disk":
        return round(rng.uniform(6.0, 14.0), 2), 0.0
    offset = round(rng.uniform(20.0, 120.0), 1)
    return round(rng.uniform(8.0, 20.0), 2), offset if kind == "clock-forward" else -offset
