"""Sans-IO Raft core for one partition: a deterministic state machine driven by a Ready loop.

The core never touches trio, sockets, files or the clock.  The driver feeds it inputs and drains
its outputs; everything else (durable log, transport, snapshot bytes) is the driver's job.

Inputs::

    core = RaftCore(config, node_id, voters, hard_state, entries, snapshot, rng, now, timer=None)
    core.tick(now)                  # advance time; fires elections, heartbeats, check-quorum
    core.step(msg, now=None)        # a peer's message (wrong partition/dst/src: counted, dropped);
                                    # pass now (or tick first): timers re-arm from the core's now
    core.propose(data) -> index     # leader only; NotLeader / ProposalDropped / Backpressure
    core.persisted(index, term)     # "my durable log now ends at index, whose term is term"
    core.campaign(transfer=False)   # stand now (e.g. gossip says the leader is dead)
    core.forget_leader()            # drop the leader lease so this node votes at once
    core.transfer_leadership(to)    # leader only; to self / non-member: no-op
    core.compact(index)             # a local snapshot covers the log up to index (<= applied)
    core.restore_snapshot(meta)     # a snapshot's data is installed locally; reset the log to it
    core.report_snapshot(peer, ok)  # leader: the out-of-band snapshot transfer ended
    core.report_unreachable(peer)   # leader: transport gave up on peer; back off to probing
    core.ready() -> Ready | None    # drain outputs (None if there is nothing)
    core.next_deadline()            # when to call tick() next at the latest

The ``Ready`` contract (process Readies strictly in the order they were returned):

1. If ``snapshot`` is set: the snapshot is already installed (the driver installed its data
   before delivering InstallSnapshot); discard the whole durable log, it now starts after
   ``snapshot.index``, and restore the state machine from that snapshot.
2. Append ``entries`` to the durable log.  If the first entry's index is <= the durable log's
   last index, first truncate the durable log from that index (a new leader overwrote an
   uncommitted tail).  Persist ``hard_state`` (term + vote) if not None.
3. ``messages`` may be sent at once (even before step 2 finishes).  ``messages_after_persist``
   may be sent only once step 2 is durable (fsynced): they promise durability (vote grants,
   append acks, a candidate's vote requests, which count its own durable vote).
4. Once durable, call ``core.persisted(*ready.persisted_point)`` if it is not None.  It is fine
   to do this later and for several Readies at once (only the newest point matters); a stale
   point whose term no longer matches the log (the entries were overwritten meanwhile, ABA) is
   ignored.
5. Apply ``committed`` in order.  These are committed *and* durable on this node (the core
   never hands out an entry beyond its own durable index), so applying them is always safe.
6. ``soft_state`` (role, leader, term) is set when it changed; ``snapshots_to_send`` lists
   followers that need the snapshot named in the message: ship the data for it out of band,
   then deliver the InstallSnapshot message itself; call ``report_snapshot(peer, ok)`` when
   the transfer ends (ok=False on failure, so the leader retries later).

On restart, build the core from the durable hard state, the durable snapshot metadata and the
durable entries after it; entries of a Ready that was not yet durable are simply lost.  The
commit index is not persisted: it is relearned from the leader (or, alone, by committing the
new term's no-op), and the state machine replays from the snapshot.

Safety rules implemented here: term and vote are persisted before a vote is answered (vote
responses and vote requests wait for persistence); followers ack appends only after fsync; the
leader counts itself only up to its durable index; only current-term entries are committed by
counting replicas; a new leader appends a no-op; pre-vote and check-quorum with a leader lease
(votes are ignored while this node heard from a leader within an election timeout, unless the
campaign is a leadership transfer).
"""

from __future__ import annotations

import math
import random
from typing import Any

from trio_zeebe.raft.config import (
    Backpressure,
    NotLeader,
    ProposalDropped,
    RaftConfig,
    Ready,
    Role,
    SoftState,
)
from trio_zeebe.raft.election import ElectionTimer, RandomizedElectionTimer
from trio_zeebe.raft.memlog import ENTRY_OVERHEAD, MemLog
from trio_zeebe.raft.messages import (
    NOOP,
    NORMAL,
    AppendEntries,
    AppendResponse,
    Entry,
    HardState,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    SnapshotMeta,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from trio_zeebe.raft.progress import Progress
from trio_zeebe.raft.replication import ReplicationMixin
from trio_zeebe.raft.voting import VotingMixin

_FROM_LEADER = (AppendEntries, Heartbeat, InstallSnapshot)


class RaftCore(VotingMixin, ReplicationMixin):
    # Elections (campaign, votes, lease) live in voting.py; the leader's side (progress,
    # replication, commit counting, leadership transfer, snapshot reports) in replication.py.
    # Here: state, inputs, the Ready output, role transitions and the follower's handlers.

    def __init__(
        self,
        config: RaftConfig,
        node_id: int,
        voters: tuple[int, ...],
        hard_state: HardState | None = None,
        entries: list[Entry] | tuple[Entry, ...] = (),
        snapshot: SnapshotMeta | None = None,
        rng: random.Random | None = None,
        now: float = 0.0,
        timer: ElectionTimer | None = None,
    ) -> None:
        if node_id not in voters or len(set(voters)) != len(voters):
            raise ValueError(f"voters {voters!r} must be unique and include node {node_id}")
        hs = hard_state or HardState()
        self.config = config
        self.id = node_id
        self.voters = tuple(voters)
        self.peers = tuple(v for v in voters if v != node_id)
        self._quorum = len(voters) // 2 + 1
        snap = snapshot or SnapshotMeta(0, 0)
        self.log = MemLog(snap.index, snap.term, entries)
        self.term = hs.term
        self.vote = hs.vote
        self.role = Role.FOLLOWER
        self.leader: int | None = None
        self.commit = snap.index
        self.applied = snap.index  # last index handed out in Ready.committed
        self.durable = self.log.last_index
        self._emit_from = self.log.last_index + 1
        self._now = now
        self._rng = rng or random.Random(node_id)
        self.timer: ElectionTimer = timer or RandomizedElectionTimer(
            config.election_timeout, self._rng
        )
        self._last_leader_contact = -1e18
        self._votes: dict[int, bool] = {}
        self.progress: dict[int, Progress] = {}
        self._next_heartbeat = 0.0
        self._quorum_check_at = 0.0
        self.transferee: int | None = None
        self._transfer_deadline = 0.0
        self._bcast = False
        self._bcast_commit = False
        self._commit_notice_at = math.inf
        self.dropped_messages = 0
        self._prev_hs = hs
        self._prev_soft: SoftState | None = None
        self._snapshot_out: SnapshotMeta | None = None
        self._msgs: list[Message] = []
        self._msgs_after: list[Message] = []
        self._snaps_out: list[InstallSnapshot] = []
        self.timer.reset(now, False)

    # ------------------------------------------------------------------ inputs

    def tick(self, now: float) -> None:
        if now < self._now:
            return
        self._now = now
        if self.role is Role.LEADER:
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + self.config.heartbeat_interval
                self._broadcast_heartbeat()
            if now >= self._quorum_check_at:
                self._quorum_check_at = now + self.config.election_timeout
                if self.config.check_quorum and not self._quorum_active():
                    self._become_follower(self.term, None)
                    return
            if self.transferee is not None and now >= self._transfer_deadline:
                self.transferee = None
            if now >= self._commit_notice_at:
                self._send_commit_notices()
        elif self.timer.expired(now):
            self.campaign()

    def step(self, m: Message, now: float | None = None) -> None:
        # Timers reset and the leader lease are measured from the core's notion of "now": pass
        # the current time here (or tick() first), or a follower that only ticks at its election
        # deadline would arm its timer from a stale time and campaign right after a heartbeat.
        if now is not None and now > self._now:
            self._now = now
        cfg = self.config
        if m.partition != cfg.partition or m.dst != self.id or m.src not in self.peers:
            self.dropped_messages += 1
            return
        kind = type(m)
        if m.term > self.term:
            if kind is VoteRequest:
                assert isinstance(m, VoteRequest)
                if not m.transfer and self._in_lease():
                    return
                if not m.pre_vote:
                    self._become_follower(m.term, None)
            elif kind is VoteResponse and m.pre_vote and m.granted:  # type: ignore[union-attr]
                pass  # a granted pre-vote echoes the term we would campaign with
            else:
                self._become_follower(m.term, m.src if kind in _FROM_LEADER else None)
        elif m.term < self.term:
            if kind is AppendEntries or kind is Heartbeat:
                # Tell a deposed leader (or free a stuck one) about the newer term.
                self._msgs.append(HeartbeatResponse(cfg.partition, self.id, m.src, self.term))
            elif kind is VoteRequest and m.pre_vote:  # type: ignore[union-attr]
                self._msgs.append(
                    VoteResponse(cfg.partition, self.id, m.src, self.term, False, True)
                )
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, m)

    def propose(self, data: bytes) -> int:
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if self.transferee is not None:
            raise ProposalDropped(f"leadership transfer to {self.transferee} in progress")
        log = self.log
        last = log.last_index
        if self.commit < last:
            uncommitted = log.bytes_between(self.commit + 1, last + 1)
            if uncommitted + len(data) + ENTRY_OVERHEAD > self.config.max_uncommitted_bytes:
                raise Backpressure(f"{uncommitted} uncommitted bytes")
        log.append((Entry(last + 1, self.term, NORMAL, data),))
        self._bcast = True
        return last + 1

    def persisted(self, index: int, term: int) -> None:
        if index <= self.durable or self.log.term(index) != term:
            return
        self.durable = index
        if self.role is Role.LEADER:
            self._maybe_commit()

    @property
    def last_leader_contact(self) -> float:
        """When this follower last heard from a leader (``-inf``-like when never)."""
        return self._last_leader_contact

    def forget_leader(self) -> None:
        if self.role is Role.FOLLOWER:
            self.leader = None
            self._last_leader_contact = -1e18

    def compact(self, index: int) -> None:
        if index > self.applied:
            raise ValueError(f"cannot compact to {index}: only {self.applied} applied")
        if index > self.log.snap_index:
            self.log.compact(index)

    def restore_snapshot(self, meta: SnapshotMeta) -> bool:
        """Adopt an installed snapshot; False if this node already has everything it covers."""
        if self.role is Role.LEADER:
            raise ValueError("a leader does not restore snapshots from elsewhere")
        if meta.index <= self.commit:
            return False
        if self.log.term(meta.index) == meta.term:
            self.commit = meta.index  # we hold the entries: just fast-forward the commit
            return True
        self.log.reset(meta.index, meta.term)
        self.commit = self.applied = self.durable = meta.index
        self._emit_from = meta.index + 1
        self._snapshot_out = meta
        return True

    # ----------------------------------------------------------------- outputs

    def ready(self) -> Ready | None:
        if self._bcast or self._bcast_commit:
            self._broadcast_append()
        log = self.log
        hs: HardState | None = None
        if self.term != self._prev_hs.term or self.vote != self._prev_hs.vote:
            hs = self._prev_hs = HardState(self.term, self.vote)
        entries: list[Entry] = []
        if self._emit_from <= log.last_index:
            entries = log.slice(self._emit_from, log.last_index + 1)
            self._emit_from = log.last_index + 1
        committed: list[Entry] = []
        hi = min(self.commit, self.durable)
        if hi > self.applied:
            committed = log.slice(self.applied + 1, hi + 1)
            self.applied = hi
        soft: SoftState | None = SoftState(self.role, self.leader, self.term)
        if soft == self._prev_soft:
            soft = None
        else:
            self._prev_soft = soft
        snap = self._snapshot_out
        if (
            not (hs or entries or committed or soft or snap or self._msgs or self._msgs_after)
            and not self._snaps_out
        ):
            return None
        rd = Ready(
            hs, snap, entries, self._msgs, self._msgs_after, committed, soft, self._snaps_out
        )
        self._snapshot_out = None
        self._msgs, self._msgs_after, self._snaps_out = [], [], []
        return rd

    def next_deadline(self) -> float:
        if self.role is Role.LEADER:
            d = min(self._next_heartbeat, self._quorum_check_at, self._commit_notice_at)
            return min(d, self._transfer_deadline) if self.transferee is not None else d
        return self.timer.deadline

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "term": self.term,
            "vote": self.vote,
            "leader": self.leader,
            "commit": self.commit,
            "applied": self.applied,
            "durable": self.durable,
            "last_index": self.log.last_index,
            "snapshot_index": self.log.snap_index,
            "transferee": self.transferee,
            "dropped_messages": self.dropped_messages,
            "progress": {
                p: {
                    "match": pr.match,
                    "next": pr.next,
                    "state": pr.state.value,
                    "paused": pr.paused,
                    "inflight": len(pr.inflight),
                    "recent_active": pr.recent_active,
                }
                for p, pr in self.progress.items()
            },
        }

    # ------------------------------------------------------------ transitions

    def _become_follower(self, term: int, leader: int | None) -> None:
        if term > self.term:
            self.term = term
            self.vote = None
        self.role = Role.FOLLOWER
        self.leader = leader
        self.progress = {}
        self.transferee = None
        self._votes = {}
        if leader is not None:
            self._last_leader_contact = self._now
        self.timer.reset(self._now, leader is not None)

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self._votes = {}
        self.transferee = None
        nxt = self.log.last_index + 1
        self.progress = {p: Progress(nxt) for p in self.peers}
        self._commit_notice_at = math.inf
        self._next_heartbeat = self._now + self.config.heartbeat_interval
        self._quorum_check_at = self._now + self.config.election_timeout
        self.log.append((Entry(nxt, self.term, NOOP, b""),))
        self._bcast = True
        self._maybe_commit()

    # ------------------------------------------------------ follower handlers

    def _heard_leader(self, src: int) -> None:
        if self.role is not Role.FOLLOWER:
            self._become_follower(self.term, src)
        self.leader = src
        self._last_leader_contact = self._now
        self.timer.reset(self._now, True)

    def _on_append(self, m: AppendEntries) -> None:
        self._heard_leader(m.src)
        cfg, log = self.config, self.log
        entries = m.entries
        last_new = m.prev_index + len(entries)
        if m.prev_index < self.commit:
            # The committed prefix matches the leader's by definition: skip it.
            if last_new <= self.commit:
                if m.commit_only:
                    return
                self._msgs_after.append(
                    AppendResponse(cfg.partition, self.id, m.src, self.term, True, self.commit)
                )
                return
            entries = entries[self.commit - m.prev_index :]
        elif log.term(m.prev_index) != m.prev_term:
            hint_index, hint_term = log.find_conflict_by_term(m.prev_index, m.prev_term)
            self._msgs_after.append(
                AppendResponse(
                    cfg.partition,
                    self.id,
                    m.src,
                    self.term,
                    False,
                    m.prev_index,
                    hint_index,
                    hint_term or 0,
                )
            )
            return
        if entries:
            self._append_from_leader(entries)
        if m.commit > self.commit:
            self.commit = max(self.commit, min(m.commit, last_new))
        if m.commit_only and not entries:
            return  # the leader already knows we match up to prev_index
        self._msgs_after.append(
            AppendResponse(cfg.partition, self.id, m.src, self.term, True, last_new)
        )

    def _append_from_leader(self, entries: tuple[Entry, ...]) -> None:
        log = self.log
        last = log.last_index
        k = 0
        if entries[0].index <= last:
            n = len(entries)
            while (
                k < n and entries[k].index <= last and log.term(entries[k].index) == entries[k].term
            ):
                k += 1
            if k == n:
                return
            conflict = entries[k].index
            if conflict <= last:
                if conflict <= self.commit:
                    raise AssertionError(f"leader overwrites committed entry {conflict}")
                log.truncate_from(conflict)
                self._emit_from = min(self._emit_from, conflict)
                self.durable = min(self.durable, conflict - 1)
        log.append(entries[k:] if k else entries)

    def _on_heartbeat(self, m: Heartbeat) -> None:
        self._heard_leader(m.src)
        commit = min(m.commit, self.log.last_index)
        if commit > self.commit:
            self.commit = commit
        self._msgs.append(HeartbeatResponse(self.config.partition, self.id, m.src, self.term))

    def _on_install_snapshot(self, m: InstallSnapshot) -> None:
        self._heard_leader(m.src)
        meta = SnapshotMeta(m.snapshot_index, m.snapshot_term)
        index = meta.index if self.restore_snapshot(meta) else self.commit
        self._msgs_after.append(
            InstallSnapshotResponse(self.config.partition, self.id, m.src, self.term, True, index)
        )


_HANDLERS: dict[type[Any], Any] = {
    VoteRequest: RaftCore._on_vote_request,
    VoteResponse: RaftCore._on_vote_response,
    TimeoutNow: RaftCore._on_timeout_now,
    AppendEntries: RaftCore._on_append,
    Heartbeat: RaftCore._on_heartbeat,
    InstallSnapshot: RaftCore._on_install_snapshot,
    AppendResponse: RaftCore._on_append_response,
    HeartbeatResponse: RaftCore._on_heartbeat_response,
    InstallSnapshotResponse: RaftCore._on_install_snapshot_response,
}
