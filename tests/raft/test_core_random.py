"""Randomized safety and liveness (checklist item 30, and 29 under crashes).

3 or 5 cores; the network drops, reorders and duplicates messages; Readies are persisted
asynchronously and a crash loses whatever was handed out but not yet durable.  After every
step: at most one leader per term, log matching, leader completeness, committed entries never
change.  At the end the faults stop and the cluster must commit a new entry everywhere.
"""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.raft.helpers import PARTITION, Network, Storage, config
from trio_zeebe.raft import (
    NORMAL,
    Entry,
    InstallSnapshot,
    Message,
    RaftCore,
    RaftError,
    Ready,
    Role,
    SnapshotMeta,
)


class Sim:
    def __init__(self, n: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.ids = tuple(range(1, n + 1))
        self.cfg = config(max_append_batch_size=200)
        self.now = 0.0
        self.storage = {i: Storage() for i in self.ids}
        self.cores = {i: self._build(i) for i in self.ids}
        self.pending: dict[int, deque[Ready]] = {i: deque() for i in self.ids}
        self.applied = dict.fromkeys(self.ids, 0)
        self.net: list[Message] = []
        self.leader_of_term: dict[int, int] = {}
        self.committed: dict[int, Entry] = {}
        self.commit_seen_term: dict[int, int] = {}
        self.proposed = 0
        self.restarts = 0
        self.markers_lost = 0  # settle's proposals a new leader overwrote or dropped

    def _build(self, i: int) -> RaftCore:
        st = self.storage[i]
        return RaftCore(
            self.cfg,
            i,
            self.ids,
            st.hard_state,
            list(st.entries),
            st.snapshot,
            random.Random(self.rng.random()),
            self.now,
            partition=PARTITION,
        )

    # -- actions -----------------------------------------------------------

    def take_ready(self, i: int) -> None:
        core = self.cores[i]
        rd = core.ready()
        if rd is None:
            return
        self.net.extend(rd.messages)
        if rd.snapshot is not None:
            known = self.committed.get(rd.snapshot.index)
            assert known is None or known.term == rd.snapshot.term
            self.applied[i] = rd.snapshot.index
        for e in rd.committed:
            assert e.index == self.applied[i] + 1, (i, e.index, self.applied[i])
            self.applied[i] = e.index
            prev = self.committed.setdefault(e.index, e)
            assert prev == e, f"committed entry {e.index} changed: {prev} -> {e}"
            self.commit_seen_term[e.index] = min(
                self.commit_seen_term.get(e.index, core.term), core.term
            )
        for snap in rd.snapshots_to_send:
            self.net.append(snap)
            core.report_snapshot(snap.dst, True)
        self.pending[i].append(rd)

    def persist_one(self, i: int) -> None:
        if not self.pending[i]:
            return
        rd = self.pending[i].popleft()
        self.storage[i].write(rd)
        if rd.persisted_point is not None:
            self.cores[i].persisted(*rd.persisted_point)
        self.net.extend(rd.messages_after_persist)

    def deliver(self, duplicate: bool = False) -> None:
        if not self.net:
            return
        k = self.rng.randrange(len(self.net))
        m = self.net[k] if duplicate else self.net.pop(k)
        self.cores[m.dst].step(m)

    def crash(self, i: int) -> None:
        self.pending[i].clear()
        self.cores[i] = self._build(i)
        snap = self.storage[i].snapshot
        self.applied[i] = snap.index if snap else 0
        self.restarts += 1

    def compact(self, i: int) -> None:
        core, st = self.cores[i], self.storage[i]
        idx = core.applied
        if idx <= core.log.snap_index or self.pending[i]:
            return
        term = core.log.term(idx)
        assert term is not None
        core.compact(idx)
        base = (st.snapshot.index if st.snapshot else 0) + 1
        del st.entries[: idx - base + 1]
        st.snapshot = SnapshotMeta(idx, term)

    def propose(self) -> None:
        for core in self.cores.values():
            if core.role is Role.LEADER:
                try:
                    core.propose(b"v%d" % self.proposed)
                    self.proposed += 1
                except RaftError:
                    pass

    def random_step(self) -> None:
        r = self.rng.random()
        i = self.rng.choice(self.ids)
        if r < 0.30:
            self.deliver()
        elif r < 0.33:
            self.deliver(duplicate=True)
        elif r < 0.40:
            if self.net:
                self.net.pop(self.rng.randrange(len(self.net)))
        elif r < 0.58:
            self.take_ready(i)
        elif r < 0.76:
            self.persist_one(i)
        elif r < 0.88:
            self.now += self.rng.uniform(0.0, 0.4)
            for c in self.cores.values():
                c.tick(self.now)
        elif r < 0.95:
            self.propose()
        elif r < 0.955:
            self.crash(i)
        elif r < 0.975:
            self.compact(i)
        elif r < 0.98:
            for c in self.cores.values():
                if c.role is Role.LEADER:
                    c.transfer_leadership(self.rng.choice(self.ids))

    # -- invariants --------------------------------------------------------

    def check(self) -> None:
        cores = list(self.cores.values())
        for c in cores:
            if c.role is Role.LEADER:
                assert self.leader_of_term.setdefault(c.term, c.id) == c.id, "two leaders"
                self._check_leader_completeness(c)
        for a_pos, a in enumerate(cores):
            for b in cores[a_pos + 1 :]:
                self._check_log_matching(a, b)

    def _check_leader_completeness(self, c: RaftCore) -> None:
        log = c.log
        for idx, e in self.committed.items():
            if idx <= log.snap_index or self.commit_seen_term[idx] > c.term:
                continue
            assert idx <= log.last_index and log.entry(idx) == e, (
                f"leader {c.id} (term {c.term}) lacks committed entry {idx}"
            )

    @staticmethod
    def _check_log_matching(a: RaftCore, b: RaftCore) -> None:
        lo = max(a.log.first_index, b.log.first_index)
        hi = min(a.log.last_index, b.log.last_index)
        k = hi
        while k >= lo and a.log.term(k) != b.log.term(k):
            k -= 1
        if k >= lo:
            assert a.log.slice(lo, k + 1) == b.log.slice(lo, k + 1), "log matching violated"

    # -- liveness ------------------------------------------------------------

    def settle(self, rounds: int = 400) -> None:
        """No more faults: everything is delivered and persisted; time moves in heartbeats.

        Progress means one ``b"final"`` proposal committed and applied everywhere. A proposal
        can be lost to a new leader; then it is proposed again (see :func:`marker_lost`).
        """
        marker: Entry | None = None
        for _ in range(rounds):
            for i in self.ids:
                self.take_ready(i)
                while self.pending[i]:
                    self.persist_one(i)
            while self.net:
                m = self.net.pop(0)
                self.cores[m.dst].step(m)
            self.check()
            leaders = [c for c in self.cores.values() if c.role is Role.LEADER]
            leader = max(leaders, key=lambda c: c.term) if leaders else None
            if marker is not None and marker_lost(marker, self.committed, leader):
                marker = None
                self.markers_lost += 1
            if marker is None and leader is not None:
                try:
                    index = leader.propose(b"final")
                except RaftError:
                    pass
                else:
                    marker = leader.log.entry(index)
            if (
                marker is not None
                and self.committed.get(marker.index) == marker
                and all(self.applied[i] >= marker.index for i in self.ids)
            ):
                return
            self.now += 0.25
            for c in self.cores.values():
                c.tick(self.now)
        raise AssertionError(f"seed {self.seed}: no progress after faults stopped")


def marker_lost(marker: Entry, committed: dict[int, Entry], leader: RaftCore | None) -> bool:
    """Can the waiting proposal ``marker`` no longer be expected to commit?

    Either another entry was committed at its index, or a leader of a later term does not hold
    it: that leader overwrites or drops it (a log shorter than ``marker.index`` simply ends
    before it, and nothing commits there until something new is proposed). An entry of an
    older term can still commit afterwards (a later leader may hold it); proposing again is
    then harmless, the test waits for whichever proposal it holds last.
    """
    known = committed.get(marker.index)
    if known is not None:
        return known != marker
    if leader is None or leader.term <= marker.term or marker.index <= leader.log.snap_index:
        return False
    return leader.log.term(marker.index) != marker.term


def run(n: int, seed: int, steps: int) -> Sim:
    sim = Sim(n, seed)
    for _ in range(steps):
        sim.random_step()
        sim.check()
    sim.settle()
    return sim


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("n", [3, 5])
def test_random_faults_keep_raft_safe_and_live(n: int, seed: int) -> None:
    sim = run(n, seed, 5000)
    assert len(sim.committed) > 1


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([3, 5]))
def test_random_faults_hypothesis_seeds(seed: int, n: int) -> None:
    run(n, seed, 1500)


@pytest.mark.parametrize("n, seed", [(5, 186009), (5, 4165511510)])
def test_settle_proposes_again_when_a_new_leader_drops_its_proposal(n: int, seed: int) -> None:
    # Seeds the hypothesis test once found: settle's first proposal went to a leader that was
    # deposed at once, by one whose log ended before it; the group stayed live, the test waited.
    sim = run(n, seed, 1500)
    assert sim.markers_lost >= 1


def test_marker_lost_when_a_later_leader_does_not_hold_it() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(1)
    old = net.core(1)
    old.propose(b"a")
    marker = old.log.entry(old.propose(b"final"))
    net.stabilize()
    assert not marker_lost(marker, {}, old)  # its own leader still holds it
    net.core(3).forget_leader()
    net.elect(2)
    new = net.core(2)
    assert new.log.last_index < marker.index  # the new log ends before the marker ...
    assert marker_lost(marker, {}, new)  # ... so nothing would ever commit there
    net.heal()
    net.advance(1.0)
    committed = {e.index: e for e in net.nodes[2].applied}
    assert marker.index not in committed
    assert marker_lost(marker, committed, new)
    assert marker_lost(marker, {marker.index: Entry(marker.index, new.term, NORMAL, b"x")}, None)
    assert not marker_lost(marker, {marker.index: marker}, new)


def test_marker_kept_while_a_later_leader_holds_it() -> None:
    net = Network(3)
    net.elect(1)
    old = net.core(1)
    net.drop = lambda m: m.dst == 3  # node 2 alone receives the proposal
    marker = old.log.entry(old.propose(b"final"))
    net.stabilize()
    net.drop = lambda m: False
    net.isolate(1)
    net.core(3).forget_leader()
    net.elect(2)
    new = net.core(2)
    assert new.term > marker.term and new.log.term(marker.index) == marker.term
    assert not marker_lost(marker, {}, new)  # the new leader commits it with its no-op


def test_random_run_makes_real_progress() -> None:
    sim = run(3, 1234, 4000)
    assert sim.proposed > 20 and len(sim.committed) > 20 and sim.restarts > 0
    assert isinstance(next(iter(sim.committed.values())), Entry)
    assert not any(isinstance(m, InstallSnapshot) for m in sim.net)
