"""Per-follower replication progress and flow control, kept by the leader.

States:

- PROBE: the leader does not know where the follower's log matches.  One AppendEntries at a
  time; the progress is *paused* until the answer (or a heartbeat response) arrives.
- REPLICATE: the follower is known to match up to ``match``; entries stream optimistically
  (``next`` moves on send) with at most ``max_inflight`` unanswered messages.
- SNAPSHOT: the follower needs entries the leader has compacted; nothing is sent until the
  snapshot is reported installed (or failed).

``inflight`` holds the last index carried by each unanswered message, oldest first.
"""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    __slots__ = (
        "commit_sent",
        "inflight",
        "match",
        "next",
        "paused",
        "pending_snapshot",
        "recent_active",
        "state",
    )

    def __init__(self, next_index: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.paused = False
        self.inflight: deque[int] = deque()
        self.pending_snapshot = 0
        self.recent_active = False
        self.commit_sent = 0  # the commit index the follower can have learned from us

    def can_send(self, max_inflight: int) -> bool:
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) < max_inflight
        if self.state is ProgressState.PROBE:
            return not self.paused
        return False

    def sent(self, last: int) -> None:
        """An AppendEntries carrying entries up to ``last`` went out."""
        if self.state is ProgressState.REPLICATE:
            self.next = last + 1
            self.inflight.append(last)
        else:
            self.paused = True

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.paused = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.paused = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.paused = False
        self.inflight.clear()

    def update(self, index: int) -> bool:
        """A success up to ``index`` arrived; True if it taught us something new."""
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()
        if index > self.match:
            self.match = index
            if self.next <= index:
                self.next = index + 1
            self.paused = False
            return True
        return False

    def reject(self, rejected: int, hint_next: int) -> bool:
        """A reject of ``prev_index == rejected``; True if it moved ``next`` (not stale)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.become_probe()
            self.next = max(self.match + 1, min(rejected, hint_next))
            return True
        if self.state is ProgressState.PROBE:
            if self.next - 1 != rejected:
                return False
            self.next = max(self.match + 1, min(rejected, hint_next), 1)
            self.paused = False
            return True
        return False

    def heartbeat_answered(self, max_inflight: int) -> None:
        """A heartbeat came back: the follower is alive, so let a paused stream move again.

        Freeing one window slot recovers a REPLICATE stream whose messages were all lost."""
        self.recent_active = True
        if self.state is ProgressState.PROBE:
            self.paused = False
        elif self.state is ProgressState.REPLICATE and len(self.inflight) >= max_inflight:
            self.inflight.popleft()
