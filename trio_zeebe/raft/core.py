"""Sans-IO Raft core for one partition: a deterministic state machine driven by a Ready loop.

The core never touches trio, sockets, files or the clock.  The driver feeds it inputs and drains
its outputs; everything else (durable log, transport, snapshot bytes) is the driver's job.

Inputs::

    core = RaftCore(config, node_id, voters, hard_state, entries, snapshot, rng, now, timer=None,
                    partition=partition)
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
   may be sent only once step 2 is durable (fsynced): they promise durability (vote answers,
   append answers, snapshot-install answers, and a candidate's vote requests, which count its
   own durable vote).
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

import random
from typing import Any

from trio_zeebe.raft.config import RaftConfig
from trio_zeebe.raft.election import ElectionTimer, RandomizedElectionTimer
from trio_zeebe.raft.errors import Backpressure, NotLeader, ProposalDropped
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
from trio_zeebe.raft.progress import Progress, ProgressState, ProgressTracker
from trio_zeebe.raft.raftlog import ENTRY_OVERHEAD, RaftLog
from trio_zeebe.raft.ready import Ready, Role, SoftState
from trio_zeebe.raft.status import FollowerStatus, RaftStatus
from trio_zeebe.raft.voting import Tally, Voting

_FROM_LEADER = (AppendEntries, Heartbeat, InstallSnapshot)


class RaftCore:
    """One node of one partition's Raft group, as a deterministic sans-IO state machine.

    Contract: the inputs and the :class:`Ready` contract of the module docstring; one caller
    at a time (the driver's loop), time only as the ``now`` it is given. Public attributes
    (``term``, ``vote``, ``role``, ``leader``, ``log`` and the properties) are for reading.

    The core owns its state through collaborators and steps them: :class:`RaftLog` (entries,
    durable/commit/applied positions), :class:`ProgressTracker` (the leader's view of its
    followers), :class:`Voting` (votes of a campaign, the vote rule, the leader lease) and the
    election timer. Here: term, vote and role with their transitions, the message handlers,
    what is sent, and the Ready assembled from it all.
    """

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
        *,
        partition: int,
    ) -> None:
        if node_id not in voters or len(set(voters)) != len(voters):
            raise ValueError(f"voters {voters!r} must be unique and include node {node_id}")
        hs = hard_state or HardState()
        self.config = config
        self.partition = partition
        self.id = node_id
        self.voters = tuple(voters)
        self.peers = tuple(v for v in voters if v != node_id)
        snap = snapshot or SnapshotMeta(0, 0)
        self.log = RaftLog(snap.index, snap.term, entries)
        self.tracker = ProgressTracker(len(voters) // 2 + 1)
        self.voting = Voting(len(voters), config.check_quorum, config.election_timeout)
        self.term = hs.term
        self.vote = hs.vote
        self.role = Role.FOLLOWER
        self.leader: int | None = None
        self._now = now
        self.timer: ElectionTimer = timer or RandomizedElectionTimer(
            config.election_timeout, rng or random.Random(node_id)
        )
        self._next_heartbeat = 0.0
        self._quorum_check_at = 0.0
        self._bcast = False  # new entries to replicate before the next Ready
        self._bcast_commit = False  # the commit index moved since the last broadcast
        self.dropped_messages = 0
        # What the next Ready reports (the previous hard and soft state: only changes count).
        self._prev_hs = hs
        self._prev_soft: SoftState | None = None
        self._snapshot_out: SnapshotMeta | None = None
        self._msgs: list[Message] = []
        self._msgs_after: list[Message] = []
        self._snaps_out: list[InstallSnapshot] = []
        self.timer.reset(now, False)

    # -------------------------------------------------------------- reading

    @property
    def commit(self) -> int:
        return self.log.commit

    @property
    def applied(self) -> int:
        """The last index handed out in ``Ready.committed`` (or restored from a snapshot)."""
        return self.log.applied

    @property
    def durable(self) -> int:
        return self.log.durable

    @property
    def progress(self) -> dict[int, Progress]:
        """The leader's view of each follower (empty unless leader)."""
        return self.tracker.progress

    @property
    def transferee(self) -> int | None:
        """The follower a leadership transfer in progress hands over to."""
        return self.tracker.transferee

    @property
    def last_leader_contact(self) -> float:
        """When this follower last heard from a leader (``-inf``-like when never)."""
        return self.voting.leader_contact

    def next_deadline(self) -> float:
        if self.role is Role.LEADER:
            tracker = self.tracker
            d = min(self._next_heartbeat, self._quorum_check_at, tracker.commit_notice_at)
            return min(d, tracker.transfer_deadline) if tracker.transferee is not None else d
        return self.timer.deadline

    def status(self) -> RaftStatus:
        log = self.log
        return RaftStatus(
            id=self.id,
            role=self.role,
            term=self.term,
            vote=self.vote,
            leader=self.leader,
            commit=log.commit,
            applied=log.applied,
            durable=log.durable,
            last_index=log.last_index,
            snapshot_index=log.snap_index,
            transferee=self.tracker.transferee,
            dropped_messages=self.dropped_messages,
            progress={
                p: FollowerStatus(
                    match=pr.match,
                    next=pr.next,
                    state=pr.state,
                    paused=pr.paused,
                    inflight=len(pr.inflight),
                    recent_active=pr.recent_active,
                )
                for p, pr in self.tracker.progress.items()
            },
        )

    # ------------------------------------------------------------------ inputs

    def tick(self, now: float) -> None:
        if now < self._now:
            return
        self._now = now
        if self.role is Role.LEADER:
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + self.config.heartbeat_interval
                self._broadcast_heartbeat()
            tracker = self.tracker
            if now >= self._quorum_check_at:
                self._quorum_check_at = now + self.config.election_timeout
                if self.config.check_quorum and not tracker.quorum_active():
                    self._become_follower(self.term, None)
                    return
            if tracker.transferee is not None and now >= tracker.transfer_deadline:
                tracker.transferee = None
            if now >= tracker.commit_notice_at:
                self._send_commit_notices()
        elif self.timer.expired(now):
            self.campaign()

    def step(self, m: Message, now: float | None = None) -> None:
        # Timers reset and the leader lease are measured from the core's notion of "now": pass
        # the current time here (or tick() first), or a follower that only ticks at its election
        # deadline would arm its timer from a stale time and campaign right after a heartbeat.
        if now is not None and now > self._now:
            self._now = now
        if m.partition != self.partition or m.dst != self.id or m.src not in self.peers:
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
                self._msgs.append(HeartbeatResponse(self.partition, self.id, m.src, self.term))
            elif kind is VoteRequest and m.pre_vote:  # type: ignore[union-attr]
                self._msgs.append(
                    VoteResponse(self.partition, self.id, m.src, self.term, False, True)
                )
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, m)

    def propose(self, data: bytes) -> int:
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        if self.tracker.transferee is not None:
            raise ProposalDropped(f"leadership transfer to {self.tracker.transferee} in progress")
        log = self.log
        last, commit = log.last_index, log.commit
        if commit < last:
            uncommitted = log.bytes_between(commit + 1, last + 1)
            if uncommitted + len(data) + ENTRY_OVERHEAD > self.config.max_uncommitted_bytes:
                raise Backpressure(f"{uncommitted} uncommitted bytes")
        log.append((Entry(last + 1, self.term, NORMAL, data),))
        self._bcast = True
        return last + 1

    def persisted(self, index: int, term: int) -> None:
        if self.log.persisted(index, term) and self.role is Role.LEADER:
            self._maybe_commit()

    def campaign(self, transfer: bool = False) -> None:
        if self.role is Role.LEADER:
            return
        if self.config.pre_vote and not transfer:
            self._become_pre_candidate()
        else:
            self._become_candidate(transfer)

    def forget_leader(self) -> None:
        if self.role is Role.FOLLOWER:
            self.leader = None
            self.voting.forget_leader()

    def transfer_leadership(self, to: int) -> None:
        if self.role is not Role.LEADER:
            raise NotLeader(self.leader)
        tracker = self.tracker
        if to == self.id or to not in tracker.progress or to == tracker.transferee:
            return
        pr = tracker.start_transfer(to, self._now + self.config.election_timeout)
        if pr.match == self.log.last_index:
            self._msgs.append(TimeoutNow(self.partition, self.id, to, self.term))
        else:
            pr.paused = False  # catch the target up now rather than at the next heartbeat
            self._send_append(to, pr)

    def compact(self, index: int) -> None:
        self.log.compact(index)

    def restore_snapshot(self, meta: SnapshotMeta) -> bool:
        """Adopt an installed snapshot; False if this node already has everything it covers."""
        if self.role is Role.LEADER:
            raise ValueError("a leader does not restore snapshots from elsewhere")
        log = self.log
        if meta.index <= log.commit:
            return False
        if log.term(meta.index) == meta.term:
            log.commit = meta.index  # we hold the entries: just fast-forward the commit
            return True
        log.reset(meta.index, meta.term)
        self._snapshot_out = meta
        return True

    def report_snapshot(self, peer: int, ok: bool) -> None:
        pr = self.tracker.progress.get(peer)
        if pr is None or pr.state is not ProgressState.SNAPSHOT:
            return
        pr.become_probe()
        # Wait for the follower's answer (ok) or the next heartbeat (failed) before probing.
        pr.paused = True

    # ----------------------------------------------------------------- outputs

    def ready(self) -> Ready | None:
        if self._bcast or self._bcast_commit:
            self._broadcast_append()
        log = self.log
        hs: HardState | None = None
        if self.term != self._prev_hs.term or self.vote != self._prev_hs.vote:
            hs = self._prev_hs = HardState(self.term, self.vote)
        entries = log.take_unstable()
        committed = log.take_committed()
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

    # ------------------------------------------------------------ transitions

    def _become_follower(self, term: int, leader: int | None) -> None:
        if term > self.term:
            self.term = term
            self.vote = None
        self.role = Role.FOLLOWER
        self.leader = leader
        self.tracker.clear()
        self.voting.clear()
        if leader is not None:
            self.voting.heard_leader(self._now)
        self.timer.reset(self._now, leader is not None)

    def _become_pre_candidate(self) -> None:
        self.role = Role.PRE_CANDIDATE
        self.leader = None
        self.voting.start(self.id)
        self.timer.reset(self._now, False)
        if self.voting.quorum == 1:
            self._become_candidate(False)
            return
        log = self.log
        for p in self.peers:
            self._msgs.append(
                VoteRequest(
                    self.partition, self.id, p, self.term + 1, log.last_index, log.last_term, True
                )
            )

    def _become_candidate(self, transfer: bool) -> None:
        self.role = Role.CANDIDATE
        self.term += 1
        self.vote = self.id
        self.leader = None
        self.voting.start(self.id)
        self.timer.reset(self._now, False)
        if self.voting.quorum == 1:
            self._become_leader()
            return
        log = self.log
        for p in self.peers:
            # After persist: the request counts on our own vote being durable.
            self._msgs_after.append(
                VoteRequest(
                    self.partition,
                    self.id,
                    p,
                    self.term,
                    log.last_index,
                    log.last_term,
                    False,
                    transfer,
                )
            )

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self.voting.clear()
        nxt = self.log.last_index + 1
        self.tracker.reset(self.peers, nxt)
        self._next_heartbeat = self._now + self.config.heartbeat_interval
        self._quorum_check_at = self._now + self.config.election_timeout
        self.log.append((Entry(nxt, self.term, NOOP, b""),))
        self._bcast = True
        self._maybe_commit()

    def _in_lease(self) -> bool:
        return self.voting.in_lease(self._now, self.leader, self.role is Role.LEADER)

    # ------------------------------------------------------- election handlers

    def _on_vote_request(self, m: VoteRequest) -> None:
        log = self.log
        granted = Voting.grants(m, self.term, self.vote, self.leader, log.last_term, log.last_index)
        if m.pre_vote:
            term = m.term if granted else self.term
            self._msgs.append(VoteResponse(self.partition, self.id, m.src, term, granted, True))
            return
        if granted:
            self.vote = m.src
            self.timer.reset(self._now, False)
        self._msgs_after.append(
            VoteResponse(self.partition, self.id, m.src, self.term, granted, False)
        )

    def _on_vote_response(self, m: VoteResponse) -> None:
        if m.pre_vote:
            if self.role is not Role.PRE_CANDIDATE:
                return
        elif self.role is not Role.CANDIDATE:
            return
        tally = self.voting.record(m.src, m.granted)
        if tally is Tally.WON:
            if m.pre_vote:
                self._become_candidate(False)
            else:
                self._become_leader()
        elif tally is Tally.LOST:
            self._become_follower(self.term, None)

    def _on_timeout_now(self, m: TimeoutNow) -> None:
        if self.role is not Role.LEADER:
            self._become_candidate(True)

    # ------------------------------------------------------ follower handlers

    def _heard_leader(self, src: int) -> None:
        if self.role is not Role.FOLLOWER:
            self._become_follower(self.term, src)
        self.leader = src
        self.voting.heard_leader(self._now)
        self.timer.reset(self._now, True)

    def _on_append(self, m: AppendEntries) -> None:
        self._heard_leader(m.src)
        log = self.log
        entries = m.entries
        last_new = m.prev_index + len(entries)
        commit = log.commit
        if m.prev_index < commit:
            # The committed prefix matches the leader's by definition: skip it.
            if last_new <= commit:
                if m.commit_only:
                    return
                self._msgs_after.append(
                    AppendResponse(self.partition, self.id, m.src, self.term, True, commit)
                )
                return
            entries = entries[commit - m.prev_index :]
        elif log.term(m.prev_index) != m.prev_term:
            hint_index, hint_term = log.find_conflict_by_term(m.prev_index, m.prev_term)
            self._msgs_after.append(
                AppendResponse(
                    self.partition,
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
            log.append_from_leader(entries)
        if m.commit > log.commit:
            log.commit = max(log.commit, min(m.commit, last_new))
        if m.commit_only and not entries:
            return  # the leader already knows we match up to prev_index
        self._msgs_after.append(
            AppendResponse(self.partition, self.id, m.src, self.term, True, last_new)
        )

    def _on_heartbeat(self, m: Heartbeat) -> None:
        self._heard_leader(m.src)
        log = self.log
        commit = min(m.commit, log.last_index)
        if commit > log.commit:
            log.commit = commit
        self._msgs.append(HeartbeatResponse(self.partition, self.id, m.src, self.term))

    def _on_install_snapshot(self, m: InstallSnapshot) -> None:
        self._heard_leader(m.src)
        meta = SnapshotMeta(m.snapshot_index, m.snapshot_term)
        index = meta.index if self.restore_snapshot(meta) else self.log.commit
        self._msgs_after.append(
            InstallSnapshotResponse(self.partition, self.id, m.src, self.term, True, index)
        )

    # ------------------------------------------------------- leader handlers

    def _append_to(
        self,
        peer: int,
        prev_index: int,
        prev_term: int,
        commit: int,
        entries: tuple[Entry, ...] = (),
        *,
        commit_only: bool = False,
    ) -> None:
        self._msgs.append(
            AppendEntries(
                self.partition,
                self.id,
                peer,
                self.term,
                prev_index,
                prev_term,
                commit,
                entries,
                commit_only,
            )
        )

    def _answered_by(self, node: int) -> Progress | None:
        """The progress of the follower ``node`` that answered, marked recently active; None
        if this node is no longer leader (a late answer) or does not track ``node``."""
        pr = self.tracker.progress.get(node) if self.role is Role.LEADER else None
        if pr is not None:
            pr.recent_active = True
        return pr

    def _on_append_response(self, m: AppendResponse) -> None:
        pr = self._answered_by(m.src)
        if pr is None:
            return
        if m.success:
            was = pr.state
            if pr.update(m.index):
                if was is ProgressState.PROBE or (
                    was is ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot
                ):
                    pr.become_replicate()
                self._maybe_commit()
                if m.src == self.tracker.transferee and pr.match == self.log.last_index:
                    self._msgs.append(TimeoutNow(self.partition, self.id, m.src, self.term))
        else:
            j, _ = self.log.find_conflict_by_term(m.hint_index, m.hint_term)
            if not pr.reject(m.index, j + 1):
                return
        self._send_append(m.src, pr)

    def _on_heartbeat_response(self, m: HeartbeatResponse) -> None:
        pr = self.tracker.progress.get(m.src) if self.role is Role.LEADER else None
        if pr is None:
            return
        pr.heartbeat_answered(self.config.max_appends_per_follower)
        log = self.log
        last = log.last_index
        if pr.state is ProgressState.REPLICATE and pr.match < last < pr.next:
            # All sent, not all acknowledged: an append or its answer may have been lost, and
            # no new entry may come to repair it. An empty append at ``next - 1`` makes the
            # follower acknowledge what it holds, or reject it and so start a probe.
            prev_term = log.term(last)
            if prev_term is not None:
                self._append_to(m.src, last, prev_term, log.commit)
        elif pr.match < last or pr.state is ProgressState.PROBE:
            self._send_append(m.src, pr)

    def _on_install_snapshot_response(self, m: InstallSnapshotResponse) -> None:
        pr = self._answered_by(m.src)
        if pr is None:
            return
        if m.success:
            pr.update(m.index)
            pr.become_replicate()
            self._maybe_commit()
        else:
            pr.become_probe()
        self._send_append(m.src, pr)

    # ----------------------------------------------------------- replication

    def _maybe_commit(self) -> None:
        log = self.log
        q = self.tracker.quorum_index(log.durable)
        if q > log.commit and log.term(q) == self.term:
            log.commit = q
            self._bcast_commit = True

    def _broadcast_append(self) -> None:
        commit_moved = self._bcast_commit
        self._bcast = self._bcast_commit = False
        if self.role is not Role.LEADER:
            return
        delay = self.config.commit_notice_delay
        for p, pr in self.tracker.progress.items():
            self._send_append(p, pr, commit_moved and not delay)
        if commit_moved and delay:
            self.tracker.schedule_commit_notice(self._now + delay)

    def _send_commit_notices(self) -> None:
        """The delayed commit-only appends, to followers no message has told since."""
        for p, pr in self.tracker.untold(self.log.commit):
            self._send_append(p, pr, True)

    def _broadcast_heartbeat(self) -> None:
        commit = self.log.commit
        for p, pr in self.tracker.progress.items():
            told = min(commit, pr.match)
            self._msgs.append(Heartbeat(self.partition, self.id, p, self.term, told))
            if told > pr.commit_sent:
                pr.commit_sent = told

    def _send_append(self, peer: int, pr: Progress, send_commit: bool = False) -> None:
        log, cfg = self.log, self.config
        commit = log.commit
        max_inflight = cfg.max_appends_per_follower
        while pr.can_send(max_inflight):
            nxt = pr.next
            prev_term = log.term(nxt - 1)
            if prev_term is None:
                pr.become_snapshot(log.snap_index)
                self._snaps_out.append(
                    InstallSnapshot(
                        self.partition, self.id, peer, self.term, log.snap_index, log.snap_term
                    )
                )
                return
            if nxt > log.last_index:
                if pr.state is ProgressState.PROBE:
                    self._append_to(peer, nxt - 1, prev_term, commit)
                    pr.paused = True
                elif send_commit:
                    # Idle follower, commit moved: anchor at ``match`` (known to match, unlike
                    # the optimistic ``next``) so a reordered message cannot cause a reject.
                    match_term = log.term(pr.match)
                    if match_term is not None:
                        pr.commit_sent = min(commit, pr.match)
                        self._append_to(peer, pr.match, match_term, commit, commit_only=True)
                return
            hi = log.batch_end(nxt, cfg.max_append_batch_size)
            self._append_to(peer, nxt - 1, prev_term, commit, tuple(log.slice(nxt, hi)))
            pr.sent(hi - 1)
            pr.commit_sent = min(commit, hi - 1)
            send_commit = False  # the message just sent carried the commit index


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
