"""Whole clusters of SWIM cores in the deterministic simulator (virtual time, seeded faults)."""

from __future__ import annotations

import pytest

from trio_zeebe.membership import MemberAdded, MemberRemoved, MemberSuspect, SwimConfig
from trio_zeebe.testing.swim_sim import SwimSim

CFG = SwimConfig()


@pytest.mark.parametrize(("n", "seed"), [(5, 1), (20, 2), (50, 3)])
def test_cluster_converges_after_join_through_a_single_contact(n: int, seed: int) -> None:
    sim = SwimSim(n, seed=seed, wire=n <= 5)
    sim.join_all(contact=0)
    took = sim.run_until_converged(limit=30.0)
    assert took is not None, f"seed {seed}: no convergence"
    assert took <= 15.0
    removed = [e for _, _, e in sim.events if isinstance(e, MemberRemoved)]
    assert removed == []


@pytest.mark.parametrize(("n", "seed"), [(5, 4), (30, 5)])
def test_crashed_member_is_declared_dead_by_everyone_in_time(n: int, seed: int) -> None:
    sim = SwimSim(n, seed=seed)
    sim.join_all(contact=0)
    assert sim.run_until_converged(limit=30.0) is not None
    crashed_at = sim.now
    sim.crash(3)
    bound = CFG.failure_timeout + 3 * CFG.probe_interval
    sim.run_for(bound)
    survivors = sim.up_nodes()
    for i in survivors:
        assert 3 not in sim.nodes[i].core.members(include_dead=False), f"seed {seed}, node {i}"
    removals = [(t, i, e) for t, i, e in sim.events if isinstance(e, MemberRemoved)]
    assert {i for _, i, _ in removals} == set(survivors)
    assert all(e.member.node_id == 3 and t - crashed_at <= bound for t, _, e in removals)


def test_partition_and_heal_converge_on_both_sides() -> None:
    sim = SwimSim(10, seed=6)
    sim.join_all(contact=0)
    assert sim.run_until_converged(limit=30.0) is not None
    left, right = range(5), range(5, 10)
    sim.partition(left, right)
    sim.run_for(CFG.failure_timeout + 5.0)
    assert sim.converged(left) and sim.converged(right)
    sim.heal()
    took = sim.run_until_converged(limit=90.0)
    assert took is not None


def test_no_member_is_declared_dead_at_ten_percent_loss() -> None:
    sim = SwimSim(20, seed=7, loss=0.10)
    sim.join_all(contact=0)
    sim.run_for(120.0)
    assert [e for _, _, e in sim.events if isinstance(e, MemberRemoved)] == []
    assert sim.converged()


def test_restart_before_declared_dead_is_seen_as_a_new_instance() -> None:
    sim = SwimSim(8, seed=8)
    sim.join_all(contact=0)
    assert sim.run_until_converged(limit=30.0) is not None
    old = sim.nodes[3].core.local
    sim.crash(3)
    sim.run_for(1.5)
    sim.restart(3, contacts=[0])
    new = sim.nodes[3].core.local
    assert new.incarnation > old.incarnation and new.instance_id != old.instance_id
    restarted_at = sim.now
    assert sim.run_until_converged(limit=30.0) is not None
    sim.run_for(CFG.failure_timeout + 5.0)  # the old suspicion must not kill the new process
    assert sim.converged()
    others = [i for i in sim.up_nodes() if i != 3]
    for i in others:
        assert sim.nodes[i].core.members()[3].instance_id == new.instance_id
    # Every other member was told: the old process is gone, a new one is here.
    added = {
        i
        for t, i, e in sim.events
        if t >= restarted_at
        and isinstance(e, MemberAdded)
        and e.member.instance_id == new.instance_id
    }
    assert added >= set(others)


def test_properties_reach_every_member() -> None:
    sim = SwimSim(30, seed=9)
    sim.join_all(contact=0)
    assert sim.run_until_converged(limit=30.0) is not None
    sim.nodes[7].core.set_properties({"partition-1": "LEADER:3"})
    sim.run_for(5.0)
    for i in sim.up_nodes():
        assert sim.nodes[i].core.members()[7].properties == {"partition-1": "LEADER:3"}


def test_leave_is_seen_at_once() -> None:
    sim = SwimSim(10, seed=10)
    sim.join_all(contact=0)
    assert sim.run_until_converged(limit=30.0) is not None
    sim.leave(4)
    sim.run_for(1.0)
    assert sim.converged()


def test_same_seed_same_run() -> None:
    def run() -> list[tuple[float, int, str]]:
        sim = SwimSim(10, seed=11, loss=0.05)
        sim.join_all(contact=0)
        sim.run_for(20.0)
        sim.crash(2)
        sim.run_for(15.0)
        return [(t, i, repr(e)) for t, i, e in sim.events]

    assert run() == run()


def test_slow_member_backs_off_instead_of_accusing_everyone() -> None:
    def run(config: SwimConfig) -> tuple[int, int, int]:
        sim = SwimSim(10, seed=12, config=config)
        sim.join_all(contact=0)
        assert sim.run_until_converged(limit=30.0) is not None
        start = sim.now
        sim.set_slow(9, 1.5)  # node 9 handles its inbox 1.5 s late
        sim.run_for(60.0)
        window = [(i, e) for t, i, e in sim.events if t >= start]
        by_slow = sum(1 for i, e in window if i == 9 and isinstance(e, MemberSuspect))
        dead = len([e for _, e in window if isinstance(e, MemberRemoved)])
        return by_slow, dead, sim.nodes[9].core.awareness.score

    plain_accusations, plain_dead, _ = run(CFG.without_lifeguard())
    accusations, dead, score = run(CFG)
    assert plain_dead == dead == 0
    assert score > 0  # it noticed that it is the slow one
    assert accusations < plain_accusations
