"""Commit-only appends: followers learn a new commit index without answering it."""

from __future__ import annotations

from trio_zeebe.raft import AppendEntries, AppendResponse

from .helpers import PARTITION, Network, drain, make_core


def watched_cluster() -> tuple[Network, list[object]]:
    """Three nodes, a settled leader 1, and every message sent from now on."""
    net = Network(3)
    net.elect(1)
    net.advance(1.0)
    seen: list[object] = []
    net.drop = lambda m: seen.append(m) or False
    return net, seen


def test_idle_followers_learn_commit_without_answering() -> None:
    net, seen = watched_cluster()
    net.propose(b"a")
    idx = net.core(1).log.last_index
    assert net.core(1).commit == idx
    # Not at once: a message with more news may carry it within commit_notice_delay.
    assert net.core(2).commit < idx and net.core(3).commit < idx
    net.advance(net.core(1).config.commit_notice_delay)
    assert all(net.core(i).commit == idx for i in net.ids)
    notices = [m for m in seen if isinstance(m, AppendEntries) and m.commit_only]
    assert sorted(m.dst for m in notices) == [2, 3]
    acks = [m for m in seen if isinstance(m, AppendResponse)]
    assert len(acks) == 2  # one per follower for the entry, none for the commit notices


def test_an_append_that_carries_the_commit_saves_the_notice() -> None:
    net, seen = watched_cluster()
    net.propose(b"a")
    first = net.core(1).log.last_index
    net.propose(b"b")  # replicated before the notice is due: it tells the followers
    net.advance(net.core(1).config.commit_notice_delay)
    assert all(net.core(i).commit >= first for i in net.ids)
    notices = [m for m in seen if isinstance(m, AppendEntries) and m.commit_only]
    assert all(m.commit > first for m in notices)  # only the last commit needs one


def test_commit_notices_at_once_when_configured_so() -> None:
    net = Network(3, commit_notice_delay=0.0)
    net.elect(1)
    net.propose(b"a")
    idx = net.core(1).log.last_index
    assert all(net.core(i).commit == idx for i in net.ids)


def test_commit_only_append_that_does_not_match_is_still_rejected() -> None:
    f = make_core(2, term=1, log=[1])
    drain(f)
    f.step(AppendEntries(PARTITION, 1, 2, 1, 3, 1, 3, commit_only=True))
    rd = drain(f)
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, AppendResponse) and not resp.success
    assert f.commit == 0
