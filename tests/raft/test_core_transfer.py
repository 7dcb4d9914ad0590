"""Leadership transfer (checklist item 22)."""

from __future__ import annotations

import pytest

from tests.raft.helpers import Network, make_leader
from trio_zeebe.raft import NotLeader, ProposalDropped, Role, TimeoutNow

ET = 2.5


def test_transfer_to_up_to_date_follower() -> None:
    net = Network(3)
    net.elect(1)
    net.propose()
    net.core(1).transfer_leadership(2)
    net.stabilize()
    assert net.leader() == 2 and net.core(2).term == 2
    assert net.core(1).role is Role.FOLLOWER and net.core(1).leader == 2


def test_transfer_bypasses_leader_lease_of_other_voters() -> None:
    net = Network(3)  # pre-vote + check-quorum: 3 heard from leader 1 a moment ago
    net.elect(1)
    net.core(1).transfer_leadership(3)
    net.stabilize()
    assert net.leader() == 3


def test_transfer_to_slow_follower_catches_it_up_first() -> None:
    net = Network(3)
    net.elect(1)
    net.isolate(3)
    for _ in range(5):
        net.propose()
    net.heal()
    timeouts: list[TimeoutNow] = []
    net.drop = lambda m: isinstance(m, TimeoutNow) and (timeouts.append(m) or True)
    net.core(1).transfer_leadership(3)
    net.advance(0.5)  # the appends to 3 were lost: the heartbeat exchange recovers the stream
    (t,) = timeouts
    assert net.core(3).log.last_index == net.core(1).log.last_index  # caught up, then told
    net.drop = lambda m: False
    net.core(3).step(t)
    net.stabilize()
    assert net.leader() == 3
    assert net.core(3).log.last_index == net.core(1).log.last_index


@pytest.mark.parametrize("target", [1, 9])
def test_transfer_to_self_or_non_member_is_a_no_op(target: int) -> None:
    c = make_leader()
    c.transfer_leadership(target)
    rd = c.ready()
    assert c.transferee is None and (rd is None or not rd.messages)
    c.propose(b"still leading")


def test_transfer_on_follower_raises_not_leader() -> None:
    net = Network(3)
    net.elect(1)
    with pytest.raises(NotLeader) as ei:
        net.core(2).transfer_leadership(3)
    assert ei.value.leader == 1


def test_proposals_dropped_while_transferring() -> None:
    net = Network(3)
    net.elect(1)
    net.crash(3)
    net.core(1).transfer_leadership(3)
    with pytest.raises(ProposalDropped):
        net.core(1).propose(b"x")


def test_transfer_aborts_after_election_timeout() -> None:
    net = Network(3)
    net.elect(1)
    net.crash(3)
    net.core(1).transfer_leadership(3)
    net.advance(ET + 0.25)
    assert net.core(1).role is Role.LEADER and net.core(1).transferee is None
    net.core(1).propose(b"x")


def test_repeated_transfer_to_same_node_is_a_no_op_and_new_target_replaces_old() -> None:
    net = Network(3)
    net.elect(1)
    net.crash(3)
    net.core(1).transfer_leadership(3)
    deadline = net.core(1).next_deadline()
    net.core(1).transfer_leadership(3)
    assert net.core(1).transferee == 3 and net.core(1).next_deadline() == deadline
    net.core(1).transfer_leadership(2)
    net.stabilize()
    assert net.leader() == 2


def test_transfer_back_and_forth() -> None:
    net = Network(3)
    net.elect(1)
    for target in (2, 1, 3, 2):
        net.core(net.leader()).transfer_leadership(target)
        net.stabilize()
        assert net.leader() == target
        net.propose()
    assert len({tuple(net.log_terms(i)) for i in net.ids}) == 1
