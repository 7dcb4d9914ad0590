"""A tiny in-memory cluster for driving RaftCores in tests: instant fsync, explicit delivery."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from trio_zeebe.raft import (
    NORMAL,
    Entry,
    HardState,
    Message,
    RaftConfig,
    RaftCore,
    Ready,
    Role,
    SnapshotMeta,
    VoteResponse,
)

PARTITION = 7


def config(**kw: Any) -> RaftConfig:
    return RaftConfig(**kw)


def ents(*terms: int, start: int = 1) -> list[Entry]:
    """Entries with the given terms at consecutive indexes from ``start``."""
    return [Entry(start + i, t, NORMAL, b"") for i, t in enumerate(terms)]


def make_core(
    node_id: int = 1,
    voters: tuple[int, ...] = (1, 2, 3),
    term: int = 0,
    vote: int | None = None,
    log: Iterable[int] = (),
    now: float = 0.0,
    snapshot: SnapshotMeta | None = None,
    **cfg: Any,
) -> RaftCore:
    start = snapshot.index + 1 if snapshot else 1
    return RaftCore(
        config(**cfg),
        node_id,
        voters,
        HardState(term, vote),
        ents(*log, start=start),
        snapshot,
        random.Random(node_id),
        now,
        partition=PARTITION,
    )


def make_leader(voters: tuple[int, ...] = (1, 2, 3), **kw: Any) -> RaftCore:
    """Node 1 elected leader (its no-op appended and durable); outputs drained."""
    kw.setdefault("pre_vote", False)
    c = make_core(1, voters, **kw)
    c.campaign()
    for v in voters[1:]:
        c.step(VoteResponse(PARTITION, v, 1, c.term, True))
    assert c.role is Role.LEADER
    drain(c)
    return c


def drain(core: RaftCore) -> Ready:
    """Take the Ready, pretend it is durable at once, and return it."""
    rd = core.ready()
    assert rd is not None
    if rd.persisted_point is not None:
        core.persisted(*rd.persisted_point)
    return rd


def sent(rd: Ready | None) -> list[Message]:
    return [] if rd is None else rd.messages + rd.messages_after_persist


@attrs.define
class Storage:
    hard_state: HardState = attrs.Factory(HardState)
    snapshot: SnapshotMeta | None = None
    entries: list[Entry] = attrs.Factory(list)

    def write(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.entries:
            base = (self.snapshot.index if self.snapshot else 0) + 1
            del self.entries[rd.entries[0].index - base :]
            assert not self.entries or self.entries[-1].index == rd.entries[0].index - 1
            self.entries.extend(rd.entries)
        if rd.hard_state is not None:
            self.hard_state = rd.hard_state


@attrs.define
class Node:
    core: RaftCore
    storage: Storage
    applied: list[Entry] = attrs.Factory(list)
    applied_index: int = 0


class Network:
    """Cores keyed by id; ``stabilize`` runs Ready -> fsync -> deliver until quiet."""

    def __init__(self, n: int = 3, seed: int = 0, timers: dict[int, Any] | None = None, **cfg: Any):
        self.ids = tuple(range(1, n + 1))
        self.cfg = config(**cfg)
        self.now = 0.0
        self.seed = seed
        self.timers = timers or {}
        self.nodes: dict[int, Node] = {}
        self.queue: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        self.drop: Callable[[Message], bool] = lambda m: False
        self.down: set[int] = set()
        for i in self.ids:
            self.nodes[i] = Node(self._build(i, Storage()), Storage())

    def _build(self, i: int, st: Storage) -> RaftCore:
        return RaftCore(
            self.cfg,
            i,
            self.ids,
            st.hard_state,
            list(st.entries),
            st.snapshot,
            random.Random(self.seed * 1000 + i),
            self.now,
            self.timers.get(i),
            partition=PARTITION,
        )

    def preload(self, i: int, terms: Iterable[int], term: int = 0) -> None:
        """Give node ``i`` a durable log with these entry terms (and current term)."""
        st = Storage(HardState(term, None), None, ents(*terms))
        self.nodes[i] = Node(self._build(i, st), st)

    def core(self, i: int) -> RaftCore:
        return self.nodes[i].core

    # -- running -------------------------------------------------------------

    def process(self, i: int) -> Ready | None:
        node = self.nodes[i]
        rd = node.core.ready()
        if rd is None:
            return None
        node.storage.write(rd)
        self.send(rd.messages)
        if rd.persisted_point is not None:
            node.core.persisted(*rd.persisted_point)
        self.send(rd.messages_after_persist)
        if rd.snapshot is not None:
            node.applied_index = rd.snapshot.index
        for e in rd.committed:
            assert e.index == node.applied_index + 1, (i, e.index, node.applied_index)
            node.applied.append(e)
            node.applied_index = e.index
        for snap in rd.snapshots_to_send:
            # The data moves "out of band", instantly, unless the network eats the transfer.
            ok = snap.dst not in self.down and (i, snap.dst) not in self.cut and not self.drop(snap)
            if ok:
                self.queue.append(snap)
            node.core.report_snapshot(snap.dst, ok)
        return rd

    def send(self, msgs: Iterable[Message]) -> None:
        for m in msgs:
            if (m.src, m.dst) in self.cut or m.dst in self.down or self.drop(m):
                continue
            self.queue.append(m)

    def deliver(self) -> int:
        msgs, self.queue = self.queue, []
        for m in msgs:
            if m.dst not in self.down and (m.src, m.dst) not in self.cut:
                self.nodes[m.dst].core.step(m)
        return len(msgs)

    def stabilize(self, rounds: int = 200) -> None:
        for _ in range(rounds):
            busy = False
            for i in self.ids:
                if i not in self.down and self.process(i) is not None:
                    busy = True
            if self.deliver():
                busy = True
            if not busy:
                return
        raise AssertionError("network did not stabilize")

    def advance(self, seconds: float, step: float | None = None) -> None:
        """Move time forward in heartbeat-sized steps, stabilizing after each."""
        step = step or self.cfg.heartbeat_interval
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = min(end, self.now + step)
            for i in self.ids:
                if i not in self.down:
                    self.core(i).tick(self.now)
            self.stabilize()

    def elect(self, i: int) -> None:
        self.core(i).campaign()
        self.stabilize()
        assert self.core(i).role is Role.LEADER, self.core(i).status()

    def propose(self, data: bytes = b"x") -> int:
        idx = self.core(self.leader()).propose(data)
        self.stabilize()
        return idx

    def leader(self) -> int:
        leaders = [i for i in self.ids if i not in self.down and self.core(i).role is Role.LEADER]
        assert leaders, "no leader"
        return max(leaders, key=lambda i: self.core(i).term)

    # -- faults --------------------------------------------------------------

    def isolate(self, i: int) -> None:
        for j in self.ids:
            if j != i:
                self.cut |= {(i, j), (j, i)}

    def heal(self) -> None:
        self.cut.clear()

    def crash(self, i: int) -> None:
        self.down.add(i)

    def restart(self, i: int) -> None:
        """Rebuild from durable state only (everything written in a processed Ready)."""
        self.down.discard(i)
        node = self.nodes[i]
        node.core = self._build(i, node.storage)
        node.applied = []
        node.applied_index = node.storage.snapshot.index if node.storage.snapshot else 0

    def log_terms(self, i: int) -> list[int]:
        log = self.core(i).log
        return [e.term for e in log.slice(log.first_index, log.last_index + 1)]
