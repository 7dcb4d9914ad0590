"""Book-keeping for one outstanding probe of ours and for indirect probes run for others."""

from __future__ import annotations


class ProbeState:
    __slots__ = ("acked", "deadline", "end", "expected_nacks", "indirect", "nacks", "seq", "target")

    def __init__(self, seq: int, target: int, deadline: float, end: float) -> None:
        self.seq = seq
        self.target = target
        self.deadline = deadline  # direct probe timeout
        self.end = end  # indirect probe gives up
        self.indirect = False
        self.expected_nacks = 0
        self.nacks = 0
        self.acked = False


class Relay:
    __slots__ = ("deadline", "requester", "seq")

    def __init__(self, requester: str, seq: int, deadline: float) -> None:
        self.requester = requester
        self.seq = seq
        self.deadline = deadline
