"""The leader's side of the sans-IO Raft core: follower progress, replication, commit counting.

A mixin of :class:`trio_zeebe.raft.core.RaftCore`, kept apart so each part of the core fits in
one reading; the Ready contract and the safety rules are described in :mod:`.core`. Here: the
leader's inputs (leadership transfer, snapshot and unreachable reports), its handlers for the
followers' answers, and the AppendEntries / Heartbeat / InstallSnapshot it sends. Sans-IO like
the core: no trio, sockets, files or clock.
"""

from __future__ import annotations

import math

from trio_zeebe.raft.config import NotLeader, RaftConfig, Role
from trio_zeebe.raft.memlog import MemLog
from trio_zeebe.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    TimeoutNow,
)
from trio_zeebe.raft.progress import Progress, ProgressState


class ReplicationMixin:
    # State owned and initialised by RaftCore; declared here for the type checker only.
    config: RaftConfig
    id: int
    voters: tuple[int, ...]
    _quorum: int
    log: MemLog
    term: int
    role: Role
    leader: int | None
    commit: int
    durable: int
    progress: dict[int, Progress]
    transferee: int | None
    _now: float
    _transfer_deadline: float
    _bcast: bool
    _bcast_commit: bool
    _commit_notice_at: float
    _msgs: list[Message]
    _snaps_out: list[InstallSnapshot]

    def transfer_leadership(self, to: int) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if to == self.id or to not in self.progress or to == self.transferee:
            return
        self.transferee = to
        self._transfer_deadline = self._now + self.config.election_timeout
        pr = self.progress[to]
        if pr.match == self.log.last_index:
            self._send(TimeoutNow(self.config.partition, self.id, to, self.term))
        else:
            pr.paused = False  # catch the target up now rather than at the next heartbeat
            self._send_append(to, pr)

    def report_snapshot(self, peer: int, ok: bool) -> None:
        pr = self.progress.get(peer)
        if pr is None or pr.state is not ProgressState.SNAPSHOT:
            return
        pr.become_probe()
        # Wait for the follower's answer (ok) or the next heartbeat (failed) before probing.
        pr.paused = True

    def report_unreachable(self, peer: int) -> None:
        pr = self.progress.get(peer)
        if pr is not None and pr.state is ProgressState.REPLICATE:
            pr.become_probe()

    # ------------------------------------------------------- leader handlers

    def _on_append_response(self, m: AppendResponse) -> None:
        pr = self.progress.get(m.src) if self.role is Role.LEADER else None
        if pr is None:
            return
        pr.recent_active = True
        if m.success:
            was = pr.state
            if pr.update(m.index):
                if was is ProgressState.PROBE or (
                    was is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot
                ):
                    pr.become_replicate()
                self._maybe_commit()
                if m.src == self.transferee and pr.match == self.log.last_index:
                    self._send(TimeoutNow(self.config.partition, self.id, m.src, self.term))
        else:
            hint_next = self._hint_next(m.hint_index, m.hint_term)
            if not pr.reject(m.index, hint_next):
                return
        self._send_append(m.src, pr)

    def _hint_next(self, hint_index: int, hint_term: int) -> int:
        j, _ = self.log.find_conflict_by_term(hint_index, hint_term)
        return j + 1

    def _on_heartbeat_response(self, m: HeartbeatResponse) -> None:
        pr = self.progress.get(m.src) if self.role is Role.LEADER else None
        if pr is None:
            return
        pr.heartbeat_answered(self.config.max_inflight)
        last = self.log.last_index
        if pr.state is ProgressState.REPLICATE and pr.match < last < pr.next:
            # All sent, not all acknowledged: an append or its answer may have been lost, and
            # no new entry may come to repair it. An empty append at ``next - 1`` makes the
            # follower acknowledge what it holds, or reject it and so start a probe.
            prev_term = self.log.term(last)
            if prev_term is not None:
                cfg = self.config
                self._msgs.append(
                    AppendEntries(
                        cfg.partition, self.id, m.src, self.term, last, prev_term, self.commit
                    )
                )
        elif pr.match < last or pr.state is ProgressState.PROBE:
            self._send_append(m.src, pr)

    def _on_install_snapshot_response(self, m: InstallSnapshotResponse) -> None:
        pr = self.progress.get(m.src) if self.role is Role.LEADER else None
        if pr is None:
            return
        pr.recent_active = True
        if m.success:
            pr.update(m.index)
            pr.become_replicate()
            self._maybe_commit()
        else:
            pr.become_probe()
        self._send_append(m.src, pr)

    # ----------------------------------------------------------- replication

    def _send(self, m: Message) -> None:
        self._msgs.append(m)

    def _maybe_commit(self) -> None:
        if len(self.voters) == 1:
            q = self.durable
        else:
            matches = sorted([pr.match for pr in self.progress.values()], reverse=True)
            matches.append(self.durable)
            matches.sort(reverse=True)
            q = matches[self._quorum - 1]
        if q > self.commit and self.log.term(q) == self.term:
            self.commit = q
            self._bcast_commit = True

    def _quorum_active(self) -> bool:
        active = 1
        for pr in self.progress.values():
            if pr.recent_active:
                active += 1
            pr.recent_active = False
        return active >= self._quorum

    def _broadcast_append(self) -> None:
        commit_moved = self._bcast_commit
        self._bcast = self._bcast_commit = False
        if self.role is not Role.LEADER:
            return
        delay = self.config.commit_notice_delay
        for p, pr in self.progress.items():
            self._send_append(p, pr, commit_moved and not delay)
        if commit_moved and delay and self._commit_notice_at == math.inf:
            self._commit_notice_at = self._now + delay

    def _send_commit_notices(self) -> None:
        """The delayed commit-only appends, to followers no message has told since."""
        self._commit_notice_at = math.inf
        commit = self.commit
        for p, pr in self.progress.items():
            if pr.commit_sent < min(commit, pr.match):
                self._send_append(p, pr, True)

    def _broadcast_heartbeat(self) -> None:
        cfg, commit = self.config, self.commit
        for p, pr in self.progress.items():
            told = min(commit, pr.match)
            self._msgs.append(Heartbeat(cfg.partition, self.id, p, self.term, told))
            if told > pr.commit_sent:
                pr.commit_sent = told

    def _send_append(self, peer: int, pr: Progress, send_commit: bool = False) -> None:
        log, cfg = self.log, self.config
        max_inflight = cfg.max_inflight
        while pr.can_send(max_inflight):
            nxt = pr.next
            prev_term = log.term(nxt - 1)
            if prev_term is None:
                pr.become_snapshot(log.snap_index)
                self._snaps_out.append(
                    InstallSnapshot(
                        cfg.partition, self.id, peer, self.term, log.snap_index, log.snap_term
                    )
                )
                return
            if nxt > log.last_index:
                if pr.state is ProgressState.PROBE:
                    self._msgs.append(
                        AppendEntries(
                            cfg.partition, self.id, peer, self.term, nxt - 1, prev_term, self.commit
                        )
                    )
                    pr.paused = True
                elif send_commit:
                    # Idle follower, commit moved: anchor at ``match`` (known to match, unlike
                    # the optimistic ``next``) so a reordered message cannot cause a reject.
                    match_term = log.term(pr.match)
                    if match_term is not None:
                        pr.commit_sent = min(self.commit, pr.match)
                        self._msgs.append(
                            AppendEntries(
                                cfg.partition,
                                self.id,
                                peer,
                                self.term,
                                pr.match,
                                match_term,
                                self.commit,
                                commit_only=True,
                            )
                        )
                return
            hi = log.batch_end(nxt, cfg.max_batch_bytes)
            self._msgs.append(
                AppendEntries(
                    cfg.partition,
                    self.id,
                    peer,
                    self.term,
                    nxt - 1,
                    prev_term,
                    self.commit,
                    tuple(log.slice(nxt, hi)),
                )
            )
            pr.sent(hi - 1)
            pr.commit_sent = min(self.commit, hi - 1)
            send_commit = False  # the message just sent carried the commit index
