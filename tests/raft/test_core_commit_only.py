"""Commit-only appends: followers learn a new commit index without answering it."""

from __future__ import annotations

from trio_zeebe.raft import AppendEntries, AppendResponse

from .helpers import PARTITION, Network, drain, make_core


def test_idle_followers_learn_commit_without_answering() -> None:
    net = Network(3)
    net.elect(1)
    seen: list[object] = []
    net.drop = lambda m: seen.append(m) or False
    net.propose(b"a")
    idx = net.core(1).log.last_index
    assert all(net.core(i).commit == idx for i in net.ids)
    notices = [m for m in seen if isinstance(m, AppendEntries) and m.commit_only]
    assert {m.dst for m in notices} == {2, 3}
    acks = [m for m in seen if isinstance(m, AppendResponse)]
    assert len(acks) == 2  # one per follower for the entry, none for the commit notices


def test_commit_only_append_that_does_not_match_is_still_rejected() -> None:
    f = make_core(2, term=1, log=[1])
    drain(f)
    f.step(AppendEntries(PARTITION, 1, 2, 1, 3, 1, 3, commit_only=True))
    rd = drain(f)
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, AppendResponse) and not resp.success
    assert f.commit == 0
