"""Per-follower replication progress and flow control, kept by the leader, and its tracker.

States:

- PROBE: the leader does not know where the follower's log matches.  One AppendEntries at a
  time; the progress is *paused* until the answer (or a heartbeat response) arrives.
- REPLICATE: the follower is known to match up to ``match``; entries stream optimistically
  (``next`` moves on send) with at most ``max_inflight`` unanswered messages.
- SNAPSHOT: the follower needs entries the leader has compacted; nothing is sent until the
  snapshot is reported installed (or failed).

``inflight`` holds the last index carried by each unanswered message, oldest first.

:class:`ProgressTracker` holds the leader's :class:`Progress` of every follower and what is
computed from them (quorum commit index, check-quorum activity, commit notices, transfer target).
"""

from __future__ import annotations

import enum
import math
from collections import deque


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    """What the leader knows of one follower's log, and its flow control (see the module doc)."""

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


class ProgressTracker:
    """The leader's bookkeeping of one term: its followers' progress and what depends on it.

    Owns the :class:`Progress` of every follower, counts the quorum commit index from their
    matches, answers check-quorum (was a quorum active since the last check?), remembers when
    the delayed commit notices are due, and the target of a leadership transfer in progress.
    Empty (no followers) while the node is not leader. Knows nothing of messages: the core
    decides what to send from what this says.
    """

    __slots__ = ("commit_notice_at", "progress", "quorum", "transfer_deadline", "transferee")

    def __init__(self, quorum: int) -> None:
        self.quorum = quorum
        self.progress: dict[int, Progress] = {}
        self.transferee: int | None = None
        self.transfer_deadline = 0.0
        self.commit_notice_at = math.inf

    def reset(self, peers: tuple[int, ...], next_index: int) -> None:
        """A new term of leadership: every follower is probed from ``next_index``."""
        self.progress = {p: Progress(next_index) for p in peers}
        self.transferee = None
        self.commit_notice_at = math.inf

    def clear(self) -> None:
        """Leadership ended."""
        self.progress = {}
        self.transferee = None

    def quorum_index(self, own: int) -> int:
        """The highest index held by a quorum, counting this node's durable ``own`` index."""
        if not self.progress:
            return own
        matches = [pr.match for pr in self.progress.values()]
        matches.append(own)
        matches.sort(reverse=True)
        return matches[self.quorum - 1]

    def quorum_active(self) -> bool:
        """Check-quorum: did a quorum (this node included) answer since the previous call?"""
        active = 1
        for pr in self.progress.values():
            if pr.recent_active:
                active += 1
            pr.recent_active = False
        return active >= self.quorum

    def start_transfer(self, to: int, deadline: float) -> Progress:
        self.transferee = to
        self.transfer_deadline = deadline
        return self.progress[to]

    def schedule_commit_notice(self, at: float) -> None:
        """Tell idle followers about a moved commit index at ``at``, unless already planned."""
        if self.commit_notice_at == math.inf:
            self.commit_notice_at = at

    def untold(self, commit: int) -> list[tuple[int, Progress]]:
        """The commit notices are due: the followers no message has told about ``commit``."""
        self.commit_notice_at = math.inf
        return [
            (p, pr) for p, pr in self.progress.items() if pr.commit_sent < min(commit, pr.match)
        ]
