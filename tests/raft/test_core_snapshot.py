"""Snapshots, compaction, restart and asynchronous persistence (checklist items 25, 29)."""

from __future__ import annotations

import pytest

from tests.raft.helpers import PARTITION, Network, drain, ents, make_core, make_leader
from trio_zeebe.raft import (
    AppendEntries,
    AppendResponse,
    Entry,
    InstallSnapshot,
    InstallSnapshotResponse,
    ProgressState,
    Role,
    SnapshotMeta,
)


def _lagging_follower_after_compaction() -> Network:
    net = Network(3)
    net.elect(1)
    net.crash(3)
    for _ in range(10):
        net.propose()
    for i in (1, 2):
        net.core(i).compact(net.core(i).applied)
    assert net.core(1).log.snap_index == 11
    return net


# 25 --------------------------------------------------------------------------


def test_follower_behind_compaction_point_gets_snapshot_then_entries() -> None:
    net = _lagging_follower_after_compaction()
    sent: list[InstallSnapshot] = []
    real_process = net.process

    def process(i: int):  # type: ignore[no-untyped-def]
        rd = real_process(i)
        if rd is not None:
            sent.extend(rd.snapshots_to_send)
        return rd

    net.process = process  # type: ignore[method-assign]
    net.restart(3)
    net.advance(0.5)
    assert [(s.dst, s.snapshot_index) for s in sent] == [(3, 11)]
    assert net.nodes[3].storage.snapshot == SnapshotMeta(11, 1)
    net.propose(b"after")
    assert net.core(3).log.last_index == net.core(1).log.last_index
    net.advance(net.cfg.commit_notice_delay)  # the commit reaches an idle follower
    assert net.nodes[3].applied[-1].data == b"after"
    assert net.core(1).progress[3].state is ProgressState.REPLICATE


def test_pending_snapshot_pauses_replication_to_that_follower() -> None:
    c = make_leader(log=[1] * 5, term=1)  # no-op at 6; both followers probing at prev=5
    c.step(AppendResponse(PARTITION, 2, 1, c.term, True, 6))
    drain(c)
    c.compact(c.applied)
    assert c.log.snap_index == 6
    # 3 has an empty log: its reject hint points below the leader's snapshot.
    c.step(AppendResponse(PARTITION, 3, 1, c.term, False, 5, 0, 0))
    rd = drain(c)
    assert [(s.dst, s.snapshot_index, s.snapshot_term) for s in rd.snapshots_to_send] == [(3, 6, 2)]
    assert c.progress[3].state is ProgressState.SNAPSHOT
    c.propose(b"y")
    rd = drain(c)
    assert not [m for m in rd.messages if isinstance(m, AppendEntries) and m.dst == 3]
    assert [m for m in rd.messages if isinstance(m, AppendEntries) and m.dst == 2]
    # The follower installs it and answers; replication resumes from the snapshot.
    c.step(InstallSnapshotResponse(PARTITION, 3, 1, c.term, True, 6))
    assert c.progress[3].state is ProgressState.REPLICATE
    (m,) = [m for m in drain(c).messages if isinstance(m, AppendEntries) and m.dst == 3]
    assert m.prev_index == 6 and [e.data for e in m.entries] == [b"y"]


def test_failed_snapshot_is_retried_after_heartbeat() -> None:
    net = _lagging_follower_after_compaction()
    attempts: list[InstallSnapshot] = []
    net.drop = lambda m: isinstance(m, InstallSnapshot) and (attempts.append(m) or True)
    net.restart(3)
    net.advance(1.0)
    assert len(attempts) >= 2  # each failure is reported; the leader retries after a heartbeat
    assert net.core(1).progress[3].state is not ProgressState.REPLICATE
    net.drop = lambda m: False
    net.advance(0.5)
    assert net.core(1).progress[3].state is ProgressState.REPLICATE
    assert net.core(3).log.snap_index == 11


def test_snapshot_covering_what_follower_has_committed_is_acked_without_reset() -> None:
    f = make_core(2, term=1, log=[1, 1, 1])
    drain(f)
    f.step(AppendEntries(PARTITION, 1, 2, 1, 3, 1, 3))
    drain(f)
    assert f.commit == 3
    f.step(InstallSnapshot(PARTITION, 1, 2, 1, 2, 1))
    rd = drain(f)
    assert rd.snapshot is None and f.log.last_index == 3
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, InstallSnapshotResponse) and resp.index == 3


def test_install_snapshot_resets_log_and_applies_from_there() -> None:
    f = make_core(2, term=1, log=[1, 1])
    drain(f)
    f.step(InstallSnapshot(PARTITION, 1, 2, 2, 10, 2))
    rd = drain(f)
    assert rd.snapshot == SnapshotMeta(10, 2) and f.log.last_index == 10 and f.commit == 10
    assert f.leader == 1 and f.term == 2
    f.step(AppendEntries(PARTITION, 1, 2, 2, 10, 2, 11, (Entry(11, 2, 1, b"n"),)))
    rd = drain(f)
    assert [e.index for e in rd.entries] == [11]
    assert [e.index for e in drain(f).committed] == [11]


def test_compact_beyond_applied_is_refused() -> None:
    c = make_leader(voters=(1,))
    with pytest.raises(ValueError):
        c.compact(c.applied + 1)


def test_leader_ignores_restore_snapshot() -> None:
    c = make_leader(voters=(1,))
    with pytest.raises(ValueError):
        c.restore_snapshot(SnapshotMeta(5, 1))


# 29 --------------------------------------------------------------------------


def test_restart_from_hard_state_and_log() -> None:
    net = Network(3)
    net.elect(1)
    for _ in range(3):
        net.propose()
    storage = net.nodes[2].storage
    net.crash(2)
    net.restart(2)
    c = net.core(2)
    assert (c.term, c.vote) == (storage.hard_state.term, storage.hard_state.vote)
    assert c.log.last_index == 4 and c.commit == 0  # commit is relearned, not persisted
    net.advance(0.5)
    assert c.commit == 4 and [e.index for e in net.nodes[2].applied] == [1, 2, 3, 4]


def test_restart_from_snapshot_and_log_tail() -> None:
    c = make_core(2, term=3, vote=1, snapshot=SnapshotMeta(5, 2), log=[2, 3])
    assert c.log.snap_index == 5 and c.log.last_index == 7 and c.commit == 5
    assert c.log.term(5) == 2 and c.log.term(4) is None
    c.step(AppendEntries(PARTITION, 1, 2, 3, 7, 3, 7))
    assert [e.index for e in drain(c).committed] == [6, 7]


def test_single_node_restart_commits_again_after_noop() -> None:
    net = Network(1)
    net.elect(1)
    net.propose(b"a")
    net.crash(1)
    net.restart(1)
    net.advance(6.0)
    assert net.core(1).role is Role.LEADER and net.core(1).term == 2
    assert [e.data for e in net.nodes[1].applied if e.data] == [b"a"]


def test_stale_persisted_point_after_overwrite_is_ignored_aba() -> None:
    f = make_core(2, term=1, log=[1])
    drain(f)
    # Ready A: entries 2-3 of term 1 (not yet durable).
    f.step(AppendEntries(PARTITION, 1, 2, 1, 1, 1, 0, tuple(ents(1, 1, start=2))))
    rd_a = f.ready()
    assert rd_a is not None and rd_a.persisted_point == (3, 1)
    # A new leader overwrites index 2.. with term 2 (Ready B) and commits 2.
    f.step(AppendEntries(PARTITION, 3, 2, 2, 1, 1, 2, (Entry(2, 2, 1, b"B"),)))
    rd_b = f.ready()
    assert rd_b is not None and rd_b.entries[0].index == 2  # the driver truncates from 2
    assert [e.index for e in rd_b.committed] == [1]  # durable and committed
    f.persisted(*rd_a.persisted_point)  # A's fsync completes late: index 3 no longer exists
    f.persisted(2, 1)  # ... or names an entry that was replaced
    assert f.durable == 1
    rd = f.ready()
    assert rd is None or rd.committed == []
    f.persisted(*rd_b.persisted_point)  # type: ignore[misc]
    assert [e.data for e in drain(f).committed] == [b"B"]


def test_unpersisted_entries_are_lost_on_crash_but_nothing_acked_is() -> None:
    net = Network(3)
    net.elect(1)
    net.propose(b"acked")
    net.crash(2)
    net.crash(3)
    net.core(1).propose(b"unacked")
    net.core(1).ready()  # handed out but the "fsync" never happened: storage untouched
    net.crash(1)
    for i in net.ids:
        net.restart(i)
    net.advance(10.0)
    leader = net.leader()
    datas = [e.data for e in net.core(leader).log.slice(1, net.core(leader).log.last_index + 1)]
    assert b"acked" in datas and b"unacked" not in datas
