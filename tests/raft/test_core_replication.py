"""Log replication and commit (checklist items 8, 10-16, 23, 24)."""

from __future__ import annotations

import pytest

from tests.raft.helpers import PARTITION, Network, drain, ents, make_core, make_leader
from trio_zeebe.raft import (
    NOOP,
    AppendEntries,
    AppendResponse,
    Backpressure,
    Entry,
    Heartbeat,
    HeartbeatResponse,
    ProgressState,
    Role,
    VoteResponse,
)


def ack(src: int, term: int, index: int) -> AppendResponse:
    return AppendResponse(PARTITION, src, 1, term, True, index)


def replicating(c):
    """Every follower acked the leader's no-op: all progresses in REPLICATE."""
    for p in c.peers:
        c.step(ack(p, c.term, c.log.last_index))
    drain(c)
    return c


def appends(msgs: list, dst: int | None = None) -> list[AppendEntries]:
    return [m for m in msgs if isinstance(m, AppendEntries) and dst in (None, m.dst)]


# 8 ---------------------------------------------------------------------------


def test_new_leader_overwrites_followers_newer_uncommitted_entries() -> None:
    net = Network(3, pre_vote=False)
    net.preload(1, [1], term=2)
    net.preload(2, [1], term=2)
    net.preload(3, [1, 2], term=2)
    net.elect(1)  # 2 grants; 3 refuses (its log is newer) but is outvoted
    assert net.core(1).term == 3
    assert [net.log_terms(i) for i in net.ids] == [[1, 3]] * 3
    assert net.nodes[3].storage.entries == net.nodes[1].storage.entries


def test_deposed_leaders_tail_beyond_the_new_leaders_log_is_dropped_not_committed() -> None:
    # The new leader's log ends before the old leader's last entry: its no-op overwrites one
    # index, the later one is simply gone. The group is live (the no-op commits everywhere), but
    # nothing will commit at that index until something new is proposed: whoever waits for the
    # old proposal must notice that it was lost (the driver fails it on losing leadership).
    net = Network(3)
    net.elect(1)
    net.isolate(1)
    old = net.core(1)
    old.propose(b"a")
    final = old.propose(b"final")
    net.stabilize()
    old_term = old.term
    net.core(3).forget_leader()  # no lease: node 3 may vote for node 2 at once
    net.elect(2)
    net.heal()
    net.advance(1.0)
    new = net.core(2)
    assert new.term > old_term and old.role is Role.FOLLOWER
    assert [net.log_terms(i) for i in net.ids] == [[old_term, new.term]] * 3
    assert all(net.core(i).commit == final - 1 for i in net.ids)  # the no-op, everywhere
    assert all(e.data != b"final" for i in net.ids for e in net.nodes[i].applied)
    assert net.propose(b"again") == final
    net.advance(0.25)  # followers learn the commit with the delayed notice
    assert all(net.nodes[i].applied[-1].data == b"again" for i in net.ids)


# 10 --------------------------------------------------------------------------


def test_leader_replicates_new_entry_to_all_followers_at_once() -> None:
    c = replicating(make_leader())
    idx = c.propose(b"a")
    rd = drain(c)
    assert [e.data for e in rd.entries] == [b"a"]
    # AppendEntries do not wait for the leader's own fsync.
    msgs = appends(rd.messages)
    assert sorted(m.dst for m in msgs) == [2, 3]
    for m in msgs:
        assert m.entries[-1].index == idx and m.entries[-1].data == b"a"
    assert not rd.messages_after_persist


@pytest.mark.parametrize(
    ("size", "acks", "committed"),
    [
        (1, [], True),
        (3, [], False),
        (3, [2], True),
        (3, [2, 3], True),
        (5, [2], False),
        (5, [2, 3], True),
        (5, [2, 3, 4, 5], True),
    ],
)
def test_leader_commits_on_majority_including_own_durable_log(
    size: int, acks: list[int], committed: bool
) -> None:
    c = make_leader(voters=tuple(range(1, size + 1)))
    idx = c.propose(b"x")
    drain(c)
    for src in acks:
        c.step(ack(src, c.term, idx))
    assert (c.commit == idx) is committed
    rd = c.ready()
    assert (rd is not None and [e.data for e in rd.committed][-1:] == [b"x"]) is committed


def test_leader_counts_itself_only_up_to_its_durable_index() -> None:
    c = make_leader(voters=(1, 2, 3))
    idx = c.propose(b"x")
    rd = c.ready()  # handed to the driver, not yet durable
    assert rd is not None and rd.persisted_point is not None
    c.step(ack(2, c.term, idx))
    assert c.commit < idx  # node 2 alone is not a majority while the leader has not synced
    c.persisted(*rd.persisted_point)
    assert c.commit == idx


def test_leader_commit_needs_own_fsync_when_follower_alone_is_not_enough() -> None:
    c = make_leader(voters=(1, 2, 3, 4, 5))
    idx = c.propose(b"x")
    rd = c.ready()
    assert rd is not None and rd.persisted_point is not None
    c.step(ack(2, c.term, idx))
    c.step(ack(3, c.term, idx))
    assert c.commit < idx  # 2 followers + a non-durable leader is no quorum of 5
    c.persisted(*rd.persisted_point)
    assert c.commit == idx


def test_leader_commits_preceding_entries_of_older_terms() -> None:
    c = make_leader(log=[1, 2], term=2)
    assert c.log.last_index == 3 and c.log.entry(3).kind == NOOP
    c.step(ack(2, c.term, 3))
    assert c.commit == 3
    assert [e.index for e in drain(c).committed] == [1, 2, 3]


def test_committed_entries_are_applied_in_order_on_every_node() -> None:
    net = Network(3)
    net.elect(1)
    for k in range(10):
        net.core(1).propose(b"%d" % k)
    net.stabilize()
    net.advance(0.5)
    for i in net.ids:
        assert [e.data for e in net.nodes[i].applied if e.kind != NOOP] == [
            b"%d" % k for k in range(10)
        ]


# 11 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prev", "prev_term", "success", "hint"),
    [
        (0, 0, True, None),
        (2, 2, True, None),
        (1, 1, True, None),
        (2, 1, False, (1, 1)),  # term mismatch at 2: back to the last term-1 entry
        (3, 2, False, (2, 2)),  # beyond our log: hint our last entry
        (3, 3, False, (2, 2)),
    ],
)
def test_follower_checks_prev_index_and_term(
    prev: int, prev_term: int, success: bool, hint: tuple[int, int] | None
) -> None:
    c = make_core(term=2, log=[1, 2])
    drain(c)
    c.step(AppendEntries(PARTITION, 2, 1, 2, prev, prev_term, 0))
    rd = drain(c)
    assert not rd.messages
    (resp,) = rd.messages_after_persist  # acked only after fsync
    assert isinstance(resp, AppendResponse) and resp.success is success
    if hint is not None:
        assert (resp.index, resp.hint_index, resp.hint_term) == (prev, *hint)


@pytest.mark.parametrize(
    ("prev", "prev_term", "new", "want"),
    [
        (2, 2, [(3, 3)], [1, 2, 3]),
        (1, 1, [(2, 3), (3, 4)], [1, 3, 4]),
        (0, 0, [(1, 1)], [1, 2]),
        (0, 0, [(1, 3)], [3]),
        (1, 1, [(2, 2), (3, 2)], [1, 2, 2]),
    ],
)
def test_follower_truncates_conflict_then_appends(
    prev: int, prev_term: int, new: list[tuple[int, int]], want: list[int]
) -> None:
    c = make_core(term=2, log=[1, 2])
    drain(c)
    es = tuple(Entry(i, t, 1, b"") for i, t in new)
    c.step(AppendEntries(PARTITION, 2, 1, 3, prev, prev_term, 0, es))
    rd = drain(c)
    assert [e.term for e in c.log.slice(1, c.log.last_index + 1)] == want
    if rd.entries:
        # The driver truncates its durable log from the first index handed out.
        assert rd.entries[0].index == next(
            i + 1 for i, t in enumerate(want) if i >= 2 or [1, 2][i] != t
        )


# 12 / 16 ---------------------------------------------------------------------

FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIG7_FOLLOWERS = [
    [1, 1, 1, 4, 4, 5, 5, 6, 6],
    [1, 1, 1, 4],
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    [1, 1, 1, 4, 4, 4, 4],
    [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
]


@pytest.mark.parametrize("follower", FIG7_FOLLOWERS)
def test_leader_repairs_divergent_follower_logs_figure7(follower: list[int]) -> None:
    net = Network(3, pre_vote=False)
    net.preload(1, FIG7_LEADER, term=8)
    net.preload(2, follower, term=8)
    net.preload(3, FIG7_LEADER, term=8)
    rejects: list[AppendResponse] = []
    net.drop = _recorder(rejects)
    net.elect(1)
    assert net.log_terms(2) == [*FIG7_LEADER, 9]
    # Conflict hints: at most one rejected round trip per divergent term, never one per entry.
    assert len(rejects) <= 3


def _recorder(rejects: list[AppendResponse]):
    def drop(m: object) -> bool:
        if isinstance(m, AppendResponse) and not m.success:
            rejects.append(m)
        return False

    return drop


def test_fast_log_rejection_skips_a_whole_term_per_round_trip() -> None:
    net = Network(3, pre_vote=False)
    leader = [1] * 3 + [2] * 50 + [4] * 50
    net.preload(1, leader, term=5)
    net.preload(3, leader, term=5)
    net.preload(2, [1] * 3 + [3] * 200, term=5)
    rejects: list[AppendResponse] = []
    net.drop = _recorder(rejects)
    net.elect(1)
    assert net.log_terms(2) == [*leader, 6]
    assert len(rejects) <= 2


def test_reordered_appends_are_harmless() -> None:
    c = replicating(make_leader(max_appends_per_follower=4, max_append_batch_size=20))
    f = make_core(2, term=c.term, log=[e.term for e in c.log.slice(1, c.log.last_index + 1)])
    drain(f)
    c.propose(b"a")
    c.propose(b"b")
    msgs = appends(drain(c).messages, 2)
    assert len(msgs) == 2  # one entry per message (tiny batches), both in flight
    f.step(msgs[1])  # arrives first: prev not found -> reject
    f.step(msgs[0])
    f.step(msgs[1])  # duplicate arrives again
    rd = drain(f)
    for m in rd.messages_after_persist:
        c.step(m)
    assert c.progress[2].match == c.log.last_index
    assert c.progress[2].state is ProgressState.REPLICATE  # the stale reject was ignored
    assert [e.data for e in f.log.slice(1, f.log.last_index + 1)][-2:] == [b"a", b"b"]


# 13 --------------------------------------------------------------------------


def test_only_current_term_entries_committed_by_counting_replicas() -> None:
    c = make_leader(log=[1, 2], term=2)  # leader of term 3; no-op at 3
    c.step(ack(2, c.term, 2))  # a majority stores index 2 (term 2) ...
    assert c.commit == 0  # ... but that is not a current-term entry (Raft fig. 8)
    c.step(ack(2, c.term, 3))
    assert c.commit == 3


# 14 --------------------------------------------------------------------------


def test_follower_commit_follows_leader_and_applies_only_durable_entries() -> None:
    f = make_core(2, term=1)
    drain(f)
    f.step(AppendEntries(PARTITION, 1, 2, 1, 0, 0, 2, tuple(ents(1, 1))))
    assert f.commit == 2
    rd = f.ready()
    assert rd is not None and rd.committed == []  # not durable yet
    f.persisted(2, 1)
    rd = f.ready()
    assert rd is not None and [e.index for e in rd.committed] == [1, 2]


def test_follower_commit_is_capped_by_what_the_leader_matched() -> None:
    f = make_core(2, term=1, log=[1, 1, 1])
    drain(f)
    f.step(AppendEntries(PARTITION, 1, 2, 2, 1, 1, 5))  # prev=1; entries 2-3 unverified
    assert f.commit == 1


def test_lagging_follower_learns_commit_from_heartbeat() -> None:
    net = Network(3)
    net.elect(1)
    net.drop = lambda m: isinstance(m, AppendEntries) and m.dst == 3 and m.entries == ()
    net.propose(b"a")
    idx = net.core(1).log.last_index
    assert net.core(1).commit == idx
    net.drop = lambda m: False
    net.advance(0.25)
    assert net.core(3).commit == idx and net.nodes[3].applied[-1].data == b"a"


# 15 --------------------------------------------------------------------------


def test_messages_from_deposed_leader_are_ignored() -> None:
    net = Network(3, pre_vote=False, check_quorum=False)
    net.elect(1)
    net.elect(2)
    net.elect(1)
    before = net.log_terms(1)
    stale = AppendEntries(PARTITION, 2, 1, 2, 3, 2, 0, (Entry(4, 2, 1, b"old"),))
    net.core(1).step(stale)
    net.stabilize()
    assert net.log_terms(1) == before and net.core(1).role is Role.LEADER


# 23 --------------------------------------------------------------------------


def test_probe_sends_one_append_then_pauses_until_answered() -> None:
    c = make_core(log=[1, 1], term=1, pre_vote=False)
    c.campaign()
    c.step(VoteResponse(PARTITION, 2, 1, 2, True))
    (probe,) = appends(drain(c).messages, 2)
    assert (probe.prev_index, probe.prev_term, len(probe.entries)) == (2, 1, 1)
    for _ in range(3):
        c.propose(b"x")
    assert appends(drain(c).messages, 2) == []  # paused: the probe is unanswered
    assert c.progress[2].state is ProgressState.PROBE and c.progress[2].paused
    c.step(ack(2, c.term, 3))
    assert c.progress[2].state is ProgressState.REPLICATE
    (m,) = [m for m in appends(drain(c).messages, 2) if m.entries]
    assert [e.index for e in m.entries] == [4, 5, 6]


def test_heartbeat_response_resumes_paused_probe() -> None:
    c = make_leader(log=[1, 1], term=1)
    c.propose(b"x")
    drain(c)
    c.step(HeartbeatResponse(PARTITION, 2, 1, c.term))
    (m,) = appends(drain(c).messages, 2)
    assert m.prev_index == 2 and len(m.entries) == 2  # probing again from next = 3


def test_replicate_window_limits_inflight_messages_and_batches() -> None:
    c = make_leader(max_appends_per_follower=2, max_append_batch_size=100)
    c.step(ack(2, c.term, c.log.last_index))
    drain(c)
    assert c.progress[2].state is ProgressState.REPLICATE
    for _ in range(20):
        c.propose(b"x" * 40)  # 56 charged bytes each: one entry per 100-byte batch
    msgs = appends(drain(c).messages, 2)
    assert len(msgs) == 2 and all(len(m.entries) == 1 for m in msgs)
    assert len(c.progress[2].inflight) == 2
    c.step(ack(2, c.term, msgs[0].entries[-1].index))  # frees one slot -> one more message
    (m3,) = appends(drain(c).messages, 2)
    assert m3.prev_index == msgs[1].entries[-1].index


def test_batch_carries_at_least_one_entry_even_if_oversized() -> None:
    c = make_leader(max_append_batch_size=10)
    c.step(ack(2, c.term, c.log.last_index))
    drain(c)
    c.propose(b"y" * 1000)
    (m,) = appends(drain(c).messages, 2)
    assert len(m.entries) == 1 and len(m.entries[0].data) == 1000


def test_many_small_entries_are_batched_into_few_messages() -> None:
    c = make_leader(max_append_batch_size=32 * 1024)
    c.step(ack(2, c.term, c.log.last_index))
    drain(c)
    for _ in range(1000):
        c.propose(b"z" * 10)
    msgs = appends(drain(c).messages, 2)
    assert len(msgs) == 1 and len(msgs[0].entries) == 1000


def test_heartbeat_response_frees_a_full_window_whose_messages_were_lost() -> None:
    c = make_leader(max_appends_per_follower=1)
    c.step(ack(2, c.term, c.log.last_index))
    drain(c)
    c.propose(b"a")
    assert len(appends(drain(c).messages, 2)) == 1  # lost in the network
    c.propose(b"b")
    assert appends(drain(c).messages, 2) == []
    c.step(HeartbeatResponse(PARTITION, 2, 1, c.term))
    assert len(appends(drain(c).messages, 2)) == 1


def test_heartbeat_response_repairs_a_lost_last_append_with_no_new_entries() -> None:
    """The last append (or its answer) was lost and nothing new is proposed: a heartbeat
    round must still get the entry acknowledged, or it never commits."""
    c = replicating(make_leader())
    idx = c.propose(b"last")
    assert len(appends(drain(c).messages)) == 2  # both lost in the network
    assert c.commit < idx
    c.step(HeartbeatResponse(PARTITION, 2, 1, c.term))
    (m,) = appends(drain(c).messages, 2)
    # An empty append anchored at the last entry: a follower holding it acknowledges it
    # (its earlier answer was lost), one missing it rejects and gets probed.
    assert (m.prev_index, m.entries, m.commit_only) == (idx, (), False)
    c.step(
        AppendResponse(PARTITION, 2, 1, c.term, False, idx, hint_index=idx - 1, hint_term=c.term)
    )
    (probe,) = appends(drain(c).messages, 2)
    assert probe.prev_index == idx - 1 and [e.data for e in probe.entries] == [b"last"]
    c.step(ack(2, c.term, idx))
    drain(c)
    assert c.commit == idx


def test_heartbeat_carries_min_of_commit_and_follower_match() -> None:
    c = make_leader()
    c.step(ack(2, c.term, c.log.last_index))
    c.propose(b"a")
    c.step(ack(2, c.term, c.log.last_index))
    drain(c)
    c.tick(1.0)
    hbs = {m.dst: m.commit for m in drain(c).messages if isinstance(m, Heartbeat)}
    assert hbs == {2: c.commit, 3: 0}


def test_rejected_append_in_replicate_falls_back_to_probe() -> None:
    c = make_leader()
    c.step(ack(2, c.term, c.log.last_index))
    c.propose(b"a")
    drain(c)
    c.propose(b"b")
    (m,) = appends(drain(c).messages, 2)
    assert m.prev_index == 2  # optimistic: "a" is still in flight
    stale = AppendResponse(PARTITION, 2, 1, c.term, False, 1, 0, 0)
    c.step(stale)  # a reject at or below match is stale
    assert c.progress[2].state is ProgressState.REPLICATE
    c.step(AppendResponse(PARTITION, 2, 1, c.term, False, m.prev_index, 1, 1))
    assert c.progress[2].state is ProgressState.PROBE and c.progress[2].next == 2
    (again,) = appends(drain(c).messages, 2)
    assert again.prev_index == 1 and [e.data for e in again.entries] == [b"a", b"b"]


# 24 --------------------------------------------------------------------------


def test_proposals_backpressured_while_uncommitted_tail_too_big() -> None:
    c = make_leader(max_uncommitted_bytes=1000)
    accepted = 0
    with pytest.raises(Backpressure):
        for _ in range(100):
            c.propose(b"p" * 100)
            accepted += 1
    assert 5 <= accepted < 10
    rd = drain(c)
    c.step(ack(2, c.term, c.log.last_index))
    assert c.commit == c.log.last_index and rd is not None
    c.propose(b"p" * 100)  # room again once the tail committed


def test_single_large_proposal_allowed_when_nothing_uncommitted() -> None:
    c = make_leader(voters=(1,), max_uncommitted_bytes=10)
    assert c.commit == c.log.last_index
    c.propose(b"q" * 100)
